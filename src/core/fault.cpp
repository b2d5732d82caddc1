#include "baims/core/fault.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

namespace baims {
namespace {
struct Target {
    std::string name;
    long count = 0;
    bool active = false;
};

const Target& target() {
    static const Target t = [] {
        Target r;
        const char* v = std::getenv("BAIMS_TEST_KILL_AT");
        if (v && *v) {
            std::string s(v);
            auto colon = s.rfind(':');
            r.name = s.substr(0, colon);
            r.count = colon == std::string::npos ? 1 : std::atol(s.c_str() + colon + 1);
            r.active = true;
        }
        return r;
    }();
    return t;
}
std::atomic<long> g_hits{0};
} // namespace

void fault_point(const char* name) {
    const auto& t = target();
    if (!t.active || t.name != name) {
        return;
    }
    if (g_hits.fetch_add(1) + 1 == t.count) {
        ::kill(::getpid(), SIGKILL);
        ::pause();
    }
}

} // namespace baims
