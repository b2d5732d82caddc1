// `selection: jrc` in the database mode (SPEC §10): one pass of one image as the JRC numba
// extractor does it, on the JRC `_rast` tables (ST_AsRaster masks, also ones JRC's own scripts
// made). The arithmetic is in zonal/jrc; this file does the SQL and the pixel reads. The rows
// come back as COPY text; extract_db.cpp writes them exactly like its own.
#pragma once

#include "baims/db/connection.hpp"
#include "baims/db/identifiers.hpp"
#include "baims/db/settings.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace baims::parcels::jrc {

// The pass cannot run: the dias_catalogue status (SPEC §6.3) and why.
struct PassFailure {
    std::string status;
    std::string message;
};

struct Pass {
    std::int64_t obsid = 0;
    int epsg = 0;
    bool hist = false;              // scl pass: hists rows, else sigs rows
    std::vector<std::string> bands; // sigs band names, in order (band 1 decides on nodata)
    std::vector<std::string> files; // one raster per band
    db::QualifiedName mask_table;   // <parcel_table>_<epsg>_<res>_rast
};

// The rows of the pass: pid, obsid, band, count, mean, std, min, max, p25, p50, p75 (sigs) or
// pid, obsid, hist (hists), as text; values stored as real print as the float they become.
// Throws PassFailure (Parcel SQL, No extent, Rio error).
std::vector<std::vector<std::string>>
run_pass(db::Connection& conn, const db::ConnectionSettings& settings, const Pass& pass);

} // namespace baims::parcels::jrc
