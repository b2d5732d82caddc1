#pragma once
// Large buffers on transparent huge pages.
//
// A fresh buffer of hundreds of MB is paid for mostly in page faults (one per 4 KiB page when it
// is first written; expensive in virtual machines). Where the kernel offers transparent huge pages
// on request (/sys/kernel/mm/transparent_hugepage/enabled = madvise), reserve_huge() asks for
// them for a vector's storage before anything is written to it: one fault per 2 MiB instead.
// Nothing changes but the speed; elsewhere it is a plain reserve().

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <sys/mman.h>
#include <utility>
#include <vector>

// BAIMS_THREAD_HEAP_HUGE_PAGES: 1 where the thread pool asks for huge pages on its workers' malloc
// heaps (src/core/parallel.cpp): glibc's 64-bit arena heaps on Linux, not a sanitizer's allocator.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define BAIMS_SANITIZED_HEAP 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BAIMS_SANITIZED_HEAP 1
#endif
#if defined(__linux__) && defined(__GLIBC__) && defined(__LP64__) && !defined(BAIMS_SANITIZED_HEAP)
#define BAIMS_THREAD_HEAP_HUGE_PAGES 1
#else
#define BAIMS_THREAD_HEAP_HUGE_PAGES 0
#endif

namespace baims {

// v.reserve(n), and the whole 2 MiB pages inside the new storage advised MADV_HUGEPAGE (only
// when v had less capacity: storage already written to is left alone).
template <typename T, typename A> void reserve_huge(std::vector<T, A>& v, size_t n) {
    if (v.capacity() >= n) {
        return;
    }
    v.reserve(n);
#ifdef MADV_HUGEPAGE
    constexpr std::uintptr_t HUGE = std::uintptr_t{1} << 21;
    const auto begin = reinterpret_cast<std::uintptr_t>(v.data());
    const std::uintptr_t end = begin + n * sizeof(T);
    const std::uintptr_t a = (begin + HUGE - 1) & ~(HUGE - 1), b = end & ~(HUGE - 1);
    if (b > a) {
        ::madvise(reinterpret_cast<void*>(a), b - a, MADV_HUGEPAGE); // a hint: errors ignored
    }
#endif
}

// reserve_huge(v, n), then each fresh 4 KiB page of the new storage first touched (one zero
// byte written) by the tasks of for_each(count, task), in parallel, instead of by the one thread
// whose resize() or assign() fills v next: on this kind of machine the kernel's fault and clear
// of a fresh page cost far more than writing it. Only when v had less capacity; the caller then
// sizes and fills v as before. (The bytes are written into storage the allocator returned and no
// element lives in yet; v's elements are constructed over them afterwards.)
template <typename T, typename A, typename ForEach>
void reserve_touched(std::vector<T, A>& v, size_t n, const ForEach& for_each) {
    if (v.capacity() >= n) {
        return;
    }
    reserve_huge(v, n);
    auto* base = reinterpret_cast<unsigned char*>(v.data()) + v.size() * sizeof(T);
    const size_t bytes = (n - v.size()) * sizeof(T);
    constexpr size_t BLOCK = size_t{1} << 21, PAGE = 4096;
    for_each((bytes + BLOCK - 1) / BLOCK, [base, bytes](size_t b) {
        for (size_t off = b * BLOCK; off < bytes && off < (b + 1) * BLOCK; off += PAGE) {
            base[off] = 0;
        }
    });
}

// reserve_huge(v, n), and the pages of the new storage made present at once (MADV_POPULATE_WRITE,
// Linux 5.14): one system call instead of a page fault per 4 KiB page at the first write, about
// a third less CPU for a buffer of tens of MB in this VM (0.57 -> 0.37 s for 137 MB). For
// buffers written in full right after. Only when v had less capacity; nothing changes but the
// speed (an older kernel refuses the advice: the pages fault in as before).
template <typename T, typename A> void reserve_populated(std::vector<T, A>& v, size_t n) {
    if (v.capacity() >= n) {
        return;
    }
    reserve_huge(v, n);
#ifdef MADV_POPULATE_WRITE
    constexpr std::uintptr_t PAGE = 4096;
    const auto begin = reinterpret_cast<std::uintptr_t>(v.data());
    const std::uintptr_t end = begin + n * sizeof(T);
    const std::uintptr_t a = (begin + PAGE - 1) & ~(PAGE - 1), b = end & ~(PAGE - 1);
    if (b > a) {
        ::madvise(reinterpret_cast<void*>(a), b - a, MADV_POPULATE_WRITE); // errors ignored
    }
#endif
}

// reserve_populated for several vectors at once (each reserved to n elements), their pages made
// present by the tasks of for_each(count, task) in parallel (MADV_POPULATE_WRITE of 4 MiB pieces
// each): the kernel's clearing of the fresh pages, most of the cost of a map of 150 MB, then runs
// on all threads instead of on the one that reserves. Only the vectors with less capacity.
template <typename ForEach, typename... V>
void reserve_populated(const ForEach& for_each, size_t n, V&... vs) {
    struct Range {
        std::uintptr_t a, b;
    };
    std::vector<Range> pieces;
    constexpr std::uintptr_t PAGE = 4096, PIECE = std::uintptr_t{4} << 20;
    const auto add = [&](auto& v) {
        if (v.capacity() >= n) {
            return;
        }
        reserve_huge(v, n);
        const auto begin = reinterpret_cast<std::uintptr_t>(v.data());
        const std::uintptr_t end = begin + n * sizeof(*v.data());
        const std::uintptr_t a = (begin + PAGE - 1) & ~(PAGE - 1), b = end & ~(PAGE - 1);
        for (std::uintptr_t p = a; p < b; p += PIECE) {
            pieces.push_back({p, std::min(b, p + PIECE)});
        }
    };
    (add(vs), ...);
#ifdef MADV_POPULATE_WRITE
    for_each(pieces.size(), [&pieces](size_t i) {
        ::madvise(reinterpret_cast<void*>(pieces[i].a), pieces[i].b - pieces[i].a,
                  MADV_POPULATE_WRITE); // errors ignored
    });
#endif
}

// Big blocks (BIG_BLOCK bytes and more) recycled within the process. glibc serves such sizes by
// mmap and returns them by munmap, so that every big buffer is fresh memory the kernel must clear
// and fault in again, even right after one of the same size was freed (a swath's lat/lon freed
// once its map is built, then its 80 MB slab read). Here a freed big block is kept, and the next
// big allocation takes it: the part it needs, its pages already present (on huge pages: blocks
// are 2 MiB-aligned and advised MADV_HUGEPAGE); the rest is unmapped. Memory is bounded: at most
// one freed block is kept (the larger of two), only until the next big allocation, which takes
// it or unmaps it when it is too small. Under a sanitizer (its allocator checks the accesses)
// and outside Linux these are plain operator new/delete.
inline constexpr size_t BIG_BLOCK = size_t{32} << 20;
// A block of at least `bytes` bytes (>= BIG_BLOCK); throws std::bad_alloc.
void* big_block_allocate(size_t bytes);
// Gives back block p of big_block_allocate(bytes) (the same bytes).
void big_block_free(void* p, size_t bytes) noexcept;
// The bytes of the freed block kept (0: none, or not recycled here); for tests.
size_t big_block_kept() noexcept;
// Unmaps the freed block kept, if any.
void big_block_release() noexcept;

// Fixed malloc thresholds for a run that allocates and frees chunk-sized blocks (glibc): blocks
// below BIG_BLOCK come from the heap (not mmap), and the heap is not trimmed below 256 MiB of free
// space, so freed blocks (Blosc's and the readers' scratch, HDF5's metadata cache of each open,
// the store's file buffers) are taken again instead of going back to the kernel and being faulted
// in again (~11-13 us per 4 KiB page on this project's VMs). Memory stays bounded by the run's
// peak; blocks of BIG_BLOCK and more are big blocks. Call it before the run's thread pool starts
// (parallel.cpp's heap filler relies on it). Elsewhere a no-op.
void keep_freed_blocks_in_heap() noexcept;

// Transparent huge pages for what the calling (main) thread allocates from now on (glibc's brk
// heap; the pool's workers have theirs: parallel.cpp). glibc grows the brk heap ~132 KiB at a
// time, so its pages are 4 KiB ones, each first touch a fault (~11-13 us on this project's VMs;
// a `tiles --update` touched ~130 of them on the main thread, in series: the cube's metadata and
// coordinates, the staging). Here the heap is grown at once past the next two 2 MiB boundaries,
// that range is advised MADV_HUGEPAGE, and a block that is never touched fills the heap from its
// top to the first boundary, so that the next blocks land on the huge page. Call it from the
// main thread after keep_freed_blocks_in_heap() (blocks below BIG_BLOCK from the heap); it acts
// once per process. Costs address space (the filler is never touched) and up to ~1.5 MB more
// resident memory (a whole 2 MiB page). Under a sanitizer, outside glibc/Linux, and where the
// probe block is not in the brk heap (another thread's arena): a no-op.
void prefer_huge_pages_for_main_heap() noexcept;

// A fresh mapping of at least `bytes` bytes at a 2 MiB boundary, advised for huge pages, none of
// its pages present yet; `mapped` = the bytes mapped (a multiple of 2 MiB), to give back with
// huge_mapping_free(p, mapped). Throws std::bad_alloc. Under a sanitizer and outside Linux: plain
// operator new (mapped = bytes). For scratch space a thread keeps (big_block_allocate recycles).
void* huge_mapping_allocate(size_t bytes, size_t& mapped);
void huge_mapping_free(void* p, size_t mapped) noexcept;

// An allocator whose blocks of BIG_BLOCK bytes and more are big blocks (big_block_allocate), the
// others std::allocator's: for the big buffers of a run that are freed and allocated again.
template <typename T> struct BigBlockAllocator {
    using value_type = T;
    BigBlockAllocator() = default;
    template <typename U> BigBlockAllocator(const BigBlockAllocator<U>&) noexcept {}
    T* allocate(size_t n) {
        if (n > static_cast<size_t>(-1) / sizeof(T)) {
            throw std::bad_array_new_length();
        }
        if (n * sizeof(T) >= BIG_BLOCK) {
            return static_cast<T*>(big_block_allocate(n * sizeof(T)));
        }
        return std::allocator<T>{}.allocate(n);
    }
    void deallocate(T* p, size_t n) noexcept {
        if (n * sizeof(T) >= BIG_BLOCK) {
            big_block_free(p, n * sizeof(T));
        } else {
            std::allocator<T>{}.deallocate(p, n);
        }
    }
    friend bool operator==(const BigBlockAllocator&, const BigBlockAllocator&) noexcept {
        return true;
    }
};

// A BigBlockAllocator whose resize() leaves new elements of a trivial type uninitialised (value-
// initialisation only when asked, e.g. resize(n, value)): for big buffers that are written in
// full right after, so that their fresh pages are first touched by the threads that fill them,
// not by a zero-fill before.
template <typename T> struct NoInitAllocator : BigBlockAllocator<T> {
    using value_type = T;
    template <typename U> struct rebind { using other = NoInitAllocator<U>; };
    NoInitAllocator() = default;
    template <typename U> NoInitAllocator(const NoInitAllocator<U>&) noexcept {}
    template <typename U> void construct(U* p) noexcept { ::new (static_cast<void*>(p)) U; }
    template <typename U, typename... A> void construct(U* p, A&&... a) {
        ::new (static_cast<void*>(p)) U(std::forward<A>(a)...);
    }
};

} // namespace baims
