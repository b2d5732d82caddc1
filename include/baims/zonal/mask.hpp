// Parcel masks on a north-up pixel grid: which pixels a polygon selects (SPEC §9, §10).
//
// This header is the contract between `rasterize` (mask tables) and `extract` (statistics over
// the masked pixels, in file and database mode). Everything here is pure: no GDAL, no database.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace baims::zonal {

// An unbounded north-up pixel grid. Pixel (col, row) covers
//   x in [origin_x + col * res_x, origin_x + (col + 1) * res_x)
//   y in (origin_y - (row + 1) * res_y, origin_y - row * res_y]
// Columns grow east, rows grow south; both may be negative. The Sentinel-2 grid of a UTM zone at
// resolution r is {0, 0, r, r}: pixel edges on multiples of r.
struct PixelGrid {
    double origin_x = 0;
    double origin_y = 0;
    double res_x = 1;
    double res_y = 1; // positive: the pixel height
};

// One linear ring, closed or not (the last vertex may repeat the first), in grid CRS units.
struct Ring {
    std::vector<double> x;
    std::vector<double> y;
};

// A polygon: rings[0] is the exterior, the others are holes. Even-odd filling over all rings.
struct Polygon {
    std::vector<Ring> rings;
};
using MultiPolygon = std::vector<Polygon>;

enum class PixelRule {
    Centre,     // the pixel centre lies inside the polygon (boundary: see rasterize())
    AllTouched, // the pixel's closed square and the polygon's interior intersect
};

// The pixels a parcel selects: a window of the grid, row-major, north-up; 1 = selected, 0 = not.
struct Mask {
    std::int64_t col0 = 0; // grid column of pixels[0]
    std::int64_t row0 = 0; // grid row of pixels[0]
    int width = 0;
    int height = 0;
    std::vector<std::uint8_t> pixels; // width * height bytes

    std::int64_t count() const;                      // number of selected pixels
    bool empty() const { return count() == 0; }      // sub-pixel, empty or outside
    std::uint8_t at(std::int64_t col, std::int64_t row) const; // 0 outside the window
};

// Rasterise a (multi)polygon already expressed in the grid's CRS. The window is the smallest one
// holding every selected pixel (width = height = 0 when none is). Centre rule: a centre exactly on
// an edge follows GDAL's rasterisation convention, so results equal gdal_rasterize on the same grid.
Mask rasterize(const MultiPolygon& geometry, const PixelGrid& grid, PixelRule rule);

// Geometry from OGC WKB / EWKB (Polygon or MultiPolygon, 2-D; Z/M ignored). Throws InputError on
// other types or malformed bytes.
MultiPolygon from_wkb(std::span<const std::uint8_t> wkb);

} // namespace baims::zonal
