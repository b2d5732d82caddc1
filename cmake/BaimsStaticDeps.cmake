# BAIMS_STATIC_DEPS: yaml-cpp, blosc (with the lz4, zstd and zlib it compresses with) and libdeflate
# are linked from their static archives (Debian's libyaml-cpp-dev, libblosc-dev, liblz4-dev,
# libzstd-dev, zlib1g-dev and libdeflate-dev ship them, position-independent) instead of as shared
# libraries: each shared library costs every command's start-up its mapping, relocations and
# constructors, and these 7 were half of the 14 libraries still loaded at start-up once GDAL & co.
# (cmake/BaimsLazyLoad.cmake) were delay-loaded (bench/results/2026-12-03-startup.md).
# Debian ships no libsnappy.a: libblosc.a's three snappy calls go to the shared libsnappy, which
# baims delay-loads like libpq (cmake/BaimsLazyLoad.cmake; only a snappy-compressed array calls
# it), and the Catch2 tests link normally. spdlog and fmt have no static archive: they are compiled
# into the few sources that log through them (src/core/log.cpp, progress.cpp, src/io's GDAL
# session and NetCDF readers) in their header-only form instead, through baims_spdlog. libspdlog
# was more than a third of the symbol relocations the loader did at every start-up
# (bench/results/2026-12-03-updstart.md).
#
# The modules link the targets below instead of the packages' own: baims_yaml_cpp, baims_blosc,
# baims_deflate, baims_spdlog. Each of the first three falls back to the shared library, with a
# warning, when one of its archives is missing, and all four do with -DBAIMS_STATIC_DEPS=OFF.
#
# Symbols of these archives are not exported from the executables (--exclude-libs): libgdal,
# libhdf5 and the others that baims loads later (or a Catch2 test links) bring their own shared
# zlib, zstd, lz4, blosc and libdeflate and must keep binding to those, never to our copies.
option(BAIMS_STATIC_DEPS
       "Link yaml-cpp, blosc (lz4, zstd, zlib), libdeflate statically; spdlog and fmt header-only"
       ON)

# _baims_static_archives(<var> <name>...): <var> = the full paths of lib<name>.a, or "" if one is
# missing (a warning names it)
function(_baims_static_archives var)
    set(found "")
    foreach(name ${ARGN})
        find_library(BAIMS_STATIC_${name} NAMES lib${name}.a)
        if(NOT BAIMS_STATIC_${name})
            message(WARNING "BAIMS_STATIC_DEPS: no lib${name}.a; linking ${ARGV1} as a shared "
                            "library (one more library at every start-up)")
            set(${var} "" PARENT_SCOPE)
            return()
        endif()
        list(APPEND found ${BAIMS_STATIC_${name}})
    endforeach()
    set(${var} ${found} PARENT_SCOPE)
endfunction()

# spdlog with fmt, both header-only (SPDLOG_COMPILED_LIB undefined; FMT_HEADER_ONLY); Debian's
# spdlog is built against the external fmt (SPDLOG_FMT_EXTERNAL), which the headers expect too.
add_library(baims_spdlog INTERFACE)
if(BAIMS_STATIC_DEPS)
    get_target_property(_inc spdlog::spdlog_header_only INTERFACE_INCLUDE_DIRECTORIES)
    target_include_directories(baims_spdlog INTERFACE ${_inc})
    target_compile_definitions(baims_spdlog INTERFACE SPDLOG_FMT_EXTERNAL)
    target_link_libraries(baims_spdlog INTERFACE fmt::fmt-header-only Threads::Threads)
    message(STATUS "BAIMS_STATIC_DEPS: spdlog and fmt compiled in (header-only)")
else()
    target_link_libraries(baims_spdlog INTERFACE spdlog::spdlog)
endif()

add_library(baims_yaml_cpp INTERFACE)
add_library(baims_blosc INTERFACE)
add_library(baims_deflate INTERFACE)
set(_yaml "")
set(_blosc "")
set(_deflate "")
if(BAIMS_STATIC_DEPS)
    _baims_static_archives(_yaml yaml-cpp)
    # in link order: blosc calls the codecs
    _baims_static_archives(_blosc blosc lz4 zstd z)
    _baims_static_archives(_deflate deflate)
endif()
set(BAIMS_STATIC_ARCHIVES "")
# libblosc.a linked: its snappy calls can be delay-loaded (cmake/BaimsLazyLoad.cmake)
set(BAIMS_STATIC_BLOSC OFF)
if(_yaml)
    get_target_property(_inc yaml-cpp INTERFACE_INCLUDE_DIRECTORIES)
    target_include_directories(baims_yaml_cpp INTERFACE ${_inc})
    target_link_libraries(baims_yaml_cpp INTERFACE ${_yaml})
    list(APPEND BAIMS_STATIC_ARCHIVES ${_yaml})
else()
    target_link_libraries(baims_yaml_cpp INTERFACE yaml-cpp)
endif()
if(_blosc)
    # libsnappy1v5's file itself: the libsnappy.so link is in libsnappy-dev, not installed
    find_library(BAIMS_SNAPPY_LIBRARY NAMES snappy libsnappy.so.1 REQUIRED)
    target_include_directories(baims_blosc INTERFACE ${BLOSC_INCLUDE_DIRS})
    target_link_libraries(baims_blosc INTERFACE ${_blosc} ${BAIMS_SNAPPY_LIBRARY} Threads::Threads)
    list(APPEND BAIMS_STATIC_ARCHIVES ${_blosc})
    set(BAIMS_STATIC_BLOSC ON)
else()
    target_link_libraries(baims_blosc INTERFACE PkgConfig::BLOSC)
endif()
if(_deflate)
    target_include_directories(baims_deflate INTERFACE ${LIBDEFLATE_INCLUDE_DIRS})
    target_link_libraries(baims_deflate INTERFACE ${_deflate})
    list(APPEND BAIMS_STATIC_ARCHIVES ${_deflate})
else()
    target_link_libraries(baims_deflate INTERFACE PkgConfig::LIBDEFLATE)
endif()
if(BAIMS_STATIC_ARCHIVES)
    set(_names "")
    foreach(a ${BAIMS_STATIC_ARCHIVES})
        get_filename_component(n ${a} NAME)
        list(APPEND _names ${n})
    endforeach()
    string(JOIN ":" _exclude ${_names})
    foreach(t baims_yaml_cpp baims_blosc baims_deflate)
        target_link_options(${t} INTERFACE "LINKER:--exclude-libs=${_exclude}")
    endforeach()
    string(JOIN ", " _names ${_names})
    message(STATUS "BAIMS_STATIC_DEPS: linking ${_names} statically")
endif()
