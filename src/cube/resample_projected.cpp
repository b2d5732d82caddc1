// Resampling a projected source (1-D x/y axes in a CRS): each output pixel centre is mapped into
// the source x/y through PROJ (one batch transform per output row), then located on the x and y
// axes with the rules of the separable maps (AxisLocator, as map_axis: nearest over the cell
// footprints including the outer half pixel; bilinear between the neighbouring centres, clamped in
// the outer half pixel). Average and mode go the other way: each source cell centre is mapped to
// lon/lat (inverse PROJ) and onto the output pixel holding it (set_cell_lists).

#include "baims/core/error.hpp"
#include "baims/core/interrupt.hpp"
#include "baims/cube/resample.hpp"

#include <algorithm>
#include <cmath>

namespace baims::cube {

namespace {

// Segments of an output row whose source positions are interpolated between exact ends.
constexpr size_t SEGMENT = 16;
// A segment whose midpoint is interpolated worse than this (source pixels) is projected exactly.
constexpr double MAX_ERROR = 0.01;

struct RowScratch {
    std::vector<double> kx, ky, mx, my, err; // knots, midpoints, error per segment
    std::vector<size_t> redo;                // pixels projected exactly after all
    std::vector<double> rx, ry;
};

// The source x/y of every output centre (lons[c], lat) of one row. Exact (PROJ) at every
// SEGMENT-th pixel, at the row's end and at each segment's midpoint; in between interpolated
// linearly when the midpoint's interpolation error is below MAX_ERROR source pixels. An
// interpolated point closer to an edge where the result jumps (AxisLocator::edge_distance) than
// 4x its segment's midpoint error (the largest error of a smooth curve's chord is near the
// midpoint) is projected exactly as well, so the maps equal those of projecting every point:
// nearest picks the same cell, bilinear the same neighbours with weights within 4x the error.
void project_row(const io::LonLatToCrs& to_src, const std::vector<double>& lons, double lat,
                 const AxisLocator& xa, const AxisLocator& ya, double x_step, double y_step,
                 bool nearest, std::vector<double>& xs, std::vector<double>& ys, RowScratch& s) {
    const size_t W = lons.size();
    const size_t nseg = (W - 1 + SEGMENT - 1) / SEGMENT; // segments [k*S, min((k+1)*S, W-1)]
    if (W < 2 * SEGMENT) {
        std::copy(lons.begin(), lons.end(), xs.begin());
        std::fill(ys.begin(), ys.end(), lat);
        to_src.transform(xs.data(), ys.data(), W);
        return;
    }
    auto end_of = [&](size_t k) { return std::min((k + 1) * SEGMENT, W - 1); };
    s.kx.resize(nseg + 1);
    s.ky.assign(nseg + 1, lat);
    s.mx.resize(nseg);
    s.my.assign(nseg, lat);
    for (size_t k = 0; k <= nseg; ++k) {
        s.kx[k] = lons[std::min(k * SEGMENT, W - 1)];
    }
    for (size_t k = 0; k < nseg; ++k) {
        s.mx[k] = lons[(k * SEGMENT + end_of(k)) / 2];
    }
    to_src.transform(s.kx.data(), s.ky.data(), nseg + 1);
    to_src.transform(s.mx.data(), s.my.data(), nseg);
    s.err.assign(nseg, 0.0);
    s.redo.clear();
    for (size_t k = 0; k < nseg; ++k) {
        const size_t a = k * SEGMENT, b = end_of(k), m = (a + b) / 2;
        const double fm = static_cast<double>(m - a) / static_cast<double>(b - a);
        const double ix = s.kx[k] + fm * (s.kx[k + 1] - s.kx[k]);
        const double iy = s.ky[k] + fm * (s.ky[k + 1] - s.ky[k]);
        const double e = std::max(std::abs(ix - s.mx[k]) / x_step, std::abs(iy - s.my[k]) / y_step);
        if (!(e <= MAX_ERROR)) { // also NaN: a point PROJ cannot map
            for (size_t c = a; c <= b; ++c) {
                s.redo.push_back(c);
            }
            continue;
        }
        s.err[k] = e;
        for (size_t c = a; c <= b; ++c) {
            const double f = static_cast<double>(c - a) / static_cast<double>(b - a);
            xs[c] = s.kx[k] + f * (s.kx[k + 1] - s.kx[k]);
            ys[c] = s.ky[k] + f * (s.ky[k + 1] - s.ky[k]);
            const double margin = 4.0 * e + 1e-9;
            if (xa.edge_distance(xs[c], nearest) < margin * x_step ||
                ya.edge_distance(ys[c], nearest) < margin * y_step) {
                s.redo.push_back(c);
            }
        }
    }
    if (s.redo.empty()) {
        return;
    }
    s.rx.resize(s.redo.size());
    s.ry.assign(s.redo.size(), lat);
    for (size_t i = 0; i < s.redo.size(); ++i) {
        s.rx[i] = lons[s.redo[i]];
    }
    to_src.transform(s.rx.data(), s.ry.data(), s.redo.size());
    for (size_t i = 0; i < s.redo.size(); ++i) {
        xs[s.redo[i]] = s.rx[i];
        ys[s.redo[i]] = s.ry[i];
    }
}

} // namespace

PixelMap map_projected(const io::ProjectedAxes& src, const grid::Grid& out, Resampling method,
                       const io::ForEach& for_each, const std::string& out_crs) {
    if (src.x.size() * src.y.size() >= (size_t{1} << 31)) {
        throw InputError("a projected source of " + std::to_string(src.y.size()) + " x " +
                             std::to_string(src.x.size()) + " cells is too large to map",
                         "Split the input into parts of fewer than 2^31 cells");
    }
    if (method == Resampling::Average || method == Resampling::Mode) {
        // Every source centre mapped to lon/lat, or to the projected output CRS's x/y (inverse
        // PROJ, in bands of source rows with a context each), and onto the output grid; the
        // nearest map fills the pixels without one.
        PixelMap m = map_projected(src, out, Resampling::Nearest, for_each, out_crs);
        const size_t SW = src.x.size(), SH = src.y.size();
        std::vector<std::uint32_t> cell(SW * SH, NO_CELL);
        const size_t bands = std::min<size_t>(SH, 16);
        for_each(bands, [&](size_t band) {
            const io::LonLatToCrs to_src =
                out_crs.empty() ? io::LonLatToCrs(src.crs) : io::LonLatToCrs(src.crs, out_crs);
            std::vector<double> xs(SW), ys(SW);
            for (size_t r = band * SH / bands; r < (band + 1) * SH / bands; ++r) {
                if ((r & 15) == 0) {
                    check_interrupted();
                }
                std::copy(src.x.begin(), src.x.end(), xs.begin());
                std::fill(ys.begin(), ys.end(), src.y[r]);
                to_src.inverse(xs.data(), ys.data(), SW);
                for (size_t c = 0; c < SW; ++c) {
                    cell[r * SW + c] = output_cell(out, xs[c], ys[c], out_crs.empty());
                }
            }
        });
        set_cell_lists(m, cell);
        return m;
    }
    PixelMap m;
    m.width = out.width();
    m.height = out.height();
    const size_t W = m.width, H = m.height, n = W * H;
    const bool nearest = method == Resampling::Nearest;
    if (nearest) {
        m.nearest.assign(n, -1);
    } else {
        m.lo.assign(n, -1);
        m.step.assign(n, 4); // (0, 0)
        m.wx.assign(n, 0.f);
        m.wy.assign(n, 0.f);
    }
    const auto lons = out.x_centers();
    const auto lats = out.y_centers();
    const auto src_w = static_cast<std::int64_t>(src.x.size());
    // A one-cell axis has no spacing of its own: its cell is as wide as the grid's other axis.
    const double x_step = src.x.size() > 1   ? std::abs(src.x[1] - src.x[0])
                          : src.y.size() > 1 ? std::abs(src.y[1] - src.y[0])
                                             : 1.0;
    const double y_step = src.y.size() > 1 ? std::abs(src.y[1] - src.y[0]) : x_step;
    const AxisLocator xa(src.x, x_step), ya(src.y, y_step);
    // Bands of output rows, each with its own PROJ context.
    const size_t bands = std::min<size_t>(H, 16);
    for_each(bands, [&](size_t band) {
        const io::LonLatToCrs to_src =
            out_crs.empty() ? io::LonLatToCrs(src.crs) : io::LonLatToCrs(src.crs, out_crs);
        std::vector<double> xs(W), ys(W);
        RowScratch scratch;
        for (size_t r = band * H / bands; r < (band + 1) * H / bands; ++r) {
            if ((r & 15) == 0) {
                check_interrupted();
            }
            project_row(to_src, lons, lats[r], xa, ya, x_step, y_step, nearest, xs, ys, scratch);
            const size_t base = r * W;
            for (size_t c = 0; c < W; ++c) {
                if (nearest) {
                    const auto sx = xa.nearest(xs[c]);
                    const auto sy = sx < 0 ? -1 : ya.nearest(ys[c]);
                    if (sy >= 0) {
                        m.nearest[base + c] = static_cast<std::int32_t>(sy * src_w + sx);
                    }
                    continue;
                }
                std::int32_t xl, xh, yl, yh;
                float wx, wy;
                if (!xa.bilinear(xs[c], xl, xh, wx) || !ya.bilinear(ys[c], yl, yh, wy)) {
                    continue;
                }
                m.lo[base + c] = static_cast<std::int32_t>(yl * src_w + xl);
                const int dc = xh - xl, dr = yh - yl;
                m.step[base + c] = static_cast<std::uint8_t>((dc + 1) + 3 * (dr + 1));
                m.wx[base + c] = wx;
                m.wy[base + c] = wy;
            }
        }
    });
    return m;
}

} // namespace baims::cube
