// Resampling a curvilinear source (2-D lat/lon of every cell, LatLon2D) onto the output grid by
// inverse mapping of output pixel centres into the swath.
//
// The swath footprint is the union of its quads: four neighbouring cell centres (r, c),
// (r, c+1), (r+1, c), (r+1, c+1), all with a position. Each quad is walked once and rasterised
// onto the output pixel centres inside its bounding box; a centre is inside the quad when the
// inverse of the quad's bilinear map gives (s, t) in [0, 1]^2. So every output centre inside the
// footprint gets a value (no gaps between quads) and none outside it does (the outer half cell
// beyond the outermost centres is outside). A centre on an edge shared by two quads takes the
// first quad in swath order. Two passes, each spread over threads by for_each: bands of swath
// rows find each output pixel's quad (an atomic minimum of the quad index: the result does not
// depend on the threads), then bands of output rows fill the map from it.
//   nearest   the cell whose centre is nearest to the output centre, searched among the 4x4
//             cells around the quad (rows r-1..r+2, columns c-1..c+2): for any swath whose
//             cells are not extremely sheared this is the nearest cell centre of the whole
//             swath. Distance: local equirectangular, (dlon * cos(lat0), dlat) with lat0 the
//             mean latitude of the swath.
//   bilinear  the quad's four corners with the weights (s, t) of the inverse bilinear map: a
//             field linear in the swath's row/column indices is reproduced exactly.
//   average, mode  the cells whose centres fall inside the output pixel (output_cell), else
//             the nearest cell as above (set_cell_lists).
// A swath that crosses the antimeridian (neighbouring cells more than 180 degrees of longitude
// apart) is walked with its longitudes in [0, 360), where its quads are whole; each quad meets the
// output grid at its longitudes or 360 degrees away, so an output grid on either side of the
// antimeridian (-180..180 or 0..360) gets it without a smear across the globe.

#include "baims/core/error.hpp"
#include "baims/cube/resample.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numbers>

namespace baims::cube {
namespace {

struct Pt {
    double x, y;
};

// (s, t) with P(s, t) = a + s (b - a) + t (c - a) + s t (a - b - c + d) = p, by Newton's method
// from the quad's centre. False when it does not converge.
bool invert_bilinear(const Pt& a, const Pt& b, const Pt& c, const Pt& d, const Pt& p, double& s,
                     double& t) {
    const double ex = b.x - a.x, ey = b.y - a.y; // along s
    const double fx = c.x - a.x, fy = c.y - a.y; // along t
    const double gx = a.x - b.x - c.x + d.x, gy = a.y - b.y - c.y + d.y;
    s = 0.5;
    t = 0.5;
    const double scale = std::abs(ex) + std::abs(ey) + std::abs(fx) + std::abs(fy);
    for (int it = 0; it < 20; ++it) {
        const double rx = a.x + s * ex + t * fx + s * t * gx - p.x;
        const double ry = a.y + s * ey + t * fy + s * t * gy - p.y;
        const double j11 = ex + t * gx, j12 = fx + s * gx;
        const double j21 = ey + t * gy, j22 = fy + s * gy;
        const double det = j11 * j22 - j12 * j21;
        if (det == 0 || !std::isfinite(det)) {
            return false;
        }
        const double ds = (j22 * rx - j12 * ry) / det;
        const double dt = (j11 * ry - j21 * rx) / det;
        s -= ds;
        t -= dt;
        if (std::abs(ds) + std::abs(dt) < 1e-13 && std::abs(rx) + std::abs(ry) < 1e-12 * scale) {
            return true;
        }
    }
    const double rx = a.x + s * ex + t * fx + s * t * gx - p.x;
    const double ry = a.y + s * ey + t * fy + s * t * gy - p.y;
    return std::abs(rx) + std::abs(ry) < 1e-9 * scale;
}

// Whether neighbouring cells are more than 180 degrees of longitude apart: the swath crosses the
// antimeridian.
bool crosses_antimeridian(const io::LatLon2D& src) {
    const size_t H = src.height, W = src.width;
    for (size_t r = 0; r + 1 < H; ++r) {
        for (size_t c = 0; c + 1 < W; ++c) {
            const size_t q = r * W + c;
            const double a = src.lon_at(q), b = src.lon_at(q + 1), d = src.lon_at(q + W);
            if (std::abs(a - b) > 180.0 || std::abs(a - d) > 180.0) { // NaN compares false
                return true;
            }
        }
    }
    return false;
}

} // namespace

PixelMap map_swath(const io::LatLon2D& src_ll, const grid::Grid& out, Resampling method,
                   const io::ForEach& for_each, const std::string& out_crs) {
    // A projected output grid: the swath positions are projected into the output CRS once and
    // the quads rasterised there (lon -> x, lat -> y; distances in the CRS's units).
    const bool projected = !out_crs.empty();
    io::LatLon2D xy;
    if (projected) {
        xy.height = src_ll.height;
        xy.width = src_ll.width;
        if (src_ll.packed()) {
            xy.lat.resize(src_ll.lat_packed.size());
            xy.lon.resize(src_ll.lon_packed.size());
            for (size_t i = 0; i < xy.lat.size(); ++i) {
                xy.lat[i] = src_ll.lat_at(i);
                xy.lon[i] = src_ll.lon_at(i);
            }
        } else {
            xy.lat = src_ll.lat;
            xy.lon = src_ll.lon;
        }
        const size_t n = xy.lat.size(), parts = std::max<size_t>(1, std::min<size_t>(16, n / 4096));
        for_each(parts, [&](size_t k) {
            const io::LonLatToCrs to_out(out_crs);
            const size_t a = k * n / parts, b = (k + 1) * n / parts;
            to_out.transform(xy.lon.data() + a, xy.lat.data() + a, b - a);
        });
    }
    const io::LatLon2D& src = projected ? xy : src_ll;
    const size_t H = src.height, W = src.width;
    if (method == Resampling::Average || method == Resampling::Mode) {
        // Each cell centre onto the output pixel holding it; the nearest map fills the pixels
        // inside the footprint that hold none.
        PixelMap m = map_swath(src_ll, out, Resampling::Nearest, for_each, out_crs);
        std::vector<std::uint32_t> cell(H * W, NO_CELL);
        const size_t rows_per = 256;
        for_each((H + rows_per - 1) / rows_per, [&](size_t b) {
            for (size_t i = b * rows_per * W; i < std::min(H, (b + 1) * rows_per) * W; ++i) {
                cell[i] = output_cell(out, src.lon_at(i), src.lat_at(i), !projected);
            }
        });
        set_cell_lists(m, cell);
        return m;
    }
    const size_t OW = out.width(), OH = out.height();
    PixelMap m;
    m.width = OW;
    m.height = OH;
    const bool nearest = method == Resampling::Nearest;
    if (nearest) {
        m.nearest.assign(OW * OH, -1);
    } else {
        m.lo.assign(OW * OH, -1);
        m.step.assign(OW * OH, 8); // +1 column, +1 row
        m.wx.assign(OW * OH, 0.0f);
        m.wy.assign(OW * OH, 0.0f);
    }
    if (H < 2 || W < 2 || OW == 0 || OH == 0) {
        return m;
    }
    if (H * W > static_cast<size_t>(std::numeric_limits<std::int32_t>::max())) {
        throw InputError("a swath of " + io::describe(io::Geometry{src}) +
                         " cells is too large to resample (at most 2^31 cells)");
    }
    // Local equirectangular scale of longitude for the nearest distance.
    double lat_sum = 0;
    size_t lat_n = 0;
    for (size_t i = 0; i < H * W; ++i) {
        const double v = src.lat_at(i);
        if (std::isfinite(v)) {
            lat_sum += v;
            ++lat_n;
        }
    }
    const double kx =
        projected ? 1.0
        : lat_n   ? std::cos(lat_sum / static_cast<double>(lat_n) * std::numbers::pi / 180.0)
                  : 1.0;

    const auto& ex = out.extent();
    const double dx = out.dx(), dy = out.dy();
    // A swath across the antimeridian (a quad whose corners span more than 180 degrees of
    // longitude) is walked with its longitudes in [0, 360), where it is continuous.
    std::vector<double> unwrapped;
    if (!projected && crosses_antimeridian(src)) {
        unwrapped.resize(H * W);
        for (size_t i = 0; i < H * W; ++i) {
            const double x = src.lon_at(i);
            unwrapped[i] = x < 0 ? x + 360.0 : x;
        }
    }
    auto lon = [&](size_t i) { return unwrapped.empty() ? src.lon_at(i) : unwrapped[i]; };
    auto pos = [&](size_t i) { return Pt{lon(i), src.lat_at(i)}; };
    // An output longitude moved by a multiple of 360 degrees next to the swath's longitude x0.
    auto near_lon = [projected](double x, double x0) {
        if (projected) {
            return x; // x of the output CRS, not a longitude
        }
        while (x - x0 > 180.0) {
            x -= 360.0;
        }
        while (x0 - x > 180.0) {
            x += 360.0;
        }
        return x;
    };
    // (s, t) of output centre p in quad q (its corner (r, c) at flat index q), or false.
    auto locate = [&](size_t q, const Pt& p, double& s, double& t) {
        constexpr double EPS = 1e-9;
        if (!invert_bilinear(pos(q), pos(q + 1), pos(q + W), pos(q + W + 1), p, s, t) || s < -EPS ||
            s > 1 + EPS || t < -EPS || t > 1 + EPS) {
            return false;
        }
        s = std::clamp(s, 0.0, 1.0);
        t = std::clamp(t, 0.0, 1.0);
        return true;
    };
    // Pass 1, in parallel over bands of swath rows: each output pixel's owner, the first quad in
    // swath order that holds its centre (an atomic minimum, so the result does not depend on the
    // order the bands run in). Kept in the map's own index array.
    std::vector<std::int32_t>& owner = nearest ? m.nearest : m.lo;
    std::fill(owner.begin(), owner.end(), std::numeric_limits<std::int32_t>::max());
    const size_t band = 64;
    const size_t nbands = (H - 1 + band - 1) / band;
    for_each(nbands, [&](size_t b) {
        const size_t r_end = std::min(H - 1, (b + 1) * band);
        for (size_t r = b * band; r < r_end; ++r) {
            for (size_t c = 0; c + 1 < W; ++c) {
                const size_t q = r * W + c;
                const Pt a = pos(q), bb = pos(q + 1), cc = pos(q + W), d = pos(q + W + 1);
                const double xmin = std::min({a.x, bb.x, cc.x, d.x});
                const double xmax = std::max({a.x, bb.x, cc.x, d.x});
                const double ymin = std::min({a.y, bb.y, cc.y, d.y});
                const double ymax = std::max({a.y, bb.y, cc.y, d.y});
                if (!std::isfinite(xmin + xmax + ymin + ymax) ||
                    (!projected && xmax - xmin > 180.0)) {
                    continue; // a corner without position, or a quad that is no quad
                }
                // Rows (north-up) whose centre y(row) = ymax_g - (row + 0.5) dy is in
                // [ymin, ymax].
                const double r0f = std::ceil((ex.ymax - ymax) / dy - 0.5);
                const double r1f = std::floor((ex.ymax - ymin) / dy - 0.5);
                if (r1f < 0 || r0f > static_cast<double>(OH) - 1 || r0f > r1f) {
                    continue;
                }
                const auto row0 = static_cast<size_t>(std::max(0.0, r0f));
                const auto row1 = static_cast<size_t>(std::min(static_cast<double>(OH) - 1, r1f));
                const auto qi = static_cast<std::int32_t>(q);
                // Columns whose centre x(col) = xmin_g + (col + 0.5) dx, moved by `shift`
                // degrees, is in [xmin, xmax] (the output grid may meet the swath at the
                // longitudes as stored or 360 degrees away).
                for (const double shift : {0.0, -360.0, 360.0}) {
                    if (shift != 0.0 && projected) {
                        break; // x of the output CRS, not a longitude
                    }
                    const double c0f = std::ceil((xmin + shift - ex.xmin) / dx - 0.5);
                    const double c1f = std::floor((xmax + shift - ex.xmin) / dx - 0.5);
                    if (c1f < 0 || c0f > static_cast<double>(OW) - 1 || c0f > c1f) {
                        continue;
                    }
                    const auto col0 = static_cast<size_t>(std::max(0.0, c0f));
                    const auto col1 =
                        static_cast<size_t>(std::min(static_cast<double>(OW) - 1, c1f));
                    for (size_t orow = row0; orow <= row1; ++orow) {
                        for (size_t ocol = col0; ocol <= col1; ++ocol) {
                            std::atomic_ref<std::int32_t> o(owner[orow * OW + ocol]);
                            std::int32_t cur = o.load(std::memory_order_relaxed);
                            double s = 0, t = 0;
                            if (cur <= qi ||
                                !locate(q, Pt{out.x(ocol) - shift, out.y(orow)}, s, t)) {
                                continue;
                            }
                            while (qi < cur && !o.compare_exchange_weak(cur, qi)) {
                            }
                        }
                    }
                }
            }
        }
    });
    // Pass 2, in parallel over bands of output rows: the owner quad's nearest cell or weights.
    const size_t obands = (OH + band - 1) / band;
    for_each(obands, [&](size_t b) {
        for (size_t orow = b * band; orow < std::min(OH, (b + 1) * band); ++orow) {
            const double py = out.y(orow);
            for (size_t ocol = 0; ocol < OW; ++ocol) {
                const size_t o = orow * OW + ocol;
                if (owner[o] == std::numeric_limits<std::int32_t>::max()) {
                    owner[o] = -1;
                    continue;
                }
                const auto q = static_cast<size_t>(owner[o]);
                const Pt p{near_lon(out.x(ocol), lon(q)), py};
                if (!nearest) {
                    double s = 0, t = 0;
                    locate(q, p, s, t);
                    m.wx[o] = static_cast<float>(s);
                    m.wy[o] = static_cast<float>(t);
                    continue; // lo is the owner quad's corner (r, c)
                }
                const size_t r = q / W, c = q % W;
                double best = std::numeric_limits<double>::infinity();
                std::int32_t best_idx = -1;
                const size_t rr0 = r > 0 ? r - 1 : 0, rr1 = std::min(H - 1, r + 2);
                const size_t cc0 = c > 0 ? c - 1 : 0, cc1 = std::min(W - 1, c + 2);
                for (size_t rr = rr0; rr <= rr1; ++rr) {
                    for (size_t k = cc0; k <= cc1; ++k) {
                        const size_t i = rr * W + k;
                        const double ddx = (lon(i) - p.x) * kx;
                        const double ddy = src.lat_at(i) - p.y;
                        const double dist = ddx * ddx + ddy * ddy;
                        if (dist < best) { // NaN positions never win
                            best = dist;
                            best_idx = static_cast<std::int32_t>(i);
                        }
                    }
                }
                m.nearest[o] = best_idx;
            }
        }
    });
    return m;
}

} // namespace baims::cube
