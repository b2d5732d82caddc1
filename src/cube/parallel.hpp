#pragma once
// parallel_for over [0, n) on up to `threads` threads; the first exception is rethrown.

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace baims::cube {

template <class Fn> void parallel_for(size_t n, int threads, Fn&& fn) {
    size_t nt = std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), n);
    if (nt <= 1) {
        for (size_t i = 0; i < n; ++i) {
            fn(i, 0);
        }
        return;
    }
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto worker = [&](size_t tid) {
        while (!failed.load()) {
            size_t i = next.fetch_add(1);
            if (i >= n) {
                break;
            }
            try {
                fn(i, tid);
            } catch (...) {
                std::lock_guard lock(error_mutex);
                if (!error) {
                    error = std::current_exception();
                }
                failed.store(true);
            }
        }
    };
    std::vector<std::thread> pool;
    for (size_t t = 1; t < nt; ++t) {
        pool.emplace_back(worker, t);
    }
    worker(0);
    for (auto& t : pool) {
        t.join();
    }
    if (error) {
        std::rethrow_exception(error);
    }
}

} // namespace baims::cube
