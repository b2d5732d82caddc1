// `baims extract` (SPEC §10): per-parcel, per-band statistics and class histograms.
//
// File mode (no database): any GDAL raster × any OGR polygon source → one row per parcel and band
// written through OGR (CSV, GPKG, …). Masks are made on the raster's own grid with
// zonal::rasterize; statistics come from zonal::zonal_statistics, the code path the database mode
// uses too.
#pragma once

#include <cstdint>
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

} // namespace baims::parcels
