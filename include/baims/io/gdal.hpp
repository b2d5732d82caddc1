#pragma once
// GDAL process setup and error capture. No GDAL types in this header.

#include <memory>
#include <string>

namespace baims::io::gdal {

// Routes CPL messages to the log, sets GDAL_PAM_ENABLED=NO unless set. Create one in main(); it
// is destroyed last. It does not register the drivers: see register_drivers().
class Session {
public:
    Session();
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
};

// Registers GDAL's drivers (GDALAllRegister) once per process, on the first call; thread-safe.
// Call it before anything that needs a driver (GDALOpenEx, GDALDataset::Open, GetDriverByName).
// Commands that never open a file through GDAL (gen on NetCDF inputs, optimise, prune, tiles
// without --png) so skip registering ~200 drivers at start-up.
void register_drivers();

// Captures CPLError messages raised while it lives (pushes a handler; pops it on destruction).
class ErrorScope {
public:
    ErrorScope();
    ~ErrorScope();
    ErrorScope(const ErrorScope&) = delete;
    ErrorScope& operator=(const ErrorScope&) = delete;
    bool failed() const;
    std::string last_error() const;
    // The first CE_Failure message (often the one with the cause), else the first warning.
    std::string first_error() const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

// "GDAL 3.6.2, PROJ 9.1.1, netCDF 4.9.0, c-blosc 1.21.3, libcurl 7.88.1"
std::string library_versions();

} // namespace baims::io::gdal
