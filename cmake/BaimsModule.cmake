# Precompiled headers (BAIMS_PCH): the std headers nearly every source includes (<filesystem>,
# <sstream>, <thread>, <chrono>... ~2.5 s of CPU per source at -O2; loading their PCH ~1 s) are
# compiled once per build into baims_pch, whose PCH every library, the binary and (with Catch2
# added, tests/CMakeLists.txt) every test target reuses. nlohmann/json.hpp is left out on purpose:
# in the PCH it costs the sources that do not include it as much as parsing it saves the others.
# GCC uses a PCH only with the -O/-f/-g flags it was built with: -Winvalid-pch (CMake adds it) with
# -Werror makes a mismatch a build error, never a silently slower build; a source compiled with
# other flags sets SKIP_PRECOMPILE_HEADERS (src/cube/expr_eval.cpp, -O3). Off by default behind
# ccache (env.sh): ccache does not cache a compile that uses a PCH unless its sloppiness is relaxed,
# so there the PCH would make every rebuild slower. CI's fresh machines have no ccache.
set(_baims_pch_default ON)
if(CMAKE_CXX_COMPILER_LAUNCHER MATCHES "ccache")
    set(_baims_pch_default OFF)
endif()
option(BAIMS_PCH "Precompiled headers (std; Catch2 for the tests)" ${_baims_pch_default})
set(BAIMS_PCH_STD <algorithm> <array> <atomic> <chrono> <cmath> <cstdint> <cstring> <filesystem>
    <fstream> <functional> <limits> <map> <memory> <mutex> <optional> <set> <sstream> <stdexcept>
    <string> <string_view> <thread> <vector>)
if(BAIMS_PCH)
    add_library(baims_pch OBJECT ${CMAKE_CURRENT_LIST_DIR}/pch_anchor.cpp)
    baims_set_warnings(baims_pch)
    target_precompile_headers(baims_pch PRIVATE ${BAIMS_PCH_STD})
endif()

# baims_use_pch(target): the target's sources use baims_pch's precompiled header (with BAIMS_PCH).
function(baims_use_pch target)
    if(BAIMS_PCH)
        target_precompile_headers(${target} REUSE_FROM baims_pch)
    endif()
endfunction()

# baims_module(NAME SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# Defines the static library baims_<NAME> from src/<NAME>; public headers live in include/baims/<NAME>.
function(baims_module name)
    cmake_parse_arguments(M "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
    add_library(baims_${name} STATIC ${M_SOURCES})
    target_include_directories(baims_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include
                               PRIVATE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(baims_${name} PUBLIC ${M_PUBLIC_DEPS} PRIVATE ${M_PRIVATE_DEPS})
    baims_set_warnings(baims_${name})
    baims_use_pch(baims_${name})
endfunction()

# baims_test_flags(target): what every Catch2 test target is compiled with (the definitions the tests
# read, the warnings) and, with BAIMS_PCH, tests/CMakeLists.txt's precompiled header; the
# PCH's own target gets the same flags, which GCC requires of a reused PCH.
function(baims_test_flags target)
    target_compile_definitions(${target} PRIVATE BAIMS_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                                 BAIMS_BINARY="$<TARGET_FILE:baims>")
    baims_set_warnings(${target})
    if(BAIMS_PCH AND NOT target STREQUAL "baims_test_pch")
        target_precompile_headers(${target} REUSE_FROM baims_test_pch)
    endif()
endfunction()

# BAIMS_CATCH_TESTS=OFF: the Catch2 test executables are neither built (EXCLUDE_FROM_ALL; the targets
# still exist, so the tests' CMakeLists can add to them) nor registered with ctest; the Python tests
# (conformance, s3 gen) stay. scripts/test.sh sets it in CI for the dev build, whose Catch2 tests
# would only repeat the ASan build's run of the same tests (see there).
option(BAIMS_CATCH_TESTS "Build and register the Catch2 test executables" ON)

# baims_test(NAME LABEL <label> SOURCES ... LIBS ...): a Catch2 executable, cases discovered by ctest.
function(baims_test name)
    cmake_parse_arguments(T "" "LABEL" "SOURCES;LIBS" ${ARGN})
    add_executable(${name} ${T_SOURCES})
    target_link_libraries(${name} PRIVATE baims_catch_main ${T_LIBS})
    baims_test_flags(${name})
    if(NOT BAIMS_CATCH_TESTS)
        set_target_properties(${name} PROPERTIES EXCLUDE_FROM_ALL ON)
        return()
    endif()
    catch_discover_tests(${name} TEST_PREFIX "${T_LABEL}:" PROPERTIES LABELS ${T_LABEL}
                         ENVIRONMENT "GDAL_PAM_ENABLED=NO")
endfunction()
