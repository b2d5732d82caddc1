// Block-wise zonal statistics over a GDAL raster (SPEC §10): only the blocks that hold selected
// pixels are read, block row by block row, the bands decoded in parallel (one dataset handle per
// worker thread), and each parcel's statistics are reduced as soon as the last block row that
// holds its pixels has been read by every band, so memory stays bounded by the blocks in flight.
#pragma once

#include "baims/zonal/mask.hpp"
#include "baims/zonal/stats.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace baims::zonal {

// What a raster is: its north-up grid and bands. No GDAL types.
struct RasterInfo {
    std::string path;
    int width = 0;
    int height = 0;
    PixelGrid grid;      // origin = the raster's upper-left corner
    std::string crs_wkt; // empty when the raster has no CRS
    int band_count = 0;
    int block_x = 0; // natural block size of band 1
    int block_y = 0;
    std::vector<std::string> band_names;       // description, else the 1-based index
    std::vector<std::optional<double>> nodata; // per band
    std::vector<bool> integer;                 // per band: integer data type
};

// Opens `path` (any GDAL raster name: file, /vsis3/…, NETCDF:"f.nc":var) and describes it.
// Throws InputError when it cannot be opened, has no band, or its geotransform is rotated.
RasterInfo describe_raster(const std::string& path);

// The column and row of the raster's pixel (0, 0) on `grid` (e.g. the Sentinel-2 grid of a UTM
// zone). Throws InputError when the raster's pixels are not pixels of that grid.
std::pair<std::int64_t, std::int64_t> grid_offset(const RasterInfo& raster, const PixelGrid& grid);

struct ZonalOptions {
    std::vector<int> bands;      // 1-based band numbers; empty = all
    bool hist = false;           // class counts (integer bands) instead of statistics
    bool zero_is_nodata = false; // 0 is no data too (Sentinel-2 L2A DN); statistics only
    int threads = 1;
    // The masks' grid column and row of raster pixel (0, 0); (0, 0) when the masks were made on
    // the raster's own grid.
    std::int64_t col_offset = 0;
    std::int64_t row_offset = 0;
};

struct ZoneStats {
    std::size_t zone = 0; // index into the masks
    int band = 0;         // 1-based band number
    Stats stats;
};

struct ZoneHist {
    std::size_t zone = 0;
    int band = 0;
    std::string json;
};

struct ZonalResult {
    std::vector<ZoneStats> stats; // sorted by zone, then band order of ZonalOptions::bands
    std::vector<ZoneHist> hists;
    std::uint64_t blocks_read = 0;  // (band, block) pairs decoded
    std::uint64_t blocks_total = 0; // (band, block) pairs of the requested bands
};

// Statistics (or class counts) of every mask over the raster. A pixel counts when the mask
// selects it, it lies inside the raster, and (statistics) it is not the band's nodata value, not
// NaN, and not 0 when zero_is_nodata. A mask with no valid pixel gets no row. Hist rows count
// every selected pixel inside the raster; a parcel whose only class is the band's nodata value (0
// when the band has none) gets no row. Throws InputError when a block cannot be read.
ZonalResult zonal_statistics(const RasterInfo& raster, std::span<const Mask> masks,
                             const ZonalOptions& options);

} // namespace baims::zonal
