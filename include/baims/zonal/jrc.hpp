// `selection: jrc` (SPEC §10): the pixel selection and statistics of the JRC numba extractor
// (gt4cap/extraction), reproduced so that existing sigs/hists stay comparable bit for bit.
//
// What differs from baims's own selection (docs/jrc-compat.md draws each quirk):
// - the masks are JRC's `ST_AsRaster(geom, res, res, '8BUI')` rasters: anchored on each parcel's
//   own envelope, south-up (positive scale Y, so ipY is the south edge and row 0 the southmost);
// - the mask reader takes width * height bytes from byte 62 of the raster WKB, which is the band's
//   nodata byte, not its first pixel (byte 63): every pixel is shifted one place along the rows,
//   the first pixel of a row shows up as the last of the row before, the last pixel is lost;
// - a mask pixel (r, c) maps to window pixel (floor((uly - ipY) / dx) - r, floor((ipX - ulx) / dx)
//   + c), where (ulx, uly) is the corner of the AOI extent clipped to the image, not the corner of
//   the pixel window that was read (which starts at the floor of it);
// - statistics: band 1 decides; a parcel is dropped when any selected band-1 pixel is 0; the
//   other bands keep their 0s. mean and std summed in order (numba), std = var ** 0.5.
// Pure arithmetic, no GDAL, no database.
#pragma once

#include "baims/zonal/mask.hpp"
#include "baims/zonal/stats.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace baims::zonal::jrc {

// A mask as the JRC reader returns it.
struct RasterMask {
    double ip_x = 0; // upper-left of the WKB header (for ST_AsRaster masks: the west edge)
    double ip_y = 0; // (for ST_AsRaster masks, south-up: the south edge)
    int width = 0;
    int height = 0;
    std::vector<std::uint8_t> pixels; // width * height bytes read from byte 62 of the WKB
};

// Reads PostGIS raster WKB (ST_AsBinary(rast), little endian) as the JRC reader does. Throws
// InputError on big-endian or truncated bytes, no band, or a band 1 that is not 8BUI.
RasterMask read_raster_wkb(std::span<const std::uint8_t> wkb);

// A pixel of the data window: row and column from its upper-left corner.
struct Index {
    std::int32_t row = 0;
    std::int32_t col = 0;
};

// The window pixels a mask selects, in the JRC order (mask row by row, west to east): mask
// pixels equal to 1, mapped against the corner (ulx, uly), dropped outside [0, rows) x [0, cols).
std::vector<Index> indices(const RasterMask& mask, double ulx, double uly, double dx, int rows,
                           int cols);

// The pixel window the JRC stats passes read: the AOI extent in the image CRS clipped to the
// image; its first pixel the floor of the clipped corner, its size the ceiling of the clipped
// extent. `ulx`/`uly` are the clipped corner the masks are then mapped against.
struct Window {
    std::int64_t col0 = 0; // image column of window pixel (0, 0)
    std::int64_t row0 = 0;
    int width = 0;
    int height = 0;
    double ulx = 0;
    double uly = 0;
};
Window aoi_window(double xmin, double ymin, double xmax, double ymax, double image_ulx,
                  double image_uly, int image_width, int image_height, double dx);

// The statistics numba's getStats returns over `values` (in selection order): none for no
// value, and, with `check_nodata` (band 1), none when any value is 0. mean = sum / n and
// std = (sum((v - mean)^2) / n) ** 0.5, both summed in order; percentiles linear between the
// closest ranks.
std::optional<Stats> stats(std::span<const double> values, bool check_nodata);

// The hist JSON text of the classes of `values` (np.unique counts, json.dumps): none when there
// is no value or the only class is 0.
std::optional<std::string> hist(std::span<const std::int64_t> values);

} // namespace baims::zonal::jrc
