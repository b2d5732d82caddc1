#pragma once
// A regular output grid: an extent (region) divided into width x height pixels, north-up.
// Row 0 is the northernmost row (lat descending), column 0 the westernmost.

#include <cstddef>
#include <string>
#include <vector>

namespace baims::grid {

struct Box {
    double xmin = 0, ymin = 0, xmax = 0, ymax = 0;
    double width() const { return xmax - xmin; }
    double height() const { return ymax - ymin; }
    bool operator==(const Box&) const = default;
};

class Grid {
public:
    Grid() = default;
    Grid(Box extent, size_t width, size_t height);

    // The region is honoured exactly: pixel size = extent / size.
    static Grid from_size(Box region, size_t width, size_t height);
    // width = round(region.width / res); the pixel size is then adjusted so the region is
    // honoured exactly (the caller may warn when it differs from res).
    static Grid from_resolution(Box region, double res_x, double res_y);

    const Box& extent() const { return m_extent; }
    size_t width() const { return m_width; }
    size_t height() const { return m_height; }
    double dx() const { return m_extent.width() / static_cast<double>(m_width); }
    double dy() const { return m_extent.height() / static_cast<double>(m_height); }
    // Pixel centres.
    double x(size_t col) const { return m_extent.xmin + (static_cast<double>(col) + 0.5) * dx(); }
    double y(size_t row) const { return m_extent.ymax - (static_cast<double>(row) + 0.5) * dy(); }
    std::vector<double> x_centers() const;
    std::vector<double> y_centers() const; // descending
    // GDAL geotransform (origin top-left).
    std::vector<double> geotransform() const;

    // Same extent and size within a tolerance of 1e-9 pixel.
    bool compatible(const Grid& other, double tolerance_pixels = 1e-6) const;
    std::string describe() const;

private:
    Box m_extent;
    size_t m_width = 0;
    size_t m_height = 0;
};

} // namespace baims::grid
