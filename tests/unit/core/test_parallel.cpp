// parallel_for on a run's thread pool: every index once, slots below the thread count, the first
// exception rethrown, and no more than N distinct threads over many calls, also when two threads
// call at the same time (gen reads the next slice while it computes the current one).

#include "baims/core/huge_pages.hpp"
#include "baims/core/parallel.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

using baims::parallel_for;
using baims::ThreadPool;

namespace {

// The kernel's thread id: unlike std::thread::id (glibc reuses the pthread_t of a joined thread),
// a thread started later gets another one.
long kernel_tid() {
    return static_cast<long>(::syscall(SYS_gettid));
}

class Recorder {
public:
    void seen() {
        std::lock_guard lock(m_mutex);
        m_tids.insert(kernel_tid());
    }
    size_t count() {
        std::lock_guard lock(m_mutex);
        return m_tids.size();
    }

private:
    std::mutex m_mutex;
    std::set<long> m_tids;
};

} // namespace

TEST_CASE("parallel_for: every index runs once, slots stay below the thread count") {
    ThreadPool pool(4);
    ThreadPool::Scope scope(pool);
    for (int threads : {1, 2, 3, 4, 8}) {
        const size_t n = 1000;
        std::vector<std::atomic<int>> hits(n);
        std::vector<std::atomic<int>> in_use(8);
        std::atomic<bool> slot_shared{false}, slot_too_big{false};
        parallel_for(n, threads, [&](size_t i, size_t slot) {
            if (slot >= static_cast<size_t>(std::min(threads, 4))) {
                slot_too_big = true;
                return;
            }
            if (in_use[slot].fetch_add(1) != 0) {
                slot_shared = true;
            }
            ++hits[i];
            in_use[slot].fetch_sub(1);
        });
        CHECK_FALSE(slot_too_big);
        CHECK_FALSE(slot_shared);
        size_t once = 0;
        for (auto& h : hits) {
            once += h.load() == 1 ? 1 : 0;
        }
        CHECK(once == n);
    }
}

TEST_CASE("parallel_for: many calls use at most N distinct worker threads") {
    constexpr int N = 3;
    ThreadPool pool(N);
    ThreadPool::Scope scope(pool);
    Recorder rec;
    for (int call = 0; call < 200; ++call) {
        parallel_for(64, N, [&](size_t, size_t) { rec.seen(); });
    }
    CHECK(rec.count() <= static_cast<size_t>(N));
    CHECK(rec.count() >= 1);
}

TEST_CASE("parallel_for: calls from two threads at once share the N workers") {
    constexpr int N = 2;
    ThreadPool pool(N);
    ThreadPool::Scope scope(pool);
    Recorder rec;
    auto caller = [&] {
        for (int call = 0; call < 100; ++call) {
            parallel_for(32, N, [&](size_t, size_t) { rec.seen(); });
        }
    };
    std::thread a(caller), b(caller);
    a.join();
    b.join();
    CHECK(rec.count() <= static_cast<size_t>(N));
}

TEST_CASE("parallel_for: a call from inside a task runs on that worker") {
    ThreadPool pool(2);
    ThreadPool::Scope scope(pool);
    std::atomic<int> inner{0};
    parallel_for(4, 2,
                 [&](size_t, size_t) { parallel_for(10, 2, [&](size_t, size_t) { ++inner; }); });
    CHECK(inner.load() == 40);
}

TEST_CASE("parallel_for: an idle worker takes tasks of a call from inside a task") {
    // Task 0 of the outer call ends at once; task 1 calls parallel_for, whose task 0 waits (at
    // most 20 s) for its task 1 to start: that one runs on the other, idle worker. (Before, a
    // nested call ran all its tasks on its caller: task 0 waited in vain.)
    ThreadPool pool(2);
    ThreadPool::Scope scope(pool);
    std::atomic<bool> started{false};
    std::atomic<long> tid0{0}, tid1{0};
    parallel_for(2, 2, [&](size_t i, size_t) {
        if (i == 0) {
            return;
        }
        parallel_for(2, 2, [&](size_t j, size_t) {
            if (j == 1) {
                tid1 = kernel_tid();
                started = true;
                return;
            }
            tid0 = kernel_tid();
            for (int w = 0; w < 2000 && !started; ++w) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        });
    });
    CHECK(started.load());
    CHECK(tid0.load() != tid1.load());
}

TEST_CASE("parallel_for: the first exception is rethrown and the pool stays usable") {
    ThreadPool pool(3);
    ThreadPool::Scope scope(pool);
    std::atomic<int> ran{0};
    CHECK_THROWS_WITH(parallel_for(100, 3,
                                   [&](size_t i, size_t) {
                                       ++ran;
                                       if (i == 5) {
                                           throw std::runtime_error("task 5 failed");
                                       }
                                   }),
                      "task 5 failed");
    CHECK(ran.load() <= 100);
    std::atomic<int> after{0};
    parallel_for(50, 3, [&](size_t, size_t) { ++after; });
    CHECK(after.load() == 50);
}

TEST_CASE("parallel_for: without an installed pool it still covers every index") {
    REQUIRE(ThreadPool::current() == nullptr);
    std::atomic<int> sum{0};
    parallel_for(100, 4, [&](size_t i, size_t) { sum += static_cast<int>(i); });
    CHECK(sum.load() == 4950);
}

#if BAIMS_THREAD_HEAP_HUGE_PAGES // glibc's arenas, not a sanitizer's allocator
namespace {

// The /proc/self/smaps entry (header line and fields) of the mapping that holds address a.
std::string smaps_entry(std::uintptr_t a) {
    std::ifstream in("/proc/self/smaps");
    std::string line;
    std::string entry;
    bool inside = false;
    while (std::getline(in, line)) {
        unsigned long lo = 0;
        unsigned long hi = 0;
        char dash = 0;
        std::istringstream head(line);
        if (line.find(':') > line.find(' ') && (head >> std::hex >> lo >> dash >> hi) &&
            dash == '-') {
            if (inside) {
                break;
            }
            inside = a >= lo && a < hi;
        }
        if (inside) {
            entry += line + "\n";
        }
    }
    return entry;
}

} // namespace

TEST_CASE("parallel_for: a worker's malloc heap asks for transparent huge pages") {
    // Chunk-sized buffers of the tasks live in the workers' glibc arenas; first touches of 4 KiB
    // pages there were ~40 % of the kernel time of `tiles` (page faults).
    // Kernels without THP (no /sys/kernel/mm/transparent_hugepage) or with strict overcommit
    // accounting: the heap is left as glibc made it (see parallel.cpp).
    if (!std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled")) {
        WARN("this kernel has no transparent huge pages: not checked");
        return;
    }
    {
        std::ifstream oc("/proc/sys/vm/overcommit_memory");
        int mode = 0;
        if ((oc >> mode) && mode == 2) {
            WARN("vm.overcommit_memory = 2: huge pages are not asked for, not checked");
            return;
        }
    }
    ThreadPool pool(2);
    ThreadPool::Scope scope(pool);
    std::vector<void*> blocks(2, nullptr);
    parallel_for(2, 2, [&](size_t i, size_t) { blocks[i] = std::malloc(100000); });
    for (void* b : blocks) {
        REQUIRE(b != nullptr);
        const std::string entry = smaps_entry(reinterpret_cast<std::uintptr_t>(b));
        INFO(entry);
        const auto flags = entry.find("VmFlags:");
        REQUIRE(flags != std::string::npos);
        const std::string vmflags = entry.substr(flags);
        CHECK(vmflags.find(" hg") != std::string::npos); // MADV_HUGEPAGE
        CHECK(vmflags.find(" rd wr") != std::string::npos);
        // The whole 64 MiB heap reservation is one read-write mapping (no PROT_NONE tail).
        unsigned long lo = 0;
        unsigned long hi = 0;
        char dash = 0;
        std::istringstream(entry) >> std::hex >> lo >> dash >> hi;
        CHECK(hi - lo == (64UL << 20));
        std::free(b);
    }
}
#endif
