# BAIMS_LAZY_GDAL: the baims executable loads libgdal and libproj on the first call of one of their
# functions, not at process start-up. Loading them (and the ~60 libraries GDAL depends on) is
# ~150 M instructions, ~0.07 s, of every command's start-up, also of commands that never call GDAL
# (a NetCDF insert, optimise, prune, tiles without --png); bench/results/2026-12-02-startup.md and
# 2026-12-02-lazy-gdal.md. Likewise libnetcdf, libhdf5 and libcurl, each on the first call of one
# of its own functions: commands on Zarr cubes never call them, and with their dependencies they
# were 17 of the 55 libraries still mapped at start-up (bench/results/2026-12-03-fixedcost.md).
# Likewise libsnappy, which only libblosc.a calls (for snappy-compressed arrays), when blosc is
# linked statically (cmake/BaimsStaticDeps.cmake).
# Likewise libpq, loaded by the database commands (catalog, ingest-vector, rasterize, extract) and
# --version only: with its dependencies (ssl, crypto, gssapi, krb5, ldap, sasl, gnutls, ...) and
# libpqxx it was 23 of the 37 libraries mapped at start-up, ~12 ms of every command
# (bench/results/2026-12-03-pqlazy.md). libpqxx itself is C++: our code references its typeinfo
# and vtables (exceptions, classes), data that no trampoline can stand for, so the baims
# executable links it statically (Debian's libpqxx.a, from libpqxx-dev, is position-independent)
# and libpqxx.a's own libpq calls (71 PQ*/lo_* functions) go through the trampolines like ours.
# Without libpqxx.a (a CMake warning), or with -DBAIMS_PQXX_STATIC=OFF, libpqxx and libpq stay
# shared libraries loaded at start-up.
#
# How: cmake/lazy_stubs.sh lists the functions of those libraries that our static libraries and the
# binary's objects call, and writes one trampoline per function (`sym: jmp *slot(%rip)`). Until the
# first call, every slot points at a lazy entry that saves the argument registers and calls
# baims_lazy_resolve (src/core/lazy_load.cpp): once per process and library it dlopen()s the
# library by its SONAME (RTLD_NOW | RTLD_GLOBAL) and fills its slots with dlsym; libgdal and libproj
# are loaded together, and then the set-up registered with baims::lazy_lib::when_loaded runs (GDAL's
# error handler). The executable links the trampolines instead of the libraries; with --as-needed
# the linker then leaves them out of its NEEDED list, which a post-link check asserts. If one cannot
# be loaded, the command ends with one error line naming the package to install and exit code 69
# (docs/exit-codes.md).
#
# Supported: x86-64 Linux with GCC or Clang (the trampolines are x86-64 assembly). Elsewhere, and
# with -DBAIMS_LAZY_GDAL=OFF, baims links these libraries normally. The Catch2 test executables
# always link them normally, and the shared libpqxx (baims_pqxx below). The Debian package declares
# the library packages itself (cmake/BaimsPackaging.cmake), since dpkg-shlibdeps no longer sees
# them in NEEDED; it no longer depends on libpqxx-6.4.
set(_baims_lazy_supported OFF)
if(CMAKE_SYSTEM_NAME STREQUAL "Linux" AND CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$"
   AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang" AND NOT CMAKE_CROSSCOMPILING)
    set(_baims_lazy_supported ON)
endif()
# Default OFF in the ThreadSanitizer build (not tried). The ASan/UBSan build has it: there UBSan's
# vptr check made our code reference the typeinfo of GDAL's classes (_ZTI10GDALDriver, ... 16 data
# symbols), which no trampoline can stand for (bench/results/2026-12-02-lazy-gdal.md); the five
# GDAL-facing sources are compiled without that one check (cmake/BaimsSanitizers.cmake).
set(_baims_lazy_default ${_baims_lazy_supported})
if(BAIMS_SANITIZE_THREAD)
    set(_baims_lazy_default OFF)
endif()
option(BAIMS_LAZY_GDAL "Load libgdal and libproj on first use, not at start-up (x86-64 Linux)"
       ${_baims_lazy_default})
if(BAIMS_LAZY_GDAL AND NOT _baims_lazy_supported)
    message(FATAL_ERROR "BAIMS_LAZY_GDAL needs x86-64 Linux with GCC or Clang; configure with "
                        "-DBAIMS_LAZY_GDAL=OFF")
endif()

# _baims_lazy_library(<imported target> <prefix> [<file>]): <prefix>_PATH (the file: <file>, or the
# target's imported location), <prefix>_SONAME (from its dynamic section) and <prefix>_PACKAGE (the
# Debian package that ships it, "" if dpkg is unavailable or does not know the file).
function(_baims_lazy_library target prefix)
    set(path "${ARGV2}")
    if(NOT path)
        foreach(prop IMPORTED_LOCATION_NONE IMPORTED_LOCATION_RELEASE
                     IMPORTED_LOCATION_RELWITHDEBINFO IMPORTED_LOCATION_NOCONFIG IMPORTED_LOCATION)
            get_target_property(path ${target} ${prop})
            if(path)
                break()
            endif()
        endforeach()
    endif()
    if(NOT path)
        message(FATAL_ERROR "BAIMS_LAZY_GDAL: no library file for ${target}; configure with "
                            "-DBAIMS_LAZY_GDAL=OFF")
    endif()
    file(REAL_PATH "${path}" path)
    execute_process(COMMAND ${BAIMS_READELF} -d "${path}" OUTPUT_VARIABLE dyn COMMAND_ERROR_IS_FATAL ANY)
    if(NOT dyn MATCHES "\\(SONAME\\)[^\n]*\\[([^]\n]+)\\]")
        message(FATAL_ERROR "BAIMS_LAZY_GDAL: ${path} has no SONAME")
    endif()
    set(soname ${CMAKE_MATCH_1})
    set(package "")
    find_program(BAIMS_DPKG dpkg)
    if(BAIMS_DPKG)
        # usrmerge: dpkg knows /usr/lib/..., the file may have been found as /lib/...
        string(REGEX REPLACE "^/lib/" "/usr/lib/" usrpath "${path}")
        execute_process(COMMAND ${BAIMS_DPKG} -S "${usrpath}" OUTPUT_VARIABLE owner
                        RESULT_VARIABLE rc ERROR_QUIET)
        if(rc EQUAL 0 AND owner MATCHES "^([a-z0-9][a-z0-9.+-]*)(:[a-z0-9]+)?: ")
            set(package ${CMAKE_MATCH_1})
        endif()
    endif()
    set(${prefix}_PATH ${path} PARENT_SCOPE)
    set(${prefix}_SONAME ${soname} PARENT_SCOPE)
    set(${prefix}_PACKAGE ${package} PARENT_SCOPE)
endfunction()

# libpqxx.a when baims links it (below), else empty
set(BAIMS_PQXX_ARCHIVE "")
if(BAIMS_LAZY_GDAL)
    enable_language(ASM)
    find_program(BAIMS_READELF NAMES readelf ${CMAKE_READELF} REQUIRED)
    find_program(BAIMS_BASH bash REQUIRED)
    _baims_lazy_library(GDAL::GDAL BAIMS_LAZY_GDAL)
    _baims_lazy_library(PROJ::proj BAIMS_LAZY_PROJ)
    # NetCDF, HDF5 and libcurl (C APIs, functions only), each loaded on its own first use: tiles,
    # optimise, prune and the other commands on Zarr cubes never call them, and with their
    # dependencies (curl-gnutls, xml2, icu, sz, aec, ...) they were 17 of the 55 libraries mapped
    # at start-up (bench/results/2026-12-03-fixedcost.md).
    _baims_lazy_library(netCDF::netcdf BAIMS_LAZY_NETCDF)
    _baims_lazy_library(PkgConfig::HDF5 BAIMS_LAZY_HDF5 "${pkgcfg_lib_HDF5_hdf5}")
    _baims_lazy_library(CURL::libcurl BAIMS_LAZY_CURL)
    set(BAIMS_LAZY_OTHERS NETCDF HDF5 CURL)
    # libpq, under a static libpqxx (see the header): only with libpqxx.a, since libpqxx-6.4.so
    # would bring libpq at start-up anyway.
    option(BAIMS_PQXX_STATIC
           "With BAIMS_LAZY_GDAL: link libpqxx.a into baims, load libpq on first use" ON)
    if(BAIMS_PQXX_STATIC)
        find_library(BAIMS_PQXX_STATIC_LIBRARY NAMES libpqxx.a HINTS ${PQXX_LIBRARY_DIRS})
        if(BAIMS_PQXX_STATIC_LIBRARY)
            set(BAIMS_PQXX_ARCHIVE ${BAIMS_PQXX_STATIC_LIBRARY})
        else()
            message(WARNING "BAIMS_LAZY_GDAL: no libpqxx.a (package libpqxx-dev); baims links "
                            "libpqxx and libpq as shared libraries, loaded at every start-up (~25 "
                            "more libraries, ~12 ms)")
        endif()
    endif()
    if(BAIMS_PQXX_ARCHIVE)
        _baims_lazy_library(PostgreSQL::PostgreSQL BAIMS_LAZY_PQ)
        set(BAIMS_LAZY_PQ_VERSION ${PostgreSQL_VERSION_STRING})
        list(APPEND BAIMS_LAZY_OTHERS PQ)
        # the libpqxx that must not be in NEEDED either (the post-link check)
        list(GET PQXX_LINK_LIBRARIES 0 _pqxx_so)
        _baims_lazy_library(PkgConfig::PQXX BAIMS_PQXX_SHARED "${_pqxx_so}")
    endif()
    # libsnappy, under a static libblosc (cmake/BaimsStaticDeps.cmake): libblosc.a calls 3 of its
    # functions, only for an array compressed with Blosc's snappy, so it is not loaded at start-up;
    # the stub generator reads the static archives' undefined symbols too (baims_lazy_load).
    if(BAIMS_STATIC_BLOSC)
        _baims_lazy_library(baims_blosc BAIMS_LAZY_SNAPPY "${BAIMS_SNAPPY_LIBRARY}")
        list(APPEND BAIMS_LAZY_OTHERS SNAPPY)
        # the package's minimum version (cmake/BaimsPackaging.cmake): the file built against
        if(BAIMS_LAZY_SNAPPY_PATH MATCHES "\\.so\\.([0-9]+(\\.[0-9]+)+)$")
            set(BAIMS_LAZY_SNAPPY_VERSION ${CMAKE_MATCH_1})
        endif()
    endif()
    set(_baims_lazy_names "")
    foreach(lib ${BAIMS_LAZY_OTHERS})
        list(APPEND _baims_lazy_names ${BAIMS_LAZY_${lib}_SONAME})
    endforeach()
    string(JOIN ", " _baims_lazy_names ${_baims_lazy_names})
    message(STATUS "BAIMS_LAZY_GDAL: ${BAIMS_LAZY_GDAL_SONAME} (${BAIMS_LAZY_GDAL_PACKAGE}), "
                   "${BAIMS_LAZY_PROJ_SONAME} (${BAIMS_LAZY_PROJ_PACKAGE}), "
                   "${_baims_lazy_names} loaded on first use")
    if(BAIMS_PQXX_ARCHIVE)
        message(STATUS "BAIMS_LAZY_GDAL: baims links ${BAIMS_PQXX_ARCHIVE} statically")
    endif()
    # the C and C++ runtime: a symbol they define is never routed to libgdal (which exports some
    # libstdc++ template instantiations too)
    set(BAIMS_LAZY_RUNTIME_LIBS "")
    foreach(lib libstdc++.so libgcc_s.so.1 libm.so.6 libc.so.6)
        execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=${lib}
                        OUTPUT_VARIABLE f OUTPUT_STRIP_TRAILING_WHITESPACE)
        if(IS_ABSOLUTE "${f}" AND EXISTS "${f}")
            file(REAL_PATH "${f}" f)
            list(APPEND BAIMS_LAZY_RUNTIME_LIBS ${f})
        endif()
    endforeach()
endif()

# baims_pqxx: what the modules link for libpqxx. The executable that baims_lazy_load() sets up (it
# sets BAIMS_STATIC_PQXX on it) gets libpqxx.a and libpq; every other one (the Catch2 tests) gets
# the shared libpqxx, as without BAIMS_LAZY_GDAL.
add_library(baims_pqxx INTERFACE)
if(BAIMS_PQXX_ARCHIVE)
    set(_static "$<BOOL:$<TARGET_PROPERTY:BAIMS_STATIC_PQXX>>")
    target_include_directories(baims_pqxx INTERFACE ${PQXX_INCLUDE_DIRS})
    target_compile_options(baims_pqxx INTERFACE ${PQXX_CFLAGS_OTHER})
    target_link_libraries(baims_pqxx INTERFACE
                          "$<$<NOT:${_static}>:PkgConfig::PQXX>"
                          "$<${_static}:${BAIMS_PQXX_ARCHIVE}>"
                          "$<${_static}:PostgreSQL::PostgreSQL>")
else()
    target_link_libraries(baims_pqxx INTERFACE PkgConfig::PQXX)
endif()

# baims_lazy_load(<executable> OBJECTS <object library> ARCHIVES <static library targets>...):
# links <executable> with delay-loaded GDAL and PROJ (nothing without BAIMS_LAZY_GDAL).
function(baims_lazy_load exe)
    if(NOT BAIMS_LAZY_GDAL)
        return()
    endif()
    cmake_parse_arguments(L "" "OBJECTS" "ARCHIVES" ${ARGN})
    set(stubs ${PROJECT_BINARY_DIR}/generated/baims_lazy_stubs.S)
    set(inputs $<TARGET_OBJECTS:${L_OBJECTS}>)
    foreach(a ${L_ARCHIVES})
        list(APPEND inputs $<TARGET_FILE:${a}>)
    endforeach()
    set(check_sonames "")
    # the static archives (cmake/BaimsStaticDeps.cmake): libblosc.a's snappy calls are stubbed, and
    # what the archives define is ours, never routed to a delay-loaded library
    list(APPEND inputs ${BAIMS_STATIC_ARCHIVES})
    if(BAIMS_PQXX_ARCHIVE)
        set_target_properties(${exe} PROPERTIES BAIMS_STATIC_PQXX ON)
        list(APPEND inputs ${BAIMS_PQXX_ARCHIVE})
        set(check_sonames "|${BAIMS_PQXX_SHARED_SONAME}")
    endif()
    string(JOIN "|" runtime ${BAIMS_LAZY_RUNTIME_LIBS})
    set(package_gdal ${BAIMS_LAZY_GDAL_PACKAGE})
    set(package_proj ${BAIMS_LAZY_PROJ_PACKAGE})
    if(NOT package_gdal)
        set(package_gdal "GDAL")
    endif()
    if(NOT package_proj)
        set(package_proj "PROJ")
    endif()
    set(others "")
    set(other_sonames "")
    foreach(lib ${BAIMS_LAZY_OTHERS})
        set(package ${BAIMS_LAZY_${lib}_PACKAGE})
        if(NOT package)
            set(package ${lib})
        endif()
        list(APPEND others ${BAIMS_LAZY_${lib}_SONAME} ${package} ${BAIMS_LAZY_${lib}_PATH})
        string(APPEND other_sonames "|${BAIMS_LAZY_${lib}_SONAME}")
    endforeach()
    add_custom_command(OUTPUT ${stubs}
        COMMAND ${BAIMS_BASH} ${PROJECT_SOURCE_DIR}/cmake/lazy_stubs.sh ${stubs} ${CMAKE_NM}
                "$<JOIN:${inputs},|>" "${runtime}"
                ${BAIMS_LAZY_GDAL_SONAME} ${package_gdal} ${BAIMS_LAZY_GDAL_PATH}
                ${BAIMS_LAZY_PROJ_SONAME} ${package_proj} ${BAIMS_LAZY_PROJ_PATH}
                ${others}
        DEPENDS ${inputs} ${PROJECT_SOURCE_DIR}/cmake/lazy_stubs.sh
        COMMENT "Generating the delay-load stubs of ${BAIMS_LAZY_GDAL_SONAME}, ${BAIMS_LAZY_PROJ_SONAME}${other_sonames}"
        VERBATIM)
    target_sources(${exe} PRIVATE ${stubs})
    target_link_libraries(${exe} PRIVATE ${CMAKE_DL_LIBS})
    # GDAL and PROJ stay on the link line (the linker checks that every library's own references
    # resolve), but no reference of ours binds to them, so --as-needed drops them from NEEDED.
    target_link_options(${exe} PRIVATE "LINKER:--as-needed")
    add_custom_command(TARGET ${exe} POST_BUILD
        COMMAND ${CMAKE_COMMAND} -DBIN=$<TARGET_FILE:${exe}> -DREADELF=${BAIMS_READELF}
                "-DSONAMES=${BAIMS_LAZY_GDAL_SONAME}|${BAIMS_LAZY_PROJ_SONAME}${other_sonames}${check_sonames}"
                -P ${PROJECT_SOURCE_DIR}/cmake/BaimsLazyCheck.cmake
        VERBATIM)
endfunction()
