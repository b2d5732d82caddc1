#include "baims/core/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <exception>

namespace baims {
namespace {

std::atomic<ThreadPool*> g_current{nullptr};
thread_local const ThreadPool* t_worker_of = nullptr; // the pool whose worker this thread is

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
