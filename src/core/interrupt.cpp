#include "baims/core/interrupt.hpp"

#include "baims/core/error.hpp"

#include <atomic>
#include <csignal>

namespace baims {
namespace {
std::atomic<int> g_signal{0};

extern "C" void on_signal(int sig) {
    if (g_signal.load() != 0) {
        // Second signal: leave at once (on-disk state stays consistent by design).
        std::signal(sig, SIG_DFL);
        std::raise(sig);
    }
    g_signal.store(sig);
}
} // namespace

void install_signal_handlers() {
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
}

bool interrupted() noexcept {
    return g_signal.load() != 0;
}

void check_interrupted() {
    if (interrupted()) {
        throw Interrupted("interrupted by signal " + std::to_string(g_signal.load()),
                          "What was committed is kept; rerun the same command to finish");
    }
}

void reset_interrupted() noexcept {
    g_signal.store(0);
}

} // namespace baims
