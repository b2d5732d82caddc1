#pragma once
// `baims rasterize`: per-parcel 8-bit masks on the Sentinel-2 pixel grid of each UTM zone and
// resolution, in tables <parcel_table>_<EPSG>_<res>_rast(pid integer primary key, rast raster)
// (SPEC 9, docs/cli/rasterize.md).

#include "baims/db/settings.hpp"
#include "baims/zonal/mask.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace baims::parcels {

struct RasterizeRequest {
    std::string aoi;          // aois row name: zones (without epsg) and the parcels' extent
    bool all_parcels = false; // every parcel of the table, not only those in the AOI's extent
    int threads = 1;          // masks rasterised on this many threads (output identical for any)
    std::string aoi_field;    // name column of the aoi table; empty: args/`name`
    std::vector<int> epsg;    // empty: derived from the catalogue's S2 tile ids
    std::vector<int> res{10, 20};             // metres
    bool all_touched = false;                 // PixelRule::AllTouched instead of Centre
    bool only_new = false;                    // add masks for parcels without one; keep the rest
    std::optional<db::QualifiedName> parcels; // overrides tables.parcel_table
    std::string pid_column = "ogc_fid";
    std::string geometry_column;   // empty: from geometry_columns (wkb_geometry, geometry, ...)
    bool create_extension = false; // CREATE EXTENSION postgis_raster when it is missing
    bool dry_run = false;
};

struct RasterizeTableSummary {
    std::string table; // quoted, schema-qualified
    int epsg = 0;
    int res = 0;
    std::int64_t written = 0;  // rows inserted
    std::int64_t kept = 0;     // --only-new: parcels that already had a mask
    std::int64_t subpixel = 0; // no pixel selected (no row)
    std::int64_t failed = 0;   // mask could not be made or stored (no row; logged)
    double seconds = 0;
};

struct RasterizeSummary {
    std::int64_t parcels = 0;       // rows of the parcel table
    std::int64_t invalid = 0;       // repaired with MakeValid
    std::int64_t empty = 0;         // NULL or empty geometry, or nothing polygonal (no row)
    std::int64_t not_polygonal = 0; // points/lines (no row), part of `empty`
    std::int64_t outside = 0;       // bounding box not meeting the AOI's extent (no row)
    std::int64_t failed = 0; // could not be read, reprojected, rasterised (no row; logged); summed
                             // over zones and tables
    std::vector<RasterizeTableSummary> tables;
};

// Runs the whole command. Unless all_parcels, only parcels whose bounding box (in the zone's CRS)
// meets the extent of the AOI (the bounding box of its geometry reprojected, densified, to the
// zone's CRS) get a mask. Throws ConfigError (no parcel table configured), InputError (AOI
// unknown, no zone found), DatabaseError (missing tables/columns, SQL errors, exit 6).
RasterizeSummary rasterize_parcels(const RasterizeRequest& request,
                                   const db::ConnectionSettings& settings);

// UTM EPSG code of a Sentinel-2 tile id ("T32UNG" or "32UNG" -> 32632; latitude bands C..M are
// south -> 327zz). nullopt for anything else.
std::optional<int> utm_epsg_of_tile(const std::string& tile);

// The PostGIS raster WKB (hex, upper case) of one mask: one 8BUI band, nodata 0, north-up,
// upper-left corner (col0 * res, -row0 * res) on the zone grid {0, 0, res, res}, the given SRID.
std::string mask_raster_hex(const zonal::Mask& mask, double res, int srid);

// "<name>_<epsg>_<res>_rast" in the parcel table's schema (ConfigError if longer than 63 bytes).
db::QualifiedName mask_table_name(const db::QualifiedName& parcels, int epsg, int res);

} // namespace baims::parcels
