#pragma once
// Delay-loading of libgdal and libproj (BAIMS_LAZY_GDAL, cmake/BaimsLazyLoad.cmake): the baims
// binary loads them on the first call of any of their functions, not at start-up, so commands that
// never call GDAL do not pay for loading it. Executables that link GDAL normally (the Catch2
// tests, a build with -DBAIMS_LAZY_GDAL=OFF) see them as always loaded. libnetcdf, libhdf5 and
// libcurl are delay-loaded too, each on its own (src/core/lazy_load.cpp); nothing here is about
// them.

namespace baims::lazy_lib {

// The exit code when libgdal or libproj cannot be loaded (docs/exit-codes.md; 69 is sysexits'
// EX_UNAVAILABLE, next to 70 for internal errors).
inline constexpr int EXIT_LIBRARY = 69;

// True once GDAL and PROJ are in the process; always true when they are linked normally.
bool loaded();

// Runs fn right after GDAL and PROJ are loaded, before the call that loaded them proceeds; at once
// if they are already loaded. For process set-up that must come before any other GDAL call (the
// error handler, config options) without loading GDAL in commands that never use it.
void when_loaded(void (*fn)());

// The command named in the error line if the libraries cannot be loaded
// ("baims <command>: error: cannot load ..."); a string that lives until the process ends.
void set_command(const char* name);

namespace detail {
// Called by the loader (src/core/lazy_load.cpp) once the libraries are loaded: runs the
// when_loaded functions.
void notify_loaded();
const char* command();
} // namespace detail

} // namespace baims::lazy_lib
