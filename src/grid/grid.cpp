#include "baims/grid/grid.hpp"

#include "baims/core/error.hpp"

#include <cmath>
#include <cstdio>

namespace baims::grid {

Grid::Grid(Box extent, size_t width, size_t height)
    : m_extent(extent)
    , m_width(width)
    , m_height(height) {}

Grid Grid::from_size(Box region, size_t width, size_t height) {
    if (!(region.xmax > region.xmin) || !(region.ymax > region.ymin)) {
        throw ConfigError("the region is empty or inverted", "Give [xmin, ymin, xmax, ymax]");
    }
    if (width == 0 || height == 0) {
        throw ConfigError("the output size must be at least 1 x 1 pixel");
    }
    return Grid(region, width, height);
}

Grid Grid::from_resolution(Box region, double res_x, double res_y) {
    if (!(res_x > 0) || !(res_y > 0)) {
        throw ConfigError("the output resolution must be positive");
    }
    auto w = static_cast<size_t>(std::llround(region.width() / res_x));
    auto h = static_cast<size_t>(std::llround(region.height() / res_y));
    return from_size(region, std::max<size_t>(w, 1), std::max<size_t>(h, 1));
}

std::vector<double> Grid::x_centers() const {
    std::vector<double> v(m_width);
    for (size_t i = 0; i < m_width; ++i) {
        v[i] = x(i);
    }
    return v;
}

std::vector<double> Grid::y_centers() const {
    std::vector<double> v(m_height);
    for (size_t j = 0; j < m_height; ++j) {
        v[j] = y(j);
    }
    return v;
}

std::vector<double> Grid::geotransform() const {
    return {m_extent.xmin, dx(), 0.0, m_extent.ymax, 0.0, -dy()};
}

bool Grid::compatible(const Grid& o, double tol) const {
    if (m_width != o.m_width || m_height != o.m_height) {
        return false;
    }
    double tx = tol * dx(), ty = tol * dy();
    return std::abs(m_extent.xmin - o.m_extent.xmin) <= tx &&
           std::abs(m_extent.xmax - o.m_extent.xmax) <= tx &&
           std::abs(m_extent.ymin - o.m_extent.ymin) <= ty &&
           std::abs(m_extent.ymax - o.m_extent.ymax) <= ty;
}

std::string Grid::describe() const {
    char buf[200];
    std::snprintf(buf, sizeof buf, "%zux%zu over [%.10g, %.10g, %.10g, %.10g]", m_width, m_height,
                  m_extent.xmin, m_extent.ymin, m_extent.xmax, m_extent.ymax);
    return buf;
}

} // namespace baims::grid
