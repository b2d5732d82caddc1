// `baims extract` (SPEC §10): per-parcel, per-band statistics and class histograms.
//
// File mode (no database): any GDAL raster × any OGR polygon source → one row per parcel and band
// written through OGR (CSV, GPKG, …). Masks are made on the raster's own grid with
// zonal::rasterize; statistics come from zonal::zonal_statistics, the code path the database mode
// uses too.
#pragma once

#include "baims/db/settings.hpp"
#include "baims/zonal/mask.hpp"

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace baims::parcels {

struct FileExtractRequest {
    std::vector<std::string> rasters; // GDAL names
    std::string parcels;              // OGR source
    std::string layer;                // empty: the only (first) layer
    std::string id_field;             // empty: the feature id (column "pid")
    std::vector<std::string> bands;   // 1-based numbers or band names; empty: all
    std::string a_srs;                // CRS of rasters that have none (e.g. lon/lat NetCDF)
    bool hist = false;                // class counts instead of statistics
    bool all_touched = false;
    bool zero_is_nodata = false; // also treat 0 as no data (Sentinel-2 L2A DN)
    std::string output;          // file (or any OGR data source name)
    std::string format;          // OGR driver; empty: from the extension, else CSV
    int threads = 1;
    bool dry_run = false;
};

struct FileExtractSummary {
    std::uint64_t parcels = 0;       // features read
    std::uint64_t empty_parcels = 0; // selecting no pixel of a raster (sub-pixel, outside)
    std::uint64_t rows = 0;          // rows written
};

// Runs the file mode. Throws UsageError/InputError/OutputError. The output appears complete or
// not at all: a file output is written under a temporary name in its folder and renamed.
FileExtractSummary extract_file(const FileExtractRequest& request);

// ---------------------------------------------------------------------------------------------
// Database mode (the JRC job, SPEC §10): claims images of dias_catalogue, extracts their passes
// and writes sigs/hists rows with the status change in one transaction per (image, pass).

struct DbExtractRequest {
    std::string card = "s2"; // s2, bs (Sentinel-1 CARD-BS) or c6 (Sentinel-1 CARD-COH6)
    // s2: scl, 10, 20; bs: bs (Gamma0_VV/VH -> VVb, VHb); c6: c6 (VV/VH coherence -> VVc,
    // VHc). Empty: every pass of the card.
    std::vector<std::string> passes;
    std::vector<std::string> bands_10{"B02", "B03", "B04", "B08"};
    std::vector<std::string> bands_20{"B05", "B06", "B07", "B8A", "B11", "B12"};
    std::string eodata = "/eodata";        // where the /eodata tree is (local folder or /vsis3/…)
    std::int64_t obsid = 0;                // 0: any
    std::int64_t limit = 0;                // images to claim at most; 0: no limit
    std::vector<std::string> rerun_status; // also claim images with these statuses
    // "dn" (stored DN, JRC-compatible) or "harmonized" (DN + the L2A BOA_ADD_OFFSET of the band
    // for processing baselines >= 04.00, SPEC §10); empty: db_config args.values, else "dn".
    std::string values;
    // "exact" (SPEC §9/§10 masks and statistics) or "jrc" (the JRC numba extractor bit for bit,
    // on the JRC ST_AsRaster mask tables, docs/jrc-compat.md); empty: db_config args.selection,
    // else "exact".
    std::string selection;
    int lease_seconds = 600;
    int workers = 1; // claim loops in this process
    int threads = 1; // decode threads per worker
    bool create_tables = false;
    bool dry_run = false;
};

struct DbExtractSummary {
    std::uint64_t extracted = 0;
    std::uint64_t no_parcels = 0;
    std::uint64_t failed = 0;
    std::uint64_t rows = 0;
    std::vector<std::string> failures; // "obsid <id> (<reference>): <status>: <message>"
    std::map<std::string, std::uint64_t> failed_by_status;
    double seconds = 0; // wall time of the run
};

// The summary line of a run: images done / without parcels / failed by status, rows written,
// throughput (SPEC §10 Summary).
std::string format_summary(const DbExtractSummary& s);

// A parcel mask from a PostGIS raster WKB (ST_AsBinary(rast)): band 1, 8BUI, selected = not 0
// and not the band's nodata value; the grid position from the raster's upper-left corner on
// the zone grid {0, 0, res, res}. Throws InputError on malformed bytes or a skewed raster.
zonal::Mask mask_from_raster_wkb(std::span<const std::uint8_t> wkb, double res);

// The BOA_ADD_OFFSET of each band (B01 … B12, B8A) of an L2A product from the text of its
// MTD_MSIL2A.xml: empty for processing baselines below 04.00 (no offset). Throws InputError
// when a baseline >= 04.00 lists no offset.
std::map<std::string, double> boa_add_offsets(const std::string& mtd_xml);

// The EPSG code of a Sentinel-2 product's UTM zone from its name (…_T32UNG_… → 32632).
int s2_epsg(const std::string& reference);

// Runs the database mode until no image is left. Returns the summary (failed > 0: exit 8).
DbExtractSummary extract_db(const DbExtractRequest& request,
                            const db::ConnectionSettings& settings);

} // namespace baims::parcels
