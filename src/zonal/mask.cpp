// Parcel masks: scanline rasterisation of (multi)polygons on a north-up pixel grid.
//
// Centre rule. Rows are scanned at their pixel-centre line. In pixel space (x = column, y = row,
// both continuous, y growing south) an edge crosses the scanline y = r + 0.5 when
// min(y1, y2) <= r + 0.5 < max(y1, y2) (half-open, so a vertex on the line counts once); the
// crossing x is rounded to a pixel boundary with floor(x + 0.5), the crossings are sorted and
// paired even-odd over the rings of each part (parts are united), and a pair (a, b) selects columns
// a .. b - 1, i.e. the pixels whose centre lies in (x_a, x_b]. A horizontal edge lying exactly on
// the centre line is filled on its own when it runs west (its start east of its end) and ignored
// otherwise. This is the convention of GDAL's rasterizer (GDALRasterizeGeometries without
// ALL_TOUCHED), and the pixel coordinates are computed with GDAL's arithmetic (the inverted
// geotransform applied as origin term + coordinate * (1 / res)), so masks equal gdal_rasterize's
// bit for bit on the same grid, including vertices exactly on pixel centres and edges.
//
// AllTouched rule: the centre-rule pixels plus every pixel whose open square a boundary segment
// crosses. For boundaries in general position this equals GDAL's ALL_TOUCHED=TRUE; a boundary lying
// exactly on pixel edges or passing exactly through a corner does not select the pixel on the
// other side (GDAL's line walker burns the pixel east/south of such an edge).
#include "baims/zonal/mask.hpp"

#include "baims/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

namespace baims::zonal {

std::int64_t Mask::count() const {
    std::int64_t n = 0;
    for (const std::uint8_t v : pixels)
        n += v != 0;
    return n;
}

std::uint8_t Mask::at(std::int64_t col, std::int64_t row) const {
    if (col < col0 || row < row0 || col >= col0 + width || row >= row0 + height)
        return 0;
    return pixels[static_cast<std::size_t>((row - row0) * width + (col - col0))];
}

namespace {

// Pixel-space rings: x = column coordinate, y = row coordinate (both continuous).
struct PixelRings {
    std::vector<double> x, y;
    std::vector<std::size_t> starts; // ring i is [starts[i], starts[i+1])
    std::vector<bool> reverse;       // walk ring i backwards (it is counter-clockwise on the map)
};

// Whether a ring (map coordinates, the closing vertex optional) runs clockwise, decided as OGR's
// OGRLinearRing::isClockwise() does: the turn at the lowest, then rightmost vertex, and the
// signed area when that vertex is doubled or the turn is flat. For simple rings this is the
// sign of the area; for degenerate ones it reproduces GDAL's choice.
bool clockwise(const Ring& ring) {
    std::size_t n = std::min(ring.x.size(), ring.y.size());
    if (n < 2)
        return true;
    // OGR works on closed rings whose last vertex repeats the first: m = number of distinct slots
    const bool closed = ring.x[0] == ring.x[n - 1] && ring.y[0] == ring.y[n - 1];
    const std::size_t npts = closed ? n : n + 1; // OGR's nPointCount
    auto X = [&](std::size_t i) { return ring.x[i == n ? 0 : i]; };
    auto Y = [&](std::size_t i) { return ring.y[i == n ? 0 : i]; };
    constexpr double EPS = 1e-5;
    auto near = [](double a, double b) { return std::fabs(a - b) < EPS; };
    bool fallback = false;
    std::size_t v = 0;
    for (std::size_t i = 1; i + 1 < npts; ++i) {
        if (Y(i) < Y(v) || (Y(i) == Y(v) && X(i) > X(v))) {
            v = i;
            fallback = false;
        } else if (Y(i) == Y(v) && X(i) == X(v)) {
            fallback = true;
        }
    }
    std::size_t prev = v == 0 ? npts - 2 : v - 1;
    if (near(X(prev), X(v)) && near(Y(prev), Y(v)))
        fallback = true;
    const double dx0 = X(prev) - X(v), dy0 = Y(prev) - Y(v);
    std::size_t next = v + 1 >= npts - 1 ? 0 : v + 1;
    if (near(X(next), X(v)) && near(Y(next), Y(v)))
        fallback = true;
    const double dx1 = X(next) - X(v), dy1 = Y(next) - Y(v);
    const double cross = dx1 * dy0 - dx0 * dy1;
    if (!fallback) {
        if (cross > 0)
            return false;
        if (cross < 0)
            return true;
    }
    double sum = X(0) * (Y(1) - Y(npts - 1));
    for (std::size_t i = 1; i + 1 < npts; ++i)
        sum += X(i) * (Y(i + 1) - Y(i - 1));
    sum += X(npts - 1) * (Y(0) - Y(npts - 2));
    return sum < 0;
}

PixelRings to_pixel_space(const MultiPolygon& geometry, const PixelGrid& grid) {
    if (!(grid.res_x > 0) || !(grid.res_y > 0) || !std::isfinite(grid.res_x) ||
        !std::isfinite(grid.res_y))
        throw InputError("pixel grid resolution must be positive and finite (got " +
                             std::to_string(grid.res_x) + " x " + std::to_string(grid.res_y) + ")",
                         "Check the grid");
    // GDAL's inverse of the north-up geotransform {ox, rx, 0, oy, 0, -ry} (GDALInvGeoTransform's
    // no-rotation branch), applied as GDAL's transformer does.
    const double ix0 = -grid.origin_x / grid.res_x;
    const double ix1 = 1.0 / grid.res_x;
    const double iy0 = -grid.origin_y / -grid.res_y;
    const double iy1 = 1.0 / -grid.res_y;
    PixelRings out;
    for (const Polygon& polygon : geometry) {
        for (const Ring& ring : polygon.rings) {
            const std::size_t n = std::min(ring.x.size(), ring.y.size());
            if (n == 0)
                continue;
            out.starts.push_back(out.x.size());
            out.reverse.push_back(!clockwise(ring));
            for (std::size_t i = 0; i < n; ++i) {
                const double px = ix0 + ring.x[i] * ix1;
                const double py = iy0 + ring.y[i] * iy1;
                if (!std::isfinite(px) || !std::isfinite(py) || std::fabs(px) > 1e15 ||
                    std::fabs(py) > 1e15)
                    throw InputError("polygon vertex (" + std::to_string(ring.x[i]) + ", " +
                                         std::to_string(ring.y[i]) +
                                         ") is not finite or far outside the pixel grid",
                                     "Check the geometry and its CRS");
                out.x.push_back(px);
                out.y.push_back(py);
            }
        }
    }
    out.starts.push_back(out.x.size());
    return out;
}

// Scratch buffers reused between calls on one thread (rasterize is called once per parcel).
struct Scratch {
    std::vector<std::uint32_t> row_count;
    std::vector<std::uint32_t> cursor;
    std::vector<std::int64_t> crossings;
};

Scratch& scratch() {
    thread_local Scratch s;
    return s;
}

// A working window of the unbounded grid: columns [c0, c0 + w), rows [r0, r0 + h).
struct Window {
    std::int64_t c0 = 0, r0 = 0;
    std::int64_t w = 0, h = 0;
    std::vector<std::uint8_t> px;

    void fill(std::int64_t row, std::int64_t a, std::int64_t b) { // columns a..b inclusive
        a = std::max(a, c0);
        b = std::min(b, c0 + w - 1);
        if (a > b || row < r0 || row >= r0 + h)
            return;
        std::memset(px.data() + (row - r0) * w + (a - c0), 1, static_cast<std::size_t>(b - a + 1));
    }
    void set(std::int64_t col, std::int64_t row) {
        if (col >= c0 && col < c0 + w && row >= r0 && row < r0 + h)
            px[static_cast<std::size_t>((row - r0) * w + (col - c0))] = 1;
    }
};

std::int64_t floor_i(double v) {
    return static_cast<std::int64_t>(std::floor(v));
}

// Centre rule, GDAL's convention (see the file comment).
void fill_centres(const PixelRings& g, Window& win) {
    Scratch& s = scratch();
    const std::size_t rows = static_cast<std::size_t>(win.h);
    s.row_count.assign(rows + 1, 0);
    const std::size_t nrings = g.starts.size() - 1;

    // Visit every edge of every ring: edge from vertex i-1 to vertex i, the first edge closing the
    // ring from its last vertex. Calls f(x1, y1, x2, y2) with the edge's start and end.
    // GDAL orients every ring clockwise in map coordinates before scanning; only the direction of
    // horizontal edges depends on it (see clockwise()).
    auto for_each_edge = [&](auto&& f) {
        for (std::size_t r = 0; r < nrings; ++r) {
            const std::size_t b = g.starts[r], e = g.starts[r + 1];
            const bool reverse = g.reverse[r];
            for (std::size_t i = b; i < e; ++i) {
                const std::size_t p = i == b ? e - 1 : i - 1;
                if (reverse)
                    f(g.x[i], g.y[i], g.x[p], g.y[p]);
                else
                    f(g.x[p], g.y[p], g.x[i], g.y[i]);
            }
        }
    };
    // Rows whose centre line y = row + 0.5 satisfies lo <= y < hi: row in [ceil(lo - .5), ...).
    auto row_range = [&](double lo, double hi, std::int64_t& first, std::int64_t& last) {
        first = std::max<std::int64_t>(static_cast<std::int64_t>(std::ceil(lo - 0.5)), win.r0);
        last = std::min<std::int64_t>(static_cast<std::int64_t>(std::ceil(hi - 0.5)) - 1,
                                      win.r0 + win.h - 1);
        // Guard the rounding of lo - 0.5 and hi - 0.5 with GDAL's own test below.
        while (first > win.r0 && static_cast<double>(first - 1) + 0.5 >= lo)
            --first;
        while (first <= last && static_cast<double>(first) + 0.5 < lo)
            ++first;
        while (last < win.r0 + win.h - 1 && static_cast<double>(last + 1) + 0.5 < hi)
            ++last;
        while (last >= first && !(static_cast<double>(last) + 0.5 < hi))
            --last;
    };

    // Pass 1: count crossings per row (bucket sort by row, O(edges + crossings)).
    for_each_edge([&](double, double y1, double, double y2) {
        if (y1 == y2)
            return;
        std::int64_t first = 0, last = 0;
        row_range(std::min(y1, y2), std::max(y1, y2), first, last);
        for (std::int64_t row = first; row <= last; ++row)
            ++s.row_count[static_cast<std::size_t>(row - win.r0) + 1];
    });
    for (std::size_t i = 1; i <= rows; ++i)
        s.row_count[i] += s.row_count[i - 1];
    s.crossings.resize(s.row_count[rows]);
    s.cursor.assign(s.row_count.begin(), s.row_count.end() - 1);
    auto& cursor = s.cursor;

    // Pass 2: crossing columns, and horizontal edges lying on a centre line.
    for_each_edge([&](double x1, double y1, double x2, double y2) {
        if (y1 == y2) {
            // On a centre line and running west: GDAL fills it on its own.
            if (x1 > x2) {
                const double row_d = y1 - 0.5;
                const std::int64_t row = floor_i(row_d);
                if (static_cast<double>(row) + 0.5 == y1)
                    win.fill(row, floor_i(x2 + 0.5), floor_i(x1 + 0.5) - 1);
            }
            return;
        }
        double ylo = y1, yhi = y2, xlo = x1, xhi = x2;
        if (y1 > y2) {
            ylo = y2;
            yhi = y1;
            xlo = x2;
            xhi = x1;
        }
        std::int64_t first = 0, last = 0;
        row_range(ylo, yhi, first, last);
        for (std::int64_t row = first; row <= last; ++row) {
            const double dy = static_cast<double>(row) + 0.5;
            const double x = (dy - ylo) * (xhi - xlo) / (yhi - ylo) + xlo;
            s.crossings[cursor[static_cast<std::size_t>(row - win.r0)]++] = floor_i(x + 0.5);
        }
    });

    // Pass 3: pair the sorted crossings of each row.
    for (std::size_t r = 0; r < rows; ++r) {
        auto* b = s.crossings.data() + s.row_count[r];
        auto* e = s.crossings.data() + s.row_count[r + 1];
        if (e - b < 2)
            continue;
        std::sort(b, e);
        for (auto* p = b; p + 1 < e; p += 2)
            if (p[1] > p[0])
                win.fill(win.r0 + static_cast<std::int64_t>(r), p[0], p[1] - 1);
    }
}

// AllTouched extra: the pixels whose open square a boundary segment crosses.
void touch_segments(const PixelRings& g, Window& win) {
    const std::size_t nrings = g.starts.size() - 1;
    for (std::size_t ri = 0; ri < nrings; ++ri) {
        const std::size_t b = g.starts[ri], e = g.starts[ri + 1];
        for (std::size_t i = b; i < e; ++i) {
            const std::size_t p = i == b ? e - 1 : i - 1;
            double x1 = g.x[p], y1 = g.y[p], x2 = g.x[i], y2 = g.y[i];
            if (x1 == x2 && y1 == y2)
                continue;
            if (y1 == y2) { // horizontal: only inside an open row band
                const std::int64_t row = floor_i(y1);
                if (static_cast<double>(row) == y1)
                    continue; // on a pixel edge
                const double lo = std::min(x1, x2), hi = std::max(x1, x2);
                // columns c with c < hi and c + 1 > lo
                win.fill(row, floor_i(lo), static_cast<std::int64_t>(std::ceil(hi)) - 1);
                continue;
            }
            if (y1 > y2) {
                std::swap(y1, y2);
                std::swap(x1, x2);
            }
            const double slope = (x2 - x1) / (y2 - y1); // dx per dy
            const std::int64_t rfirst = floor_i(y1);
            const std::int64_t rlast = static_cast<std::int64_t>(std::ceil(y2)) - 1;
            for (std::int64_t row = rfirst; row <= rlast; ++row) {
                // y range of the segment inside the open band (row, row + 1)
                const double ya = std::max(static_cast<double>(row), y1);
                const double yb = std::min(static_cast<double>(row + 1), y2);
                if (!(ya < yb))
                    continue;
                const double xa = ya == y1 ? x1 : x1 + (ya - y1) * slope;
                const double xb = yb == y2 ? x2 : x1 + (yb - y1) * slope;
                const double lo = std::min(xa, xb), hi = std::max(xa, xb);
                if (lo == hi) { // vertical: a single x
                    const std::int64_t col = floor_i(lo);
                    if (static_cast<double>(col) != lo)
                        win.set(col, row);
                    continue;
                }
                win.fill(row, floor_i(lo), static_cast<std::int64_t>(std::ceil(hi)) - 1);
            }
        }
    }
}

} // namespace

Mask rasterize(const MultiPolygon& geometry, const PixelGrid& grid, PixelRule rule) {
    Mask mask;
    const PixelRings g = to_pixel_space(geometry, grid);
    if (g.x.empty())
        return mask;
    const auto [xmin, xmax] = std::minmax_element(g.x.begin(), g.x.end());
    const auto [ymin, ymax] = std::minmax_element(g.y.begin(), g.y.end());
    Window win;
    win.c0 = floor_i(*xmin) - 1;
    win.r0 = floor_i(*ymin) - 1;
    win.w = floor_i(*xmax) + 2 - win.c0;
    win.h = floor_i(*ymax) + 2 - win.r0;
    if (static_cast<double>(win.w) * static_cast<double>(win.h) > 1e9)
        throw InputError("polygon spans " + std::to_string(win.w) + " x " + std::to_string(win.h) +
                             " pixels, too large for one mask",
                         "Check the geometry, its CRS and the resolution");
    win.px.assign(static_cast<std::size_t>(win.w * win.h), 0);

    // Each part on its own (even-odd over its rings), the parts united: overlapping parts of an
    // invalid MultiPolygon stay selected, as with GDAL, which burns the parts one by one.
    if (geometry.size() == 1) {
        fill_centres(g, win);
    } else {
        for (const Polygon& part : geometry) {
            const PixelRings pg = to_pixel_space(MultiPolygon{part}, grid);
            if (!pg.x.empty())
                fill_centres(pg, win);
        }
    }
    if (rule == PixelRule::AllTouched)
        touch_segments(g, win);

    // Shrink the window to the selected pixels.
    std::int64_t cmin = win.w, cmax = -1, rmin = win.h, rmax = -1;
    for (std::int64_t r = 0; r < win.h; ++r) {
        const std::uint8_t* row = win.px.data() + r * win.w;
        const void* any = std::memchr(row, 1, static_cast<std::size_t>(win.w));
        if (!any)
            continue;
        rmin = std::min(rmin, r);
        rmax = r;
        std::int64_t c = static_cast<const std::uint8_t*>(any) - row;
        cmin = std::min(cmin, c);
        std::int64_t ce = win.w - 1;
        while (row[ce] == 0)
            --ce;
        cmax = std::max(cmax, ce);
    }
    if (rmax < 0)
        return mask;
    mask.col0 = win.c0 + cmin;
    mask.row0 = win.r0 + rmin;
    mask.width = static_cast<int>(cmax - cmin + 1);
    mask.height = static_cast<int>(rmax - rmin + 1);
    mask.pixels.resize(static_cast<std::size_t>(mask.width) * mask.height);
    for (int r = 0; r < mask.height; ++r)
        std::memcpy(mask.pixels.data() + static_cast<std::size_t>(r) * mask.width,
                    win.px.data() + (rmin + r) * win.w + cmin,
                    static_cast<std::size_t>(mask.width));
    return mask;
}

} // namespace baims::zonal
