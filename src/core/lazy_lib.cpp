#include "baims/core/lazy_lib.hpp"

#include <atomic>
#include <mutex>
#include <vector>

// Defined by the generated stubs (cmake/lazy_stubs.sh) only in an executable with delay-loaded
// GDAL: a weak reference is null everywhere else.
extern "C" {
extern const unsigned baims_lazy_count __attribute__((weak));
}

namespace baims::lazy_lib {
namespace {
std::mutex g_mutex;
std::vector<void (*)()> g_hooks;
std::atomic<bool> g_loaded{false};
std::atomic<const char*> g_command{""};

bool deferred() {
    return &baims_lazy_count != nullptr;
}
} // namespace

bool loaded() {
    return !deferred() || g_loaded.load(std::memory_order_acquire);
}

void when_loaded(void (*fn)()) {
    {
        std::lock_guard lock(g_mutex);
        if (!loaded()) {
            g_hooks.push_back(fn);
            return;
        }
    }
    fn();
}

void set_command(const char* name) {
    g_command.store(name ? name : "", std::memory_order_release);
}

namespace detail {
void notify_loaded() {
    std::vector<void (*)()> hooks;
    {
        std::lock_guard lock(g_mutex);
        g_loaded.store(true, std::memory_order_release);
        hooks.swap(g_hooks);
    }
    for (auto* fn : hooks) {
        fn();
    }
}

const char* command() {
    return g_command.load(std::memory_order_acquire);
}
} // namespace detail

} // namespace baims::lazy_lib
