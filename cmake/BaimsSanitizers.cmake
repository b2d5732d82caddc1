# BAIMS_SANITIZE=ON builds everything with AddressSanitizer and UBSan;
# BAIMS_SANITIZE_THREAD=ON with ThreadSanitizer (CI builds only the binary with it).
option(BAIMS_SANITIZE "Build with -fsanitize=address,undefined" OFF)
option(BAIMS_SANITIZE_THREAD "Build with -fsanitize=thread" OFF)
if(BAIMS_SANITIZE AND BAIMS_SANITIZE_THREAD)
    message(FATAL_ERROR "BAIMS_SANITIZE and BAIMS_SANITIZE_THREAD exclude each other")
endif()
if(BAIMS_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
        # GCC 12 with -fsanitize at -O1 reports maybe-uninitialized false positives inside
        # libstdc++ (std::function in std::regex); the dev build keeps the warning.
        add_compile_options(-Wno-maybe-uninitialized)
    endif()
endif()
if(BAIMS_SANITIZE_THREAD)
    add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
    add_link_options(-fsanitize=thread)
endif()

# The GDAL-facing sources are compiled without UBSan's vptr check (-fno-sanitize=vptr), so that
# the ASan/UBSan baims can load GDAL and PROJ on first use (BAIMS_LAZY_GDAL, cmake/BaimsLazyLoad.cmake)
# as the dev and release builds do. The vptr check makes every member call and downcast on a
# polymorphic object reference the typeinfo of its static type; in these files those are GDAL's
# classes (_ZTI10OGRPolygon, _ZTI11GDALDataset, ...), data symbols of libgdal that no delay-load
# trampoline can stand for (lazy_stubs.sh refuses them, so a new source that needs to be listed
# here fails the build). Loading GDAL and its ~65 libraries at every start was ~40 % of the
# ~0.4 CPU s that each of the >1000 short ASan baims runs of a CI run costs (`baims --help`
# 465 -> 271 CPU ms; bench/results/2026-12-02-ci-time-2.md). What these files lose: the check that a GDAL object
# has the dynamic type our code casts it to (OGRGeometry -> OGRPolygon after getGeometryType());
# the rest of UBSan and all of ASan stay on for them, and vptr stays on everywhere else.
# They skip the precompiled header: GCC uses a PCH only with the -f flags it was built with.
#
# In both sanitizer builds the sources that src/cube compiles at -O3 for speed (expr_eval.cpp,
# tiles.cpp: vectorised loops) are compiled at the build's own level (-O1) like the rest: under
# ASan/UBSan tiles.cpp is the build's largest source, 51-61 CPU s at -O3, 30 at -O1 (GCC
# instruments every unrolled and vectorised copy of the loops; bench/results/2026-12-02-ci-time-2.md).
# The sanitizers check the same source either way; the dev build keeps -O3.
# Called by the top-level CMakeLists.txt once the modules' directories exist.
set(BAIMS_SANITIZE_NO_VPTR_SOURCES
    src/io/crs.cpp src/vector/layer_reader.cpp src/parcels/extract_file.cpp
    src/parcels/extract_db.cpp src/parcels/rasterize.cpp)
set(BAIMS_SANITIZE_NO_O3_SOURCES src/cube/expr_eval.cpp src/cube/tiles.cpp)
function(baims_sanitizer_source_options)
    if(NOT BAIMS_SANITIZE AND NOT BAIMS_SANITIZE_THREAD)
        return()
    endif()
    foreach(src ${BAIMS_SANITIZE_NO_O3_SOURCES} ${BAIMS_SANITIZE_NO_VPTR_SOURCES})
        if(BAIMS_SANITIZE AND src IN_LIST BAIMS_SANITIZE_NO_VPTR_SOURCES)
            set(options -fno-sanitize=vptr)
        elseif(src IN_LIST BAIMS_SANITIZE_NO_O3_SOURCES)
            set(options "")
        else()
            continue()
        endif()
        get_filename_component(dir ${PROJECT_SOURCE_DIR}/${src} DIRECTORY)
        if(EXISTS ${dir}/CMakeLists.txt)
            # replaces the directory's COMPILE_OPTIONS of the file (-O3 for the cube sources)
            set_source_files_properties(${PROJECT_SOURCE_DIR}/${src} DIRECTORY ${dir}
                PROPERTIES COMPILE_OPTIONS "${options}" SKIP_PRECOMPILE_HEADERS ON)
        endif()
    endforeach()
endfunction()
