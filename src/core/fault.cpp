#include "baims/core/fault.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace baims {
namespace {
struct Target {
    std::string name;
    long count = 0;
    bool active = false;
};

Target parse(const char* variable) {
    Target r;
    const char* v = std::getenv(variable);
    if (v && *v) {
        std::string s(v);
        auto colon = s.rfind(':');
        r.name = s.substr(0, colon);
        r.count = colon == std::string::npos ? 1 : std::atol(s.c_str() + colon + 1);
        r.active = true;
    }
    return r;
}

const Target& kill_target() {
    static const Target t = parse("BAIMS_TEST_KILL_AT");
    return t;
}
const Target& fail_target() {
    static const Target t = parse("BAIMS_TEST_FAIL_AT");
    return t;
}
std::atomic<long> g_hits{0};
std::atomic<long> g_fail_hits{0};
} // namespace

void fault_point(const char* name) {
    const auto& t = kill_target();
    if (t.active && t.name == name && g_hits.fetch_add(1) + 1 == t.count) {
        ::kill(::getpid(), SIGKILL);
        ::pause();
    }
    const auto& f = fail_target();
    if (f.active && f.name == name && g_fail_hits.fetch_add(1) + 1 == f.count) {
        throw std::logic_error(std::string("test fault at ") + name);
    }
}

} // namespace baims
