// Big blocks recycled within the process (baims/core/huge_pages.hpp).

#include "baims/core/huge_pages.hpp"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <mutex>
#include <new>
#include <unistd.h>
#include <utility>

#if defined(__linux__) && !defined(BAIMS_SANITIZED_HEAP)
#define BAIMS_BIG_BLOCKS 1
#else
#define BAIMS_BIG_BLOCKS 0
#endif

namespace baims {

void keep_freed_blocks_in_heap() noexcept {
#if defined(__GLIBC__)
    ::mallopt(M_MMAP_THRESHOLD, static_cast<int>(BIG_BLOCK));
    ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

#if BAIMS_BIG_BLOCKS && defined(__GLIBC__) && defined(MADV_HUGEPAGE)
namespace {
// The filler of prefer_huge_pages_for_main_heap (volatile: a block that is never used would
// otherwise be left out by the compiler, malloc and all).
void* volatile g_main_heap_filler = nullptr;
} // namespace

void prefer_huge_pages_for_main_heap() noexcept {
    static std::atomic<bool> done{false};
    if (done.exchange(true)) {
        return; // once per process (a second run of a command in one process, e.g. the tests)
    }
    constexpr std::uintptr_t HUGE = std::uintptr_t{1} << 21;
    // A block of two huge pages comes from the top of the heap, which grows to hold it (below the
    // mmap threshold of keep_freed_blocks_in_heap); once freed, it is the top again.
    void* probe = std::malloc(2 * HUGE);
    if (!probe) {
        return;
    }
    const auto a = reinterpret_cast<std::uintptr_t>(probe);
    std::free(probe);
    const std::uintptr_t boundary = (a + HUGE - 1) & ~(HUGE - 1);
    const auto brk_end = reinterpret_cast<std::uintptr_t>(::sbrk(0));
    const std::uintptr_t end = brk_end & ~(HUGE - 1);
    // (a block above the brk heap's end is from another arena: a thread's, or mmap)
    if (a + 2 * HUGE > brk_end || end < boundary + HUGE ||
        ::madvise(reinterpret_cast<void*>(boundary), end - boundary, MADV_HUGEPAGE) != 0) {
        return; // not the brk heap's top, or no huge pages to ask for
    }
    // glibc's chunk of a block at `a` starts 16 bytes before it and holds 8 bytes more than
    // asked: this filler's chunk ends right at the boundary, where the top (the next blocks)
    // starts. Never touched (malloc writes only the chunk headers) and never freed.
    if (boundary > a) {
        g_main_heap_filler = std::malloc(boundary - a + 8);
    }
}
#else
void prefer_huge_pages_for_main_heap() noexcept {}
#endif

#if BAIMS_BIG_BLOCKS
namespace {

constexpr size_t HUGE_PAGE = size_t{1} << 21;

size_t mapped_length(size_t bytes) {
    return (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
}

std::mutex g_mutex;
void* g_kept = nullptr; // the freed block kept, g_kept_length bytes mapped
size_t g_kept_length = 0;

} // namespace

void* huge_mapping_allocate(size_t bytes, size_t& mapped) {
    const size_t len = mapped_length(bytes);
    void* p = ::mmap(nullptr, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (p == MAP_FAILED) {
        throw std::bad_alloc();
    }
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t b = (a + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    if (b > a) {
        ::munmap(p, b - a);
    }
    if (a + len + HUGE_PAGE > b + len) {
        ::munmap(reinterpret_cast<void*>(b + len), a + len + HUGE_PAGE - (b + len));
    }
#ifdef MADV_HUGEPAGE
    ::madvise(reinterpret_cast<void*>(b), len, MADV_HUGEPAGE); // a hint: errors ignored
#endif
    mapped = len;
    return reinterpret_cast<void*>(b);
}

void huge_mapping_free(void* p, size_t mapped) noexcept {
    if (p) {
        ::munmap(p, mapped);
    }
}

void* big_block_allocate(size_t bytes) {
    const size_t len = mapped_length(bytes);
    void* kept = nullptr;
    size_t kept_length = 0;
    {
        std::lock_guard lock(g_mutex);
        std::swap(kept, g_kept);
        std::swap(kept_length, g_kept_length);
    }
    if (kept) {
        if (kept_length >= len) {
            if (kept_length > len) {
                ::munmap(static_cast<unsigned char*>(kept) + len, kept_length - len);
            }
            return kept;
        }
        ::munmap(kept, kept_length); // too small: not kept for later
    }
    size_t mapped = 0; // == len (whole 2 MiB pages already)
    return huge_mapping_allocate(len, mapped);
}

void big_block_free(void* p, size_t bytes) noexcept {
    size_t len = mapped_length(bytes);
    {
        std::lock_guard lock(g_mutex);
        if (!g_kept || g_kept_length < len) {
            std::swap(p, g_kept);
            std::swap(len, g_kept_length);
        }
    }
    if (p) {
        ::munmap(p, len);
    }
}

size_t big_block_kept() noexcept {
    std::lock_guard lock(g_mutex);
    return g_kept_length;
}

void big_block_release() noexcept {
    void* p = nullptr;
    size_t len = 0;
    {
        std::lock_guard lock(g_mutex);
        std::swap(p, g_kept);
        std::swap(len, g_kept_length);
    }
    if (p) {
        ::munmap(p, len);
    }
}

#else

void* huge_mapping_allocate(size_t bytes, size_t& mapped) {
    mapped = bytes;
    return ::operator new(bytes);
}

void huge_mapping_free(void* p, size_t mapped) noexcept {
    ::operator delete(p, mapped);
}

void* big_block_allocate(size_t bytes) {
    return ::operator new(bytes);
}

void big_block_free(void* p, size_t bytes) noexcept {
    ::operator delete(p, bytes);
}

size_t big_block_kept() noexcept {
    return 0;
}

void big_block_release() noexcept {}

#endif

} // namespace baims
