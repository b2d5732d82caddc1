#pragma once
// One pool of worker threads per run, and parallel_for on it.
//
// A command (gen, tiles, optimise, prune) creates a ThreadPool sized by --threads once and
// installs it with ThreadPool::Scope; every parallel_for of the run then hands its tasks to those
// workers. Calls made at the same time from several threads (gen reads the next slice while the
// current one is computed) share the workers, so a run never has more than --threads threads
// working on tasks. Without an installed pool, parallel_for starts threads for the call only.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace baims {

// fn(i, slot) for every i in [0, n); slot < min(threads, n) identifies the thread within this call
// (for per-thread buffers): no two tasks of one call run with the same slot at the same time.
using ParallelTask = std::function<void(size_t i, size_t slot)>;

class ThreadPool {
public:
    // threads <= 1: no workers (every call runs on its caller).
    explicit ThreadPool(int threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    // Number of worker threads (0 or >= 2).
    size_t size() const { return m_workers.size(); }

    // Runs fn over [0, n) on at most min(threads, size(), n) workers and waits for it; the caller
    // only waits (a caller that is itself a worker of this pool runs tasks itself, and idle
    // workers take the others). After a task throws, no new task starts; the first exception is
    // rethrown.
    void run(size_t n, int threads, const ParallelTask& fn);

    // The pool installed for the current run, or nullptr.
    static ThreadPool* current();

    // Installs a pool for the current run (process-wide) until destroyed.
    class Scope {
    public:
        explicit Scope(ThreadPool& pool);
        ~Scope();
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;

    private:
        ThreadPool* m_previous;
    };

private:
    struct Job;
    void work();
    void run_task(Job& job, std::unique_lock<std::mutex>& lock); // the next task of job
    bool exhausted(const Job& job) const;

    std::mutex m_mutex;
    std::condition_variable m_wake; // workers: a job has a task and a free slot
    std::condition_variable m_done; // callers: a job finished
    std::deque<Job*> m_jobs;        // jobs with tasks left, in order of arrival
    bool m_stop = false;
    std::vector<std::thread> m_workers;
};

// fn(i, slot) over [0, n) on the run's pool (ThreadPool::current()) with at most `threads` of its
// workers, or on threads started for this call when no pool is installed; threads <= 1 or n <= 1
// runs on the caller with slot 0. The first exception is rethrown.
void parallel_for(size_t n, int threads, const ParallelTask& fn);

} // namespace baims
