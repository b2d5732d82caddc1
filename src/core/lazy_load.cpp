// The resolver of the delay-load stubs (cmake/BaimsLazyLoad.cmake, cmake/lazy_stubs.sh). Only an
// executable linked with the generated stubs pulls this object in: they call baims_lazy_resolve.

#include "baims/core/error.hpp"
#include "baims/core/lazy_lib.hpp"

#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <mutex>
#include <string>
#include <vector>

// The tables of the generated stubs: symbol k is names[k], exported by library lib_of[k], and its
// trampoline jumps through slots[k].
extern "C" {
extern void* baims_lazy_slots[];
extern const char* const baims_lazy_names[];
extern const unsigned char baims_lazy_lib_of[];
extern const unsigned baims_lazy_count;
extern const char* const baims_lazy_sonames[];
extern const char* const baims_lazy_packages[];
extern const unsigned baims_lazy_lib_count;
void* baims_lazy_resolve(unsigned index);
}

namespace {
std::once_flag g_once;

// No RTLD_DEEPBIND, although it would save ~90 M instructions of every GDAL-using command (each of
// libgdal's ~48 000 relocations first walks the ~55 libraries loaded at start-up): the PIE
// executable holds copy relocations of libc's and libstdc++'s data (__libc_single_threaded,
// std::cerr, std::cout, std::ctype<char>::id, stdout, stderr). libc and libstdc++ bind to those
// copies; a library loaded with DEEPBIND binds to the originals instead (checked with
// LD_DEBUG=bindings: libgdal, libproj, libgeos). Its std::cerr would be an unconstructed object,
// and its __libc_single_threaded would stay 1 after threads start, so the shared_ptr reference
// counts inlined in GDAL, PROJ and GEOS would stop being atomic
// (bench/results/2026-12-02-lazy-gdal.md).

// The error line and exit code 69. Called from whichever GDAL or PROJ call came first, possibly on
// a worker thread, with no way to throw through the trampoline: the process ends here, like an
// interrupted run (a cube update is atomic; nothing half-written is published).
[[noreturn]] void fail(const char* soname, const char* package, const std::string& why) {
    std::string hint =
        std::string("Install the ") + package + " package (apt-get install " + package + ")";
    std::string line =
        baims::format_error_line(baims::lazy_lib::detail::command(),
                                 std::string("cannot load ") + soname + " (" + why + ")", hint);
    std::fflush(stdout);
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
    std::_Exit(baims::lazy_lib::EXIT_LIBRARY);
}

void load_all() {
    std::vector<void*> handles(baims_lazy_lib_count);
    for (unsigned lib = 0; lib < baims_lazy_lib_count; ++lib) {
        const char* soname = baims_lazy_sonames[lib];
        // Test hook (tests/lazy_load): another name for the first library (libgdal), to check the
        // error line of a missing library on a machine that has it.
        if (const char* test = std::getenv("BAIMS_TEST_GDAL_SONAME"); lib == 0 && test && *test) {
            soname = test;
        }
        handles[lib] = dlopen(soname, RTLD_NOW | RTLD_GLOBAL);
        if (!handles[lib]) {
            const char* why = dlerror();
            fail(soname, baims_lazy_packages[lib], why ? why : "unknown error");
        }
    }
    for (unsigned k = 0; k < baims_lazy_count; ++k) {
        const unsigned lib = baims_lazy_lib_of[k];
        void* fn = dlsym(handles[lib], baims_lazy_names[k]);
        if (!fn) {
            fail(baims_lazy_sonames[lib], baims_lazy_packages[lib],
                 std::string("it has no function ") + baims_lazy_names[k] +
                     "; baims was built against another version");
        }
        __atomic_store_n(&baims_lazy_slots[k], fn, __ATOMIC_RELEASE);
    }
    baims::lazy_lib::detail::notify_loaded();
}
} // namespace

void* baims_lazy_resolve(unsigned index) {
    std::call_once(g_once, load_all);
    return __atomic_load_n(&baims_lazy_slots[index], __ATOMIC_ACQUIRE);
}
