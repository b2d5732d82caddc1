#include "baims/core/progress.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <unistd.h>

namespace baims {
namespace {
ProgressMode g_mode = ProgressMode::Auto;
bool g_json = false;

std::string format_duration(double seconds) {
    char buf[32];
    if (seconds < 0 || seconds > 1e7) {
        return "?";
    }
    int s = static_cast<int>(seconds + 0.5);
    if (s >= 3600) {
        std::snprintf(buf, sizeof buf, "%dh%02dm", s / 3600, (s % 3600) / 60);
    } else if (s >= 60) {
        std::snprintf(buf, sizeof buf, "%dm%02ds", s / 60, s % 60);
    } else {
        std::snprintf(buf, sizeof buf, "%ds", s);
    }
    return buf;
}
} // namespace

void Progress::configure(ProgressMode mode, bool json_logs) {
    g_mode = mode;
    g_json = json_logs;
}

Progress::Progress(std::string what, std::uint64_t total, std::string unit)
    : m_what(std::move(what))
    , m_unit(std::move(unit))
    , m_total(total)
    , m_start(std::chrono::steady_clock::now())
    , m_last(m_start) {
    bool tty = isatty(STDERR_FILENO) != 0;
    m_bar = !g_json && (g_mode == ProgressMode::Always || (g_mode == ProgressMode::Auto && tty));
    if (g_mode == ProgressMode::Never) {
        m_bar = false;
    }
}

Progress::~Progress() {
    finish();
}

void Progress::set_total(std::uint64_t total) {
    std::lock_guard lock(m_mutex);
    m_total = total;
}

void Progress::advance(std::uint64_t n) {
    std::lock_guard lock(m_mutex);
    m_done += n;
    auto now = std::chrono::steady_clock::now();
    auto since = std::chrono::duration<double>(now - m_last).count();
    double period = m_bar ? 0.2 : 5.0;
    if (since >= period) {
        m_last = now;
        render(false);
    }
}

void Progress::finish() {
    std::lock_guard lock(m_mutex);
    if (m_finished) {
        return;
    }
    m_finished = true;
    if (m_bar) {
        render(true);
    }
}

void Progress::render(bool final) {
    if (g_mode == ProgressMode::Never) {
        return;
    }
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
    double rate = elapsed > 0 ? static_cast<double>(m_done) / elapsed : 0.0;
    double pct = m_total ? 100.0 * static_cast<double>(m_done) / static_cast<double>(m_total) : 0.0;
    double eta = (m_total && rate > 0)
                     ? static_cast<double>(m_total - std::min(m_done, m_total)) / rate
                     : -1.0;
    if (m_bar) {
        const int width = 30;
        int filled = m_total ? static_cast<int>(width * pct / 100.0) : 0;
        std::string bar(static_cast<size_t>(std::min(filled, width)), '#');
        bar.resize(width, '.');
        std::fprintf(stderr, "\r%s [%s] %5.1f%% %llu/%llu %s, %.1f/s, ETA %s   ", m_what.c_str(),
                     bar.c_str(), pct, static_cast<unsigned long long>(m_done),
                     static_cast<unsigned long long>(m_total), m_unit.c_str(), rate,
                     format_duration(eta).c_str());
        if (final) {
            std::fputc('\n', stderr);
        }
        std::fflush(stderr);
    } else {
        spdlog::info("{}: {}/{} {} ({:.1f}%), {:.1f}/s, ETA {}", m_what, m_done, m_total, m_unit,
                     pct, rate, format_duration(eta));
    }
}

} // namespace baims
