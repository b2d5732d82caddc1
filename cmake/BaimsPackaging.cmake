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
# the runtime libraries (GDAL, PROJ, netCDF, blosc, libpqxx, yaml-cpp, ...) found by dpkg-shlibdeps
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql-postgis, python3-xarray")
set(CPACK_STRIP_FILES ON)
include(CPack)
