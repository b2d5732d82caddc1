# baims_module(NAME SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# Defines the static library baims_<NAME> from src/<NAME>; public headers live in include/baims/<NAME>.
function(baims_module name)
    cmake_parse_arguments(M "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
    add_library(baims_${name} STATIC ${M_SOURCES})
    target_include_directories(baims_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include
                               PRIVATE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(baims_${name} PUBLIC ${M_PUBLIC_DEPS} PRIVATE ${M_PRIVATE_DEPS})
    baims_set_warnings(baims_${name})
endfunction()

# baims_test(NAME LABEL <label> SOURCES ... LIBS ...): a Catch2 executable, cases discovered by ctest.
function(baims_test name)
    cmake_parse_arguments(T "" "LABEL" "SOURCES;LIBS" ${ARGN})
    add_executable(${name} ${T_SOURCES})
    target_link_libraries(${name} PRIVATE baims_catch_main ${T_LIBS})
    target_compile_definitions(${name} PRIVATE BAIMS_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                               BAIMS_BINARY="$<TARGET_FILE:baims>")
    baims_set_warnings(${name})
    catch_discover_tests(${name} TEST_PREFIX "${T_LABEL}:" PROPERTIES LABELS ${T_LABEL}
                         ENVIRONMENT "GDAL_PAM_ENABLED=NO")
endfunction()
