#pragma once
// Progress reporting for long work. On a terminal: a bar with rate and ETA on stderr; otherwise a
// log line at most every few seconds. Thread-safe: advance() may be called from worker threads.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace baims {

enum class ProgressMode { Auto, Always, Never };

class Progress {
public:
    // total may be 0 when unknown.
    Progress(std::string what, std::uint64_t total, std::string unit = "items");
    ~Progress();
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    void advance(std::uint64_t n = 1);
    void set_total(std::uint64_t total);
    void finish();

    // Process-wide settings (from --progress and --log-format).
    static void configure(ProgressMode mode, bool json_logs);

private:
    void render(bool final);

    std::mutex m_mutex;
    std::string m_what;
    std::string m_unit;
    std::uint64_t m_total;
    std::uint64_t m_done = 0;
    std::chrono::steady_clock::time_point m_start;
    std::chrono::steady_clock::time_point m_last;
    bool m_bar;
    bool m_finished = false;
};

} // namespace baims
