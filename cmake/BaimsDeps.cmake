# Third-party dependencies, all from Debian bookworm packages (scripts/install-deps.sh).
find_package(PkgConfig REQUIRED)
find_package(GDAL CONFIG REQUIRED)
find_package(PROJ CONFIG REQUIRED)
find_package(netCDF CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(CURL REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(BLOSC REQUIRED IMPORTED_TARGET blosc)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
# libpqxx's pkg-config file does not list libpq, which we call directly (PQconninfoParse, ...).
# Found here, not in src/db: cmake/BaimsLazyLoad.cmake delay-loads it.
find_package(PostgreSQL REQUIRED)
# Direct chunk reads of NetCDF-4 inputs (src/io/netcdf/h5_chunks.cpp): HDF5's chunk index, and
# libdeflate, which inflates zlib streams 2-3x faster than zlib itself.
pkg_check_modules(HDF5 REQUIRED IMPORTED_TARGET hdf5)
pkg_check_modules(LIBDEFLATE REQUIRED IMPORTED_TARGET libdeflate)
if(BUILD_TESTING)
    find_package(Catch2 CONFIG REQUIRED)
endif()
# yaml-cpp, blosc and libdeflate from their static archives (BAIMS_STATIC_DEPS): the modules link
# baims_yaml_cpp, baims_blosc and baims_deflate
include(BaimsStaticDeps)
