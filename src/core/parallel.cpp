#include "baims/core/parallel.hpp"

#include "baims/core/huge_pages.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace baims {
namespace {

std::atomic<ThreadPool*> g_current{nullptr};
thread_local const ThreadPool* t_worker_of = nullptr; // the pool whose worker this thread is

#if BAIMS_THREAD_HEAP_HUGE_PAGES
std::mutex g_advised_mutex;
std::vector<std::pair<std::uintptr_t, std::uintptr_t>> g_advised; // heaps already asked for THP
std::vector<void*> g_fillers; // per advised heap: the block that fills its first 2 MiB

// Reads the whole of /proc/self/maps into buf; false if it cannot.
bool read_maps(std::string& buf) {
    int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    char block[16384];
    ssize_t n = 0;
    while ((n = ::read(fd, block, sizeof block)) > 0) {
        buf.append(block, static_cast<size_t>(n));
    }
    ::close(fd);
    return n == 0;
}

// Asks for transparent huge pages on the anonymous mapping that holds this thread's malloc heap
// (glibc gives each thread that allocates an arena of its own, reserved as one anonymous mapping
// that grows by mprotect), together with the reserved rest of it right behind. The chunk-sized
// buffers of the tasks (decoded and encoded chunks, bands, rows) live there; on this machine a
// first touch of a 4 KiB page costs ~10-40 us, so 2 MiB pages cut that kernel time ~10x. The
// kernel only gives huge pages where asked (THP "madvise" mode); nothing changes where it cannot.
// The main thread's heap (brk, shared with the executable's neighbourhood) is left alone.
// True where the kernel counts every read-write private page against a commit limit
// (vm.overcommit_memory = 2): there, making a whole 64 MiB heap usable at once would charge
// 64 MiB per worker whether touched or not, so the heap is left as glibc made it.
bool strict_overcommit() {
    int fd = ::open("/proc/sys/vm/overcommit_memory", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    char c = 0;
    const ssize_t n = ::read(fd, &c, 1);
    ::close(fd);
    return n == 1 && c == '2';
}

void prefer_huge_pages_for_thread_heap() {
    static const bool strict = strict_overcommit();
    if (strict) {
        return;
    }
    std::string maps;
    maps.reserve(65536); // a heap block of this thread: the mapping to find
    const auto p = reinterpret_cast<std::uintptr_t>(maps.data());
    {
        std::lock_guard lock(g_advised_mutex);
        for (const auto& [lo, hi] : g_advised) {
            if (p >= lo && p < hi) {
                return; // an arena a thread before this one used (arenas are reused)
            }
        }
    }
    if (!read_maps(maps)) {
        return;
    }
    std::uintptr_t begin = 0;
    std::uintptr_t end = 0;
    size_t pos = 0;
    while (pos < maps.size()) {
        size_t eol = maps.find('\n', pos);
        if (eol == std::string::npos) {
            eol = maps.size();
        }
        const std::string line = maps.substr(pos, eol - pos);
        pos = eol + 1;
        // "start-end perms offset dev inode [path]": anonymous mappings have inode 0, no path.
        char* rest = nullptr;
        const auto lo = static_cast<std::uintptr_t>(std::strtoull(line.c_str(), &rest, 16));
        const auto hi = static_cast<std::uintptr_t>(std::strtoull(rest + 1, &rest, 16));
        char perms[8] = {};
        unsigned long long offset = 0;
        unsigned long long inode = 0;
        char dev[16] = {};
        int used = 0;
        if (std::sscanf(rest, " %7s %llx %15s %llu%n", perms, &offset, dev, &inode, &used) != 4) {
            return;
        }
        const bool anonymous =
            inode == 0 &&
            line.find_first_not_of(' ', static_cast<size_t>(rest - line.c_str() + used)) ==
                std::string::npos;
        if (begin == 0) {
            if (p >= lo && p < hi) {
                if (!anonymous || perms[0] != 'r' || perms[1] != 'w') {
                    return;
                }
                begin = lo;
                end = hi;
            }
        } else {
            if (lo == end && anonymous && std::string_view(perms) == "---p") {
                end = hi; // the reserved, not yet usable rest of the same heap
            }
            break;
        }
    }
    // A glibc arena heap is one 64 MiB reservation aligned to its size (HEAP_MAX_SIZE on 64-bit);
    // anything else (another allocator, a sanitizer's) is left alone.
    constexpr std::uintptr_t HEAP_SIZE = std::uintptr_t{64} << 20;
    if (begin == 0 || begin % HEAP_SIZE != 0 || end - begin != HEAP_SIZE) {
        return;
    }
    // Huge pages only fit where a whole aligned 2 MiB lies inside the mapping, but glibc makes
    // the heap usable a few pages at a time (mprotect) as it grows, so that the pages last
    // touched, near its end, would never be huge. Make the whole reservation usable now: glibc
    // only ever changes it to read-write itself and still trims the heap (MADV_DONTNEED), so
    // memory stays bounded; only touched pages count.
    const bool advised = ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE) == 0;
    if (advised) {
        ::mprotect(reinterpret_cast<void*>(begin), end - begin, PROT_READ | PROT_WRITE);
    }
    // The heap's first 2 MiB already has 4 KiB pages (the heap's header, this thread's first small
    // blocks, `maps`), so no huge page can come there: the first big buffers a worker allocated
    // (e.g. the 4 MB level-1 row of `tiles`) took ~500 4 KiB faults in it, ~1000 of the 1030 of
    // an --update's data phase, at ~11 us each on this project's VMs (the huge pages of the rest:
    // ~0.1 ms per MB). One block fills the rest of the first 2 MiB instead, behind the small
    // blocks (which end about where `maps` does) and never touched, so no page of it is faulted
    // in; the buffers then start on the second 2 MiB. It stays with the arena (a later thread
    // that reuses the arena returns above), reachable from g_fillers. (Where the mmap threshold
    // is below its size, glibc's default 128 KiB, malloc maps it apart instead: untouched address
    // space, no effect; `tiles` and `gen` raise it before their pools start:
    // keep_freed_blocks_in_heap.)
    constexpr std::uintptr_t HUGE_PAGE = std::uintptr_t{1} << 21;
    const std::uintptr_t top = p + maps.capacity() + (std::uintptr_t{16} << 10);
    void* filler =
        advised && top < begin + HUGE_PAGE ? std::malloc(begin + HUGE_PAGE - top) : nullptr;
    std::lock_guard lock(g_advised_mutex);
    g_advised.emplace_back(begin, end);
    if (filler) {
        g_fillers.push_back(filler);
    }
}

// Fills this thread's malloc cache (glibc's tcache: up to 7 free chunks per small size, which
// stay "in use" for the heap) for the smallest sizes. Blosc takes its scratch block of each
// (de)compression with posix_memalign, which asks for 64 bytes more than it keeps and frees the
// lead and tail pieces; while the cache for their sizes has room, those pieces stay in it on
// either side of the scratch block once it is freed, so that the next call's larger request does
// not fit there and takes fresh memory above: a worker's heap crept up by ~1 MB per call for its
// first ~7 calls (an --update of one day: 6-8 MB more memory touched, 3 of its 10 huge pages).
// With the cache full, the pieces go to the heap's free lists and merge back with the block.
void fill_small_block_cache() {
    // glibc's tcache_count per size; chunks of 32, 48, ... 144 bytes
    constexpr size_t PER_SIZE = 7, SIZES = 8;
    void* blocks[PER_SIZE * SIZES] = {};
    for (size_t i = 0; i < SIZES; ++i) {
        for (size_t j = 0; j < PER_SIZE; ++j) {
            blocks[i * PER_SIZE + j] = std::malloc(16 * i + 24);
        }
    }
    for (void* b : blocks) {
        std::free(b);
    }
}
#else
void prefer_huge_pages_for_thread_heap() {}
void fill_small_block_cache() {}
#endif

void run_inline(size_t n, const ParallelTask& fn) {
    for (size_t i = 0; i < n; ++i) {
        fn(i, 0);
    }
}

} // namespace

struct ThreadPool::Job {
    size_t n = 0;
    const ParallelTask* fn = nullptr;
    size_t next = 0;                // next task to hand out
    size_t active = 0;              // tasks running
    std::vector<size_t> free_slots; // slots not in use by a running task
    bool failed = false;
    bool caller_runs = false; // a worker's nested call: its caller takes tasks too
    std::exception_ptr error;
};

ThreadPool::ThreadPool(int threads) {
    if (threads <= 1) {
        return;
    }
    m_workers.reserve(static_cast<size_t>(threads));
    for (int t = 0; t < threads; ++t) {
        m_workers.emplace_back([this] { work(); });
    }
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
    for (auto& t : m_workers) {
        t.join();
    }
}

bool ThreadPool::exhausted(const Job& job) const {
    return job.failed || job.next >= job.n;
}

void ThreadPool::work() {
    t_worker_of = this;
    prefer_huge_pages_for_thread_heap();
    fill_small_block_cache();
    std::unique_lock lock(m_mutex);
    for (;;) {
        // The job with tasks and a free slot that has the fewest tasks running: calls made at the
        // same time share the workers instead of the later one waiting for the earlier one.
        Job* job = nullptr;
        m_wake.wait(lock, [&] {
            job = nullptr;
            for (auto* j : m_jobs) {
                if (!exhausted(*j) && !j->free_slots.empty() && (!job || j->active < job->active)) {
                    job = j;
                }
            }
            return job || m_stop;
        });
        if (!job) {
            return; // stopping, nothing left to do
        }
        run_task(*job, lock);
    }
}

void ThreadPool::run_task(Job& job, std::unique_lock<std::mutex>& lock) {
    const size_t i = job.next++;
    const size_t slot = job.free_slots.back();
    job.free_slots.pop_back();
    ++job.active;
    if (exhausted(job)) {
        m_jobs.erase(std::find(m_jobs.begin(), m_jobs.end(), &job));
    }
    lock.unlock();
    std::exception_ptr error;
    try {
        (*job.fn)(i, slot);
    } catch (...) {
        error = std::current_exception();
    }
    lock.lock();
    job.free_slots.push_back(slot);
    --job.active;
    if (error && !job.failed) {
        job.failed = true;
        job.error = error;
        if (auto it = std::find(m_jobs.begin(), m_jobs.end(), &job); it != m_jobs.end()) {
            m_jobs.erase(it);
        }
    }
    if (exhausted(job)) {
        if (job.active == 0) {
            m_done.notify_all();
        }
    } else {
        m_wake.notify_one(); // the freed slot can take the job's next task
        if (job.caller_runs) {
            m_done.notify_all(); // or the nested call's caller
        }
    }
}

void ThreadPool::run(size_t n, int threads, const ParallelTask& fn) {
    const size_t slots = std::min({static_cast<size_t>(std::max(threads, 1)), size(), n});
    if (slots <= 1) {
        run_inline(n, fn);
        return;
    }
    Job job;
    job.n = n;
    job.fn = &fn;
    job.caller_runs = t_worker_of == this;
    for (size_t s = slots; s-- > 0;) {
        job.free_slots.push_back(s);
    }
    std::unique_lock lock(m_mutex);
    m_jobs.push_back(&job);
    m_wake.notify_all();
    if (job.caller_runs) {
        // A worker's nested call: the worker runs the job's tasks itself (it cannot wait for the
        // others, which may all be busy), and workers that are idle take some of them.
        for (;;) {
            m_done.wait(lock, [&] {
                return (exhausted(job) && job.active == 0) ||
                       (!exhausted(job) && !job.free_slots.empty());
            });
            if (exhausted(job)) {
                break;
            }
            run_task(job, lock);
        }
    }
    m_done.wait(lock, [&] { return exhausted(job) && job.active == 0; });
    lock.unlock();
    if (job.error) {
        std::rethrow_exception(job.error);
    }
}

ThreadPool* ThreadPool::current() {
    return g_current.load();
}

ThreadPool::Scope::Scope(ThreadPool& pool)
    : m_previous(g_current.exchange(&pool)) {}

ThreadPool::Scope::~Scope() {
    g_current.store(m_previous);
}

void parallel_for(size_t n, int threads, const ParallelTask& fn) {
    if (threads <= 1 || n <= 1) {
        run_inline(n, fn);
        return;
    }
    if (auto* pool = ThreadPool::current()) {
        pool->run(n, threads, fn);
        return;
    }
    ThreadPool local(static_cast<int>(std::min<size_t>(static_cast<size_t>(threads), n)));
    local.run(n, threads, fn);
}

} // namespace baims
