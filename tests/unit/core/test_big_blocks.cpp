// Big blocks (baims/core/huge_pages.hpp): a freed block is kept and taken by the next big
// allocation (the part it needs), at most one is kept (the larger), and one too small is unmapped
// rather than kept; the contents of a block are the caller's. Under a sanitizer nothing is kept
// (plain operator new/delete).

#include "baims/core/huge_pages.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <vector>

using baims::big_block_allocate;
using baims::big_block_free;
using baims::big_block_kept;
using baims::big_block_release;
using baims::BigBlockAllocator;

namespace {

constexpr size_t MiB = size_t{1} << 20;

#if defined(__linux__) && !defined(BAIMS_SANITIZED_HEAP)
constexpr bool RECYCLED = true;
#else
constexpr bool RECYCLED = false;
#endif

} // namespace

TEST_CASE("big blocks: a freed block is taken by the next big allocation", "[big_blocks]") {
    big_block_release();
    void* a = big_block_allocate(40 * MiB + 5);
    std::memset(a, 7, 40 * MiB + 5);
    if (RECYCLED) {
        CHECK(reinterpret_cast<std::uintptr_t>(a) % (2 * MiB) == 0);
    }
    big_block_free(a, 40 * MiB + 5);
    CHECK(big_block_kept() == (RECYCLED ? 42 * MiB : 0));
    // smaller: the same block, its rest unmapped; its bytes are the caller's to write
    void* b = big_block_allocate(33 * MiB);
    CHECK(big_block_kept() == 0);
    if (RECYCLED) {
        CHECK(b == a);
    }
    std::memset(b, 1, 33 * MiB);
    big_block_free(b, 33 * MiB);
    CHECK(big_block_kept() == (RECYCLED ? 34 * MiB : 0));
    // larger than the one kept: a fresh block, and the one kept is not kept any more
    void* c = big_block_allocate(64 * MiB);
    CHECK(big_block_kept() == 0);
    std::memset(c, 2, 64 * MiB);
    big_block_free(c, 64 * MiB);
    big_block_release();
    CHECK(big_block_kept() == 0);
}

TEST_CASE("big blocks: at most one is kept, the larger", "[big_blocks]") {
    big_block_release();
    void* a = big_block_allocate(36 * MiB);
    void* b = big_block_allocate(50 * MiB);
    void* c = big_block_allocate(40 * MiB);
    CHECK(a != b);
    big_block_free(a, 36 * MiB);
    CHECK(big_block_kept() == (RECYCLED ? 36 * MiB : 0));
    big_block_free(b, 50 * MiB);
    CHECK(big_block_kept() == (RECYCLED ? 50 * MiB : 0));
    big_block_free(c, 40 * MiB);
    CHECK(big_block_kept() == (RECYCLED ? 50 * MiB : 0));
    void* d = big_block_allocate(45 * MiB);
    if (RECYCLED) {
        CHECK(d == b);
    }
    big_block_free(d, 45 * MiB);
    big_block_release();
}

TEST_CASE("big blocks: a vector of BigBlockAllocator reuses a freed one", "[big_blocks]") {
    big_block_release();
    using Vec = std::vector<float, BigBlockAllocator<float>>;
    const size_t n = 20'000'000; // 80 MB
    const float* first = nullptr;
    {
        std::vector<std::int32_t, baims::NoInitAllocator<std::int32_t>> lat(n);
        lat[n - 1] = 5;
        first = reinterpret_cast<const float*>(lat.data());
    }
    Vec slab(n); // value-initialised, whatever the block held before
    if (RECYCLED) {
        CHECK(slab.data() == first);
    }
    CHECK(slab[n - 1] == 0.0f);
    CHECK(slab[0] == 0.0f);
    Vec small(1000, 1.5f); // below BIG_BLOCK: std::allocator's
    CHECK(small[999] == 1.5f);
    slab = Vec();
    big_block_release();
    CHECK(big_block_kept() == 0);
}
