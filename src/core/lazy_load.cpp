// The resolver of the delay-load stubs (cmake/BaimsLazyLoad.cmake, cmake/lazy_stubs.sh). Only an
// executable linked with the generated stubs pulls this object in: they call baims_lazy_resolve.

#include "baims/core/error.hpp"
#include "baims/core/lazy_lib.hpp"

#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <mutex>
#include <string>
#include <string_view>
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
// The stubs list libgdal and libproj first (cmake/BaimsLazyLoad.cmake): those two are loaded
// together, and their loading runs the when_loaded set-up (lazy_lib.hpp). Every later library
// (libnetcdf, libhdf5, libcurl) is loaded on its own, on the first call of one of its functions:
// a NetCDF gen does not load GDAL, a tiles run loads none of them.
constexpr unsigned GDAL_GROUP = 2;
constexpr unsigned MAX_LIBS = 16;
std::once_flag g_gdal_once;
std::once_flag g_once[MAX_LIBS];

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

// dlopen()s library `lib` and fills the slots of its functions.
void load(unsigned lib) {
    const char* soname = baims_lazy_sonames[lib];
    // Test hooks (tests/lazy_load): another name for a library, to check the error line of a
    // missing library on a machine that has it: BAIMS_TEST_GDAL_SONAME=<name> for the first one
    // (libgdal), BAIMS_TEST_LAZY_SONAME=<soname>=<name> for any.
    if (const char* test = std::getenv("BAIMS_TEST_GDAL_SONAME"); lib == 0 && test && *test) {
        soname = test;
    }
    std::string replaced;
    if (const char* test = std::getenv("BAIMS_TEST_LAZY_SONAME"); test && *test) {
        std::string_view spec(test);
        if (auto eq = spec.find('=');
            eq != std::string_view::npos && spec.substr(0, eq) == soname) {
            replaced = spec.substr(eq + 1);
            soname = replaced.c_str();
        }
    }
    void* handle = dlopen(soname, RTLD_NOW | RTLD_GLOBAL);
    if (!handle) {
        const char* why = dlerror();
        fail(soname, baims_lazy_packages[lib], why ? why : "unknown error");
    }
    for (unsigned k = 0; k < baims_lazy_count; ++k) {
        if (baims_lazy_lib_of[k] != lib) {
            continue;
        }
        void* fn = dlsym(handle, baims_lazy_names[k]);
        if (!fn) {
            fail(baims_lazy_sonames[lib], baims_lazy_packages[lib],
                 std::string("it has no function ") + baims_lazy_names[k] +
                     "; baims was built against another version");
        }
        __atomic_store_n(&baims_lazy_slots[k], fn, __ATOMIC_RELEASE);
    }
}

void load_gdal() {
    for (unsigned lib = 0; lib < GDAL_GROUP && lib < baims_lazy_lib_count; ++lib) {
        load(lib);
    }
    baims::lazy_lib::detail::notify_loaded();
}
} // namespace

void* baims_lazy_resolve(unsigned index) {
    const unsigned lib = baims_lazy_lib_of[index];
    if (lib < GDAL_GROUP) {
        std::call_once(g_gdal_once, load_gdal);
    } else if (lib < MAX_LIBS) {
        std::call_once(g_once[lib], load, lib);
    } else {
        fail(baims_lazy_sonames[lib], baims_lazy_packages[lib], "too many delay-loaded libraries");
    }
    return __atomic_load_n(&baims_lazy_slots[index], __ATOMIC_ACQUIRE);
}
