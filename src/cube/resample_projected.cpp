// Resampling a projected source (1-D x/y axes in a CRS): each output pixel centre is mapped into
// the source x/y through PROJ, then located on the x and y axes with the rules of the separable
// maps (AxisLocator, as map_axis: nearest over the cell footprints including the outer half
// pixel; bilinear between the neighbouring centres, clamped in the outer half pixel). The map is
// computed once per run and geometry (gen's MapCache), in bands on the run's threads; PROJ runs
// exactly on few points and the rest is interpolated with an error check:
//   nearest   exact on a lattice of every 16th output row and column and its half-way points,
//             bilinear in between; the map equals that of projecting every pixel exactly
//             (map_lattice_band);
//   bilinear  each output row along its length: exact at every 128th pixel and the midpoints,
//             cubic in between within ROW_TOL (1e-6) source pixels of the exact positions
//             (project_row_positions); the neighbours are those of the exact positions
//             (map_bilinear_row).
// Average and mode go the other way: each source cell centre is mapped to lon/lat (inverse PROJ)
// and onto the output pixel holding it (set_cell_lists).

#include "baims/core/error.hpp"
#include "baims/core/huge_pages.hpp"
#include "baims/core/interrupt.hpp"
#include "baims/cube/resample.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>

namespace baims::cube {

namespace {

// Output pixels are mapped through PROJ exactly on a lattice of every LATTICE-th row and column
// (and the grid's last row and column), plus at the half-way points between lattice nodes (each
// lattice cell's centre and edge midpoints); the pixels inside a lattice cell are interpolated
// bilinearly from its four corners when the interpolation error at its five half-way points is
// below MAX_ERROR source pixels (nearest only: the map then equals the exact one, see
// map_lattice_band).
constexpr size_t LATTICE = 16;
constexpr double MAX_ERROR = 0.01;
// Exact transforms are batched by this many points.
constexpr size_t BATCH = 4096;

// The lattice nodes of an axis of n pixels (n >= 1): 0, L, 2L, …, n - 1.
std::vector<size_t> lattice(size_t n) {
    std::vector<size_t> v;
    for (size_t i = 0; i + 1 < n; i += LATTICE) {
        v.push_back(i);
    }
    v.push_back(n - 1);
    return v;
}

// The nodes and the half-way points between them: h[2k] = nodes[k], h[2k+1] their midpoint.
std::vector<size_t> half_lattice(const std::vector<size_t>& nodes) {
    std::vector<size_t> h;
    for (size_t k = 0; k < nodes.size(); ++k) {
        if (k > 0) {
            h.push_back((nodes[k - 1] + nodes[k]) / 2);
        }
        h.push_back(nodes[k]);
    }
    return h;
}

// Where output pixels land in the source x/y and which source cells they take.
struct Mapper {
    const AxisLocator &xa, &ya;
    double x_step, y_step;
    std::int64_t src_w;
    bool nearest;
    PixelMap& m;

    // Sets output pixel p from its source position (x, y); nearest: returns the distance (in
    // source pixels, the smaller of the two axes) to the nearest edge where the result jumps
    // (map_lattice_band's check); bilinear: returns 0 (map_bilinear_row checks the edges
    // itself).
    double set(size_t p, double x, double y) const {
        if (nearest) {
            double ex = 0, ey = 0;
            const auto sx = xa.nearest(x, ex);
            const auto sy = ya.nearest(y, ey);
            m.nearest[p] = sx >= 0 && sy >= 0 ? static_cast<std::int32_t>(sy * src_w + sx) : -1;
            return std::min(ex / x_step, ey / y_step);
        }
        std::int32_t xl = 0, xh = 0, yl = 0, yh = 0; // (set by the lookups when inside)
        float wx = 0.f, wy = 0.f;
        const bool inside = xa.bilinear(x, xl, xh, wx) && ya.bilinear(y, yl, yh, wy);
        put(p, inside, xl, xh, wx, yl, yh, wy);
        return 0;
    }

    // Bilinear: sets output pixel p from the lookups of its source position on the two axes.
    void put(size_t p, bool inside, std::int32_t xl, std::int32_t xh, float wx, std::int32_t yl,
             std::int32_t yh, float wy) const {
        if (!inside) {
            m.lo[p] = -1;
            m.step[p] = 4;
            m.wx[p] = 0.f;
            m.wy[p] = 0.f;
        } else {
            m.lo[p] = static_cast<std::int32_t>(yl * src_w + xl);
            const int dc = xh - xl, dr = yh - yl;
            m.step[p] = static_cast<std::uint8_t>((dc + 1) + 3 * (dr + 1));
            m.wx[p] = wx;
            m.wy[p] = wy;
        }
    }
};

// Output pixels mapped exactly through PROJ, in batches.
class ExactQueue {
public:
    ExactQueue(const io::LonLatToCrs& to_src, const std::vector<double>& lons,
               const std::vector<double>& lats, const Mapper& mapper)
        : m_to_src(to_src)
        , m_lons(lons)
        , m_lats(lats)
        , m_mapper(mapper) {}
    void push(size_t p) {
        m_p.push_back(p);
        if (m_p.size() == BATCH) {
            flush();
        }
    }
    void flush() {
        const size_t W = m_lons.size();
        m_x.resize(m_p.size());
        m_y.resize(m_p.size());
        for (size_t i = 0; i < m_p.size(); ++i) {
            m_x[i] = m_lons[m_p[i] % W];
            m_y[i] = m_lats[m_p[i] / W];
        }
        m_to_src.transform(m_x.data(), m_y.data(), m_p.size());
        for (size_t i = 0; i < m_p.size(); ++i) {
            m_mapper.set(m_p[i], m_x[i], m_y[i]);
        }
        m_p.clear();
    }

private:
    const io::LonLatToCrs& m_to_src;
    const std::vector<double>& m_lons;
    const std::vector<double>& m_lats;
    const Mapper& m_mapper;
    std::vector<size_t> m_p;
    std::vector<double> m_x, m_y;
};

// Nearest and bilinear maps of the output rows of lattice cells [i0, i1) (and the last output
// row when i1 is the last lattice node): the source positions interpolated inside a lattice cell
// whose half-way points are interpolated within MAX_ERROR, exact (PROJ) elsewhere.
// An interpolated pixel closer to an edge where the result jumps (AxisLocator::edge_distance)
// than 4x its cell's largest half-way error (the error of a smooth map's bilinear interpolation
// is largest near the half-way points and at most the sum of the two axes' errors there) is
// projected exactly as well, so the map equals that of projecting every pixel: nearest picks
// the same cell, bilinear the same neighbours with weights within 4x the error.
void map_lattice_band(const io::LonLatToCrs& to_src, const std::vector<double>& lons,
                      const std::vector<double>& lats, const std::vector<size_t>& rows,
                      const std::vector<size_t>& cols, size_t i0, size_t i1, const Mapper& mapper) {
    const size_t W = lons.size();
    const size_t H = lats.size();
    const auto hc = half_lattice(cols);
    const std::vector<size_t> band_rows(rows.begin() + static_cast<std::ptrdiff_t>(i0),
                                        rows.begin() + static_cast<std::ptrdiff_t>(i1) + 1);
    const auto hr = half_lattice(band_rows);
    const size_t nh = hc.size();
    // Exact source x/y at the half lattice of the band.
    std::vector<double> ex(hr.size() * nh), ey(hr.size() * nh);
    for (size_t a = 0; a < hr.size(); ++a) {
        for (size_t b = 0; b < nh; ++b) {
            ex[a * nh + b] = lons[hc[b]];
            ey[a * nh + b] = lats[hr[a]];
        }
    }
    to_src.transform(ex.data(), ey.data(), ex.size());
    ExactQueue exact(to_src, lons, lats, mapper);
    const double xs = mapper.x_step, ys = mapper.y_step;
    for (size_t i = 0; i + 1 < band_rows.size(); ++i) {
        check_interrupted();
        const size_t r0 = band_rows[i], r1 = band_rows[i + 1];
        const size_t r_end = r1 == H - 1 ? r1 + 1 : r1; // the last row belongs to the last cell
        for (size_t j = 0; j + 1 < cols.size(); ++j) {
            const size_t c0 = cols[j], c1 = cols[j + 1];
            const size_t c_end = c1 == W - 1 ? c1 + 1 : c1;
            auto at = [&](size_t a, size_t b, const std::vector<double>& e) {
                return e[(2 * i + a) * nh + 2 * j + b];
            };
            // Corners and the interpolation error at the five half-way points.
            const double x00 = at(0, 0, ex), x01 = at(0, 2, ex), x10 = at(2, 0, ex),
                         x11 = at(2, 2, ex);
            const double y00 = at(0, 0, ey), y01 = at(0, 2, ey), y10 = at(2, 0, ey),
                         y11 = at(2, 2, ey);
            const double fu =
                static_cast<double>(hc[2 * j + 1] - c0) / static_cast<double>(c1 - c0);
            const double fv =
                static_cast<double>(hr[2 * i + 1] - r0) / static_cast<double>(r1 - r0);
            auto interp = [](double v00, double v01, double v10, double v11, double u, double v) {
                return (1 - v) * ((1 - u) * v00 + u * v01) + v * ((1 - u) * v10 + u * v11);
            };
            double err = 0;
            const double uv[5][2] = {{fu, 0}, {fu, 1}, {0, fv}, {1, fv}, {fu, fv}};
            const size_t ab[5][2] = {{0, 1}, {2, 1}, {1, 0}, {1, 2}, {1, 1}};
            for (size_t k = 0; k < 5; ++k) {
                const double ix = interp(x00, x01, x10, x11, uv[k][0], uv[k][1]);
                const double iy = interp(y00, y01, y10, y11, uv[k][0], uv[k][1]);
                const double e = std::max(std::abs(ix - at(ab[k][0], ab[k][1], ex)) / xs,
                                          std::abs(iy - at(ab[k][0], ab[k][1], ey)) / ys);
                err = std::isnan(e) ? e : std::max(err, e);
            }
            if (!(err <= MAX_ERROR)) { // also NaN: a point PROJ cannot map
                for (size_t r = r0; r < r_end; ++r) {
                    for (size_t c = c0; c < c_end; ++c) {
                        exact.push(r * W + c);
                    }
                }
                continue;
            }
            const double margin = 4.0 * err + 1e-9;
            for (size_t r = r0; r < r_end; ++r) {
                const double v = static_cast<double>(r - r0) / static_cast<double>(r1 - r0);
                const double lx = x00 + v * (x10 - x00), rx = x01 + v * (x11 - x01);
                const double ly = y00 + v * (y10 - y00), ry = y01 + v * (y11 - y01);
                for (size_t c = c0; c < c_end; ++c) {
                    const double u = static_cast<double>(c - c0) / static_cast<double>(c1 - c0);
                    const size_t p = r * W + c;
                    if (mapper.set(p, lx + u * (rx - lx), ly + u * (ry - ly)) < margin) {
                        exact.push(p);
                    }
                }
            }
        }
    }
    exact.flush();
}

// Bilinear: every output row mapped along its length (project_row_positions), then looked up.
// Nodes of the rows' cubics: every ROW_SPAN-th pixel; a failing interval is split in halves down
// to intervals shorter than 2 * MIN_SPAN, which are projected exactly.
constexpr size_t ROW_SPAN = 64;
constexpr size_t MIN_SPAN = 8;

// The smallest and largest source row and column of a bilinear map's lo entries (as flat_window
// finds them).
struct Bounds {
    std::int64_t r0 = std::numeric_limits<std::int64_t>::max(), r1 = -1;
    std::int64_t c0 = std::numeric_limits<std::int64_t>::max(), c1 = -1;
    void add(const Bounds& b) {
        r0 = std::min(r0, b.r0);
        r1 = std::max(r1, b.r1);
        c0 = std::min(c0, b.c0);
        c1 = std::max(c1, b.c1);
    }
};

// The cubic through four points (u[k], v[k]) in Newton's form, evaluated at u.
struct Cubic {
    double u0, u1, u2, c0, c1, c2, c3;
    Cubic(const double* u, const double* v)
        : u0(u[0])
        , u1(u[1])
        , u2(u[2])
        , c0(v[0]) {
        const double d01 = (v[1] - v[0]) / (u[1] - u[0]);
        const double d12 = (v[2] - v[1]) / (u[2] - u[1]);
        const double d23 = (v[3] - v[2]) / (u[3] - u[2]);
        const double d012 = (d12 - d01) / (u[2] - u[0]);
        const double d123 = (d23 - d12) / (u[3] - u[1]);
        c1 = d01;
        c2 = d012;
        c3 = (d123 - d012) / (u[3] - u[0]);
    }
    double operator()(double u) const {
        return c0 + (u - u0) * (c1 + (u - u1) * (c2 + (u - u2) * c3));
    }
};

// Pixels [a, b] of the row with nodes every s pixels (a, a + s, ..., b), see
// project_row_positions.
void approx_range(const io::LonLatToCrs& to_src, const std::vector<double>& lons, double lat,
                  double x_step, double y_step, double tol, size_t a, size_t b, size_t s,
                  RowPositions& r) {
    const size_t W = lons.size();
    // The nodes: one more on each side of [a, b] where the row has it, so that each interval's
    // cubic takes its nodes around it.
    std::vector<size_t> nodes;
    if (a >= s) {
        nodes.push_back(a - s);
    }
    const size_t first = nodes.size();
    for (size_t c = a; c < b; c += s) {
        nodes.push_back(c);
    }
    nodes.push_back(b);
    const size_t last = nodes.size() - 1; // the node b
    if (b + s <= W - 1) {
        nodes.push_back(b + s);
    }
    const size_t N = nodes.size();
    if (N < 4) {
        for (size_t c = a; c <= b; ++c) {
            if (!r.exact[c]) {
                r.queue.push_back(c);
            }
        }
        return;
    }
    // Exact at the nodes and at the midpoints of the intervals inside [a, b]: PROJ's positions
    // of those not known yet (a split interval's ends and midpoint, its neighbours' midpoints),
    // all kept in r as exact.
    std::vector<size_t> pts(nodes);
    for (size_t k = first; k < last; ++k) {
        pts.push_back((nodes[k] + nodes[k + 1]) / 2);
    }
    std::vector<size_t> todo;
    std::vector<double> px, py;
    for (const size_t c : pts) {
        if (!r.exact[c]) {
            todo.push_back(c);
            px.push_back(lons[c]);
        }
    }
    py.assign(px.size(), lat);
    to_src.transform(px.data(), py.data(), px.size());
    for (size_t i = 0; i < todo.size(); ++i) {
        r.x[todo[i]] = px[i];
        r.y[todo[i]] = py[i];
        r.exact[todo[i]] = 1;
    }
    for (size_t k = first; k < last; ++k) {
        const size_t c0 = nodes[k], c1 = nodes[k + 1], m = (c0 + c1) / 2;
        const double mx = r.x[m], my = r.y[m];
        const size_t k0 = std::min(k > 0 ? k - 1 : 0, N - 4);
        double u[4], vx[4], vy[4];
        bool finite = std::isfinite(mx) && std::isfinite(my);
        for (size_t q = 0; q < 4; ++q) {
            const size_t c = nodes[k0 + q];
            u[q] = static_cast<double>(c) - static_cast<double>(c0);
            vx[q] = r.x[c];
            vy[q] = r.y[c];
            finite = finite && std::isfinite(vx[q]) && std::isfinite(vy[q]);
        }
        bool ok = false;
        if (finite) {
            const Cubic fx(u, vx), fy(u, vy);
            const double um = static_cast<double>(m - c0);
            const double err =
                std::max(std::abs(fx(um) - mx) / x_step, std::abs(fy(um) - my) / y_step);
            // The error of a cubic through four nodes is f''''/24 times the product of the
            // distances to the nodes, whose largest value on the interval is at most 1.07x its
            // value at the midpoint for every stencil used here (middle, outer, a short last
            // interval): half the tolerance there leaves room for f'''' changing along it.
            ok = 2.0 * err <= tol;
            if (ok) {
                // Stepped by forward differences (three additions per pixel instead of the
                // Newton form's nine operations; the rounding this adds is ~1e-9 source pixels
                // over an interval of 64); pixels already exact keep PROJ's position.
                double x = fx(0), dx1 = fx(1) - x, dx2 = fx(2) - 2 * fx(1) + x;
                double y = fy(0), dy1 = fy(1) - y, dy2 = fy(2) - 2 * fy(1) + y;
                const double dx3 = 6 * fx.c3, dy3 = 6 * fy.c3;
                for (size_t c = c0 + 1; c < c1; ++c) {
                    x += dx1;
                    dx1 += dx2;
                    dx2 += dx3;
                    y += dy1;
                    dy1 += dy2;
                    dy2 += dy3;
                    if (!r.exact[c]) { // the midpoint, a split parent's nodes
                        r.x[c] = x;
                        r.y[c] = y;
                    }
                }
            }
        }
        if (!ok) {
            const size_t len = c1 - c0;
            if (len >= 2 * MIN_SPAN) {
                approx_range(to_src, lons, lat, x_step, y_step, tol, c0, c1, len / 2, r);
            } else {
                for (size_t c = c0 + 1; c < c1; ++c) {
                    if (!r.exact[c]) {
                        r.queue.push_back(c);
                    }
                }
            }
        }
    }
}

} // namespace

void project_row_positions(const io::LonLatToCrs& to_src, const std::vector<double>& lons,
                           double lat, double x_step, double y_step, double tol, RowPositions& r) {
    const size_t W = lons.size();
    r.x.resize(W);
    r.y.resize(W);
    r.exact.assign(W, 0);
    r.queue.clear();
    const size_t s = std::min(ROW_SPAN, W > 0 ? (W - 1) / 3 : 0);
    if (tol > 0 && s >= MIN_SPAN) {
        approx_range(to_src, lons, lat, x_step, y_step, tol, 0, W - 1, s, r);
    } else {
        for (size_t c = 0; c < W; ++c) {
            r.queue.push_back(c);
        }
    }
    if (r.queue.empty()) {
        return;
    }
    std::vector<double>& qx = r.qx;
    std::vector<double>& qy = r.qy;
    qx.resize(r.queue.size());
    qy.assign(r.queue.size(), lat);
    for (size_t i = 0; i < r.queue.size(); ++i) {
        qx[i] = lons[r.queue[i]];
    }
    to_src.transform(qx.data(), qy.data(), qx.size());
    for (size_t i = 0; i < r.queue.size(); ++i) {
        r.x[r.queue[i]] = qx[i];
        r.y[r.queue[i]] = qy[i];
        r.exact[r.queue[i]] = 1;
    }
}

namespace {

struct RowScratch {
    RowPositions pos;
    std::vector<AxisLocator::Hit> hx, hy;
    std::vector<size_t> redo; // pixels projected exactly after all
    std::vector<double> rx, ry;
    std::vector<std::int32_t> sx, sy; // the source column (-1: none) and row of each entry
};

// The bilinear map of output row p0 / W (pixels p0 .. p0 + W): the positions of
// project_row_positions, each looked up once on each axis (AxisLocator::bilinear with
// edge_distance) for the map entry and an edge check: an interpolated position closer than
// 2 * ROW_TOL source pixels to an edge where the result jumps (a footprint end or a centre: a
// weight crosses 0 and a NaN neighbour drops in or out) is projected exactly after all, so every
// entry has the neighbours of the exact position and weights within ROW_TOL of its weights.
void map_bilinear_row(const io::LonLatToCrs& to_src, const std::vector<double>& lons, double lat,
                      const Mapper& mapper, size_t p0, RowScratch& s, Bounds& bounds) {
    const size_t W = lons.size();
    const AxisLocator &xa = mapper.xa, &ya = mapper.ya;
    const double x_step = mapper.x_step, y_step = mapper.y_step;
    s.sx.resize(W);
    s.sy.resize(W);
    const auto put = [&](size_t c, bool inside, std::int32_t xl, std::int32_t xh, float wx,
                         std::int32_t yl, std::int32_t yh, float wy) {
        mapper.put(p0 + c, inside, xl, xh, wx, yl, yh, wy);
        s.sx[c] = inside ? xl : -1;
        s.sy[c] = inside ? yl : -1;
    };
    project_row_positions(to_src, lons, lat, x_step, y_step, ROW_TOL, s.pos);
    s.hx.resize(W);
    s.hy.resize(W);
    xa.bilinear(s.pos.x.data(), W, s.hx.data());
    ya.bilinear(s.pos.y.data(), W, s.hy.data());
    const double mx = 2.0 * ROW_TOL * x_step, my = 2.0 * ROW_TOL * y_step;
    s.redo.clear();
    for (size_t c = 0; c < W; ++c) {
        const auto &hx = s.hx[c], &hy = s.hy[c];
        if (!s.pos.exact[c] && (hx.edge_distance < mx || hy.edge_distance < my)) {
            s.redo.push_back(c);
            continue;
        }
        put(c, hx.inside && hy.inside, hx.lo, hx.hi, hx.w, hy.lo, hy.hi, hy.w);
    }
    if (!s.redo.empty()) {
        s.rx.resize(s.redo.size());
        s.ry.assign(s.redo.size(), lat);
        for (size_t i = 0; i < s.redo.size(); ++i) {
            s.rx[i] = lons[s.redo[i]];
        }
        to_src.transform(s.rx.data(), s.ry.data(), s.redo.size());
        for (size_t i = 0; i < s.redo.size(); ++i) {
            std::int32_t xl = 0, xh = 0, yl = 0, yh = 0;
            float wx = 0.f, wy = 0.f;
            const bool inside =
                xa.bilinear(s.rx[i], xl, xh, wx) && ya.bilinear(s.ry[i], yl, yh, wy);
            put(s.redo[i], inside, xl, xh, wx, yl, yh, wy);
        }
    }
    // The row's final entries into bounds (-1 where none: as unsigned, no smaller minimum).
    std::uint32_t r0 = 0xffffffffu, c0 = 0xffffffffu;
    std::int32_t r1 = -1, c1 = -1;
    for (size_t c = 0; c < W; ++c) {
        r0 = std::min(r0, static_cast<std::uint32_t>(s.sy[c]));
        c0 = std::min(c0, static_cast<std::uint32_t>(s.sx[c]));
        r1 = std::max(r1, s.sy[c]);
        c1 = std::max(c1, s.sx[c]);
    }
    if (c1 >= 0) {
        bounds.r0 = std::min<std::int64_t>(bounds.r0, r0);
        bounds.r1 = std::max<std::int64_t>(bounds.r1, r1);
        bounds.c0 = std::min<std::int64_t>(bounds.c0, c0);
        bounds.c1 = std::max<std::int64_t>(bounds.c1, c1);
    }
}

// The PROJ transformations of one map's bands. Building one costs ~10 ms (PROJ's database, a
// context of its own), more than mapping a band: a band borrows one that no other band is using
// and gives it back, so a map on T threads builds at most T, not one per band.
class Transformers {
public:
    explicit Transformers(const io::ProjectedAxes& src, const std::string& out_crs)
        : m_crs(src.crs)
        , m_from(out_crs) {}

    class Lease {
    public:
        Lease(Transformers& pool, std::unique_ptr<io::LonLatToCrs> t)
            : m_pool(pool)
            , m_t(std::move(t)) {}
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease() {
            const std::lock_guard lock(m_pool.m_mutex);
            m_pool.m_free.push_back(std::move(m_t));
        }
        const io::LonLatToCrs& operator*() const { return *m_t; }

    private:
        Transformers& m_pool;
        std::unique_ptr<io::LonLatToCrs> m_t;
    };

    Lease take() {
        {
            const std::lock_guard lock(m_mutex);
            if (!m_free.empty()) {
                auto t = std::move(m_free.back());
                m_free.pop_back();
                return {*this, std::move(t)};
            }
        }
        return {*this, m_from.empty() ? std::make_unique<io::LonLatToCrs>(m_crs)
                                      : std::make_unique<io::LonLatToCrs>(m_crs, m_from)};
    }

private:
    std::string m_crs, m_from;
    std::mutex m_mutex;
    std::vector<std::unique_ptr<io::LonLatToCrs>> m_free;
};

} // namespace

void set_projected_cells(PixelMap& m, const io::ProjectedAxes& src, const grid::Grid& out,
                         const io::ForEach& for_each, const std::string& out_crs) {
    // Every source centre mapped to lon/lat, or to the projected output CRS's x/y (inverse
    // PROJ, in bands of source rows with a context each), and onto the output grid; the
    // nearest map fills the pixels without one.
    Transformers transformers(src, out_crs);
    const size_t SW = src.x.size(), SH = src.y.size();
    std::vector<std::uint32_t> cell(SW * SH, NO_CELL);
    const size_t bands = std::min<size_t>(SH, 16);
    for_each(bands, [&](size_t band) {
        const auto lease = transformers.take();
        const io::LonLatToCrs& to_src = *lease;
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
}

PixelMap map_projected(const io::ProjectedAxes& src, const grid::Grid& out, Resampling method,
                       const io::ForEach& for_each, const std::string& out_crs) {
    if (src.x.size() * src.y.size() >= (size_t{1} << 31)) {
        throw InputError("a projected source of " + std::to_string(src.y.size()) + " x " +
                             std::to_string(src.x.size()) + " cells is too large to map",
                         "Split the input into parts of fewer than 2^31 cells");
    }
    if (method == Resampling::Average || method == Resampling::Mode) {
        PixelMap m = map_projected(src, out, Resampling::Nearest, for_each, out_crs);
        set_projected_cells(m, src, out, for_each, out_crs);
        return m;
    }
    Transformers transformers(src, out_crs);
    PixelMap m;
    m.width = out.width();
    m.height = out.height();
    const size_t W = m.width, H = m.height, n = W * H;
    const bool nearest = method == Resampling::Nearest;
    // Every pixel is written below: the fresh pages are made present at once (by all threads: the
    // kernel clearing 150 MB of a bilinear map took ~0.2 s on one), not one fault each.
    if (nearest) {
        reserve_populated(for_each, n, m.nearest);
        m.nearest.resize(n);
    } else {
        reserve_populated(for_each, n, m.lo, m.step, m.wx, m.wy);
        m.lo.resize(n);
        m.step.resize(n);
        m.wx.resize(n);
        m.wy.resize(n);
    }
    const auto lons = out.x_centers();
    const auto lats = out.y_centers();
    // A one-cell axis has no spacing of its own: its cell is as wide as the grid's other axis.
    const double x_step = src.x.size() > 1   ? std::abs(src.x[1] - src.x[0])
                          : src.y.size() > 1 ? std::abs(src.y[1] - src.y[0])
                                             : 1.0;
    const double y_step = src.y.size() > 1 ? std::abs(src.y[1] - src.y[0]) : x_step;
    const AxisLocator xa(src.x, x_step), ya(src.y, y_step);
    const Mapper mapper{xa,      ya, x_step, y_step, static_cast<std::int64_t>(src.x.size()),
                        nearest, m};
    if (!nearest) {
        // Bands of output rows, each with its own PROJ context.
        const size_t bands = std::min<size_t>(H, 16);
        std::vector<Bounds> band_bounds(bands);
        for_each(bands, [&](size_t band) {
            const auto lease = transformers.take();
            const io::LonLatToCrs& to_src = *lease;
            RowScratch scratch;
            for (size_t r = band * H / bands; r < (band + 1) * H / bands; ++r) {
                if ((r & 15) == 0) {
                    check_interrupted();
                }
                map_bilinear_row(to_src, lons, lats[r], mapper, r * W, scratch, band_bounds[band]);
            }
        });
        // used_window's window (flat_window of lo, one cell added on every side), found on the
        // way instead of by a pass over the map.
        Bounds b;
        for (const auto& bb : band_bounds) {
            b.add(bb);
        }
        m.window = io::Window{};
        if (b.r1 >= 0) {
            const auto sh = static_cast<std::int64_t>(src.y.size());
            const auto sw = static_cast<std::int64_t>(src.x.size());
            m.window = io::Window{static_cast<size_t>(std::max<std::int64_t>(b.r0 - 1, 0)),
                                  static_cast<size_t>(std::min(sh, b.r1 + 2)),
                                  static_cast<size_t>(std::max<std::int64_t>(b.c0 - 1, 0)),
                                  static_cast<size_t>(std::min(sw, b.c1 + 2))};
        }
        return m;
    }
    const auto rows = lattice(H), cols = lattice(W);
    // Bands of lattice rows, each with its own PROJ context.
    const size_t cells = rows.size() - 1;
    const size_t bands = std::min<size_t>(cells, 16);
    if (cells == 0 || cols.size() < 2) { // one output row or column: every pixel exact
        const auto lease = transformers.take();
        const io::LonLatToCrs& to_src = *lease;
        ExactQueue exact(to_src, lons, lats, mapper);
        for (size_t p = 0; p < n; ++p) {
            exact.push(p);
        }
        exact.flush();
        return m;
    }
    for_each(bands, [&](size_t band) {
        const auto lease = transformers.take();
        const io::LonLatToCrs& to_src = *lease;
        map_lattice_band(to_src, lons, lats, rows, cols, band * cells / bands,
                         (band + 1) * cells / bands, mapper);
    });
    return m;
}

} // namespace baims::cube
