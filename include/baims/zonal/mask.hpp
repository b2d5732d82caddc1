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
    AllTouched, // the Centre pixels plus every pixel whose open square a boundary segment crosses
                // (= the pixel and the polygon's interior overlap, for a valid polygon)
};

// The pixels a parcel selects: a window of the grid, row-major, north-up; 1 = selected, 0 = not.
struct Mask {
    std::int64_t col0 = 0; // grid column of pixels[0]
    std::int64_t row0 = 0; // grid row of pixels[0]
    int width = 0;
    int height = 0;
    std::vector<std::uint8_t> pixels; // width * height bytes

    std::int64_t count() const;                                // number of selected pixels
    bool empty() const { return count() == 0; }                // sub-pixel, empty or outside
    std::uint8_t at(std::int64_t col, std::int64_t row) const; // 0 outside the window
};

// Rasterise a (multi)polygon already expressed in the grid's CRS. The window is the smallest one
// holding every selected pixel (width = height = 0 when none is). Parts of a MultiPolygon are
// united. Centre rule: a centre exactly on an edge follows GDAL's rasterisation convention, so
// results equal gdal_rasterize (GDAL 3.6) on the same grid bit for bit (tests/unit/zonal). On a
// north-up grid a centre on a west edge is out, on an east edge in, on the north or south edge of
// the exterior in, on the north edge of a hole out. AllTouched equals GDAL's ALL_TOUCHED=TRUE for
// boundaries in general position; it differs where GDAL's line walker is approximate: a boundary
// lying exactly on pixel edges or through corners selects no pixel on its outer side (GDAL burns
// the pixels east/south of it), and a segment moving less than 0.01 pixel across a column or row
// edge selects the pixels it crosses (GDAL draws it straight and misses them).
// Throws InputError for a non-positive resolution, non-finite vertices or a polygon of more than
// 1e9 window pixels.
Mask rasterize(const MultiPolygon& geometry, const PixelGrid& grid, PixelRule rule);

// Geometry from OGC WKB / EWKB (Polygon or MultiPolygon, 2-D; Z/M ignored). Throws InputError on
// other types or malformed bytes.
MultiPolygon from_wkb(std::span<const std::uint8_t> wkb);

} // namespace baims::zonal
