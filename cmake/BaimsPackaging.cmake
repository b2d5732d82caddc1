# Installation (`cmake --install`) and the Debian package (`cpack` in the build directory).
#   bin/baims
#   share/man/man1/baims.1, baims-<command>.1   generated from the CLI's --help (cmake/ManPages.cmake)
#   share/bash-completion/completions/baims     scripts/completion/baims.bash
#   share/doc/baims/                            README, LICENSE, docs/, example configs,
#                                               systemd units and crontab (configs/schedule/)
include(GNUInstallDirs)

option(BAIMS_MAN_PAGES "Generate man pages by running the built binary's --help" ON)
if(BAIMS_MAN_PAGES AND NOT CMAKE_CROSSCOMPILING AND NOT BAIMS_SANITIZE AND NOT BAIMS_SANITIZE_THREAD)
    add_custom_target(baims_man ALL
        COMMAND ${CMAKE_COMMAND} -DBIN=$<TARGET_FILE:baims> -DOUT=${PROJECT_BINARY_DIR}/man
                -DVERSION=${PROJECT_VERSION} -DEXIT_CODES=${PROJECT_SOURCE_DIR}/docs/exit-codes.md
                -P ${PROJECT_SOURCE_DIR}/cmake/ManPages.cmake
        DEPENDS baims ${PROJECT_SOURCE_DIR}/cmake/ManPages.cmake
        COMMENT "Generating man pages from baims --help"
        VERBATIM)
    install(DIRECTORY ${PROJECT_BINARY_DIR}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
            FILES_MATCHING PATTERN "*.1.gz")
endif()

install(FILES ${PROJECT_SOURCE_DIR}/scripts/completion/baims.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME baims)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/LICENSE
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/configs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME baims)
set(CPACK_PACKAGE_VENDOR "The baims authors")
set(CPACK_PACKAGE_CONTACT "The baims authors <baims@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Earth-observation data cubes (Zarr) and parcel monitoring (PostGIS) command-line tools")
set(CPACK_PACKAGE_DESCRIPTION
    "baims builds and extends Zarr data cubes from CF NetCDF (gen), finishes them for serving
(optimise, prune, tiles), imports the Sentinel catalogue, rasterises parcels and extracts
per-parcel statistics into PostGIS (catalog, rasterize, extract, ingest-vector).")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
# the runtime libraries (libstdc++, libgcc_s, libc, ...) found by dpkg-shlibdeps in the binary's
# NEEDED list; with BAIMS_STATIC_DEPS (cmake/BaimsStaticDeps.cmake) yaml-cpp, blosc, lz4, zstd,
# zlib and libdeflate are linked statically and spdlog and fmt compiled in, so the package does
# not depend on them
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# With BAIMS_LAZY_GDAL (cmake/BaimsLazyLoad.cmake) libgdal, libproj, libnetcdf, libhdf5, libcurl,
# libpq and (under a static blosc) libsnappy are not in NEEDED (baims dlopen()s them by SONAME on
# first use), so dpkg-shlibdeps cannot see them: the packages that ship the very files the build
# linked against (dpkg -S at configure time), at least the version built against. CPack adds the
# shlibdeps result to these. libpqxx is linked statically then (libpqxx.a): no libpqxx-6.4
# dependency.
if(BAIMS_LAZY_GDAL)
    set(_baims_lazy_depends "")
    foreach(_lib GDAL PROJ ${BAIMS_LAZY_OTHERS})
        if(NOT BAIMS_LAZY_${_lib}_PACKAGE)
            message(WARNING "BAIMS_LAZY_GDAL: no Debian package owns ${BAIMS_LAZY_${_lib}_PATH}; the "
                            "package will not depend on ${BAIMS_LAZY_${_lib}_SONAME}")
            continue()
        endif()
        set(_dep ${BAIMS_LAZY_${_lib}_PACKAGE})
        set(_version "${${_lib}_VERSION}")
        if(DEFINED BAIMS_LAZY_${_lib}_VERSION)
            set(_version "${BAIMS_LAZY_${_lib}_VERSION}")
        endif()
        if(_version MATCHES "^[0-9]+(\\.[0-9]+)+")
            string(APPEND _dep " (>= ${CMAKE_MATCH_0})")
        endif()
        list(APPEND _baims_lazy_depends "${_dep}")
    endforeach()
    string(JOIN ", " CPACK_DEBIAN_PACKAGE_DEPENDS ${_baims_lazy_depends})
endif()
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql-postgis, python3-xarray")
set(CPACK_STRIP_FILES ON)
include(CPack)
