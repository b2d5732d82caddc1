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
// rows find each output pixel's quad (an atomic minimum of the quad index, or plain stores in two
// rounds of bands that look at disjoint pixels: the result does not depend on the threads), then
// bands of output rows fill the map from it. Pass 1 is walked in
// blocks of 64 x 64 quads (the output pixels they meet stay in the cache), takes each quad's
// bounding box from its cells' positions in output pixel units (computed once per cell; the
// quads of a row whose box holds no output centre, 44 % in bench/swath.sh, are sorted out first by
// a straight loop, four quads at a time with AVX2 when the CPU has it, and a box of one centre is
// tested without the scan's loops), skips the centres outside the quad's convex hull and takes
// those well inside a strictly convex quad without inverting it (Hull: such a quad is the
// one-to-one bilinear image of the unit square), and stops Newton's method once it has converged
// (holds): shortcuts that give the same owners as the full inversion (except that a centre inside a
// convex quad on which Newton's method fails is now held). Pass 2 is walked in tiles of 64 x 64
// output pixels; for nearest, the positions of the swath cells a tile searches are decoded once per
// tile. Nearest on a swath of at most 2^27 cells searches in pass 1 instead (keyed): a claim that
// can win stores q * 16 + n, n the claiming quad's nearest cell among its 4x4 (the block's
// positions are decoded with a one-cell halo), so the minimum is still the first quad, with its
// search; the keys then become cell indices. Bilinear with plain claims (the two rounds of bands)
// stores a winning claim's weights in pass 1 as well (bilinear_weights(): the same function and
// doubles as pass 2; a later, lower quad overwrites them; computed after each row of a block's
// quads, in the order of the claims, so that the pixels' independent computations overlap; four at
// a time with AVX2 when the CPU has it, the same doubles: weights4), so pass 2 runs for bilinear
// only when the claims were atomic minima. On a CPU with AVX2 (chosen at run time: use_avx2();
// GCC on x86-64) both passes run a second copy of this file compiled for AVX2
// (resample_swath_avx2.cpp: VEX code) whose per-claim kernels (Hull, dist16, first_smallest,
// unpack_run) and per-cell set-up (cell_row) are four lanes wide: the same IEEE operations per
// lane, so the same map.
//   nearest   the cell whose centre is nearest to the output centre, searched among the 4x4
//             cells around the quad (rows r-1..r+2, columns c-1..c+2): for any swath whose
//             cells are not extremely sheared this is the nearest cell centre of the whole
//             swath. Distance: local equirectangular, (dlon * kx, dlat) with kx = cos(lat0),
//             lat0 the latitude of the output pixel's row centre (out.y(row), one kx per output
//             row: the true local scale there; kx = 1 for a projected output grid, whose x and y
//             are the CRS's). It does not depend on the swath's latitudes, so pass 1's keyed
//             claims need nothing of the whole swath before they start.
//   bilinear  the quad's four corners with the weights (s, t) of the inverse bilinear map
//             (closed form, polished by Newton's method: invert_closed): a field linear in the
//             swath's row/column indices is reproduced exactly.
//   average, mode  the cells whose centres fall inside the output pixel (output_cell), else
//             the nearest cell as above (set_cell_lists).
// A swath that crosses the antimeridian (neighbouring cells more than 180 degrees of longitude
// apart) is walked with its longitudes in [0, 360), where its quads are whole; each quad meets the
// output grid at its longitudes or 360 degrees away, so an output grid on either side of the
// antimeridian (-180..180 or 0..360) gets it without a smear across the globe.

// resample_swath_avx2.cpp includes each of these headers itself before its AVX2 target pragma
// (so that their inline code stays baseline code, see there): a header added here must be added
// there too.
#include "baims/core/error.hpp"
#include "baims/core/huge_pages.hpp"
#include "baims/cube/resample.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <numbers>
#include <string_view>
#include <type_traits>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <vector>
// The AVX2 kernels of pass 1 (weights4, quad_boxes4), chosen at run time.
#if defined(__x86_64__) && defined(__GNUC__)
#define BAIMS_SWATH_AVX2 1
#include <immintrin.h>
#else
#define BAIMS_SWATH_AVX2 0
#endif
// The whole walk (both passes) compiled a second time for AVX2 by resample_swath_avx2.cpp, which
// includes this file with BAIMS_SWATH_AVX2_COPY defined and every function of it targeted at
// AVX2 (VEX code; the same IEEE operations: no FMA, no contraction); map_swath runs that copy when
// use_avx2() says so. Only GCC on x86-64 (the copy uses GCC's target pragma).
#if BAIMS_SWATH_AVX2 && !defined(__clang__)
#define BAIMS_SWATH_WALK_AVX2 1
#else
#define BAIMS_SWATH_WALK_AVX2 0
#endif
#if !defined(BAIMS_SWATH_AVX2_COPY)
#define BAIMS_SWATH_AVX2_COPY 0
#endif

namespace baims::cube {
#if BAIMS_SWATH_WALK_AVX2
namespace swath_avx2 {
// Walk (below) of the AVX2 copy: the same arguments as walk_swath.
void walk_swath(const io::LatLon2D& src, const grid::Grid& out, bool projected, bool nearest,
                bool keyed, const io::ForEach& for_each, MapVector<std::int32_t>& owner,
                PixelMap& m, const std::vector<double>& unwrapped);
// walk_swath_rows (below) of the AVX2 copy.
bool walk_swath_rows(io::SwathRows& rows, const grid::Grid& out, bool nearest,
                     const io::ForEach& for_each, MapVector<std::int32_t>& owner, PixelMap& m);
// The per-claim kernels of the AVX2 copy (the test hooks detail::swath_nearest16 .. below).
int nearest16(const double* x, const double* y, size_t stride, double px, double py, double kx);
int hull(const double* corners, double size, double px, double py);
void unpack(const std::int32_t* p, size_t n, double scale, double offset, double* out);
void cell_row(const double* x, const double* y, size_t nc, double ymax, double xmin, double dy,
              double dx, double* ps, double* fu, double* cu, double* fv, double* cv, bool& odd,
              double& bx0, double& bx1);
} // namespace swath_avx2
#endif
namespace {

struct Pt {
    double x, y;
};

enum class Newton {
    Fail, // no convergence
    Root, // converged: (s, t) is the root
    Near, // (only with quick) the last step was below 1e-9 at a residual below 1e-9 of the quad
};

// (s, t) with P(s, t) = a + s (b - a) + t (c - a) + s t (a - b - c + d) = p, by Newton's method
// from (s0, t0) (the quad's centre unless given). With quick, it stops early (Near) once a step is
// below 1e-9: Newton's iterates are then in their quadratic convergence and stay within ~1e-9 of
// (s, t) however long they run; the iterates up to there are the same as without quick.
Newton newton(const Pt& a, const Pt& b, const Pt& c, const Pt& d, const Pt& p, double& s, double& t,
              bool quick, double s0 = 0.5, double t0 = 0.5) {
    const double ex = b.x - a.x, ey = b.y - a.y; // along s
    const double fx = c.x - a.x, fy = c.y - a.y; // along t
    const double gx = a.x - b.x - c.x + d.x, gy = a.y - b.y - c.y + d.y;
    s = s0;
    t = t0;
    const double scale = std::abs(ex) + std::abs(ey) + std::abs(fx) + std::abs(fy);
    for (int it = 0; it < 20; ++it) {
        const double rx = a.x + s * ex + t * fx + s * t * gx - p.x;
        const double ry = a.y + s * ey + t * fy + s * t * gy - p.y;
        const double j11 = ex + t * gx, j12 = fx + s * gx;
        const double j21 = ey + t * gy, j22 = fy + s * gy;
        const double det = j11 * j22 - j12 * j21;
        if (det == 0 || !std::isfinite(det)) {
            return Newton::Fail;
        }
        const double ds = (j22 * rx - j12 * ry) / det;
        const double dt = (j11 * ry - j21 * rx) / det;
        s -= ds;
        t -= dt;
        if (std::abs(ds) + std::abs(dt) < 1e-13 && std::abs(rx) + std::abs(ry) < 1e-12 * scale) {
            return Newton::Root;
        }
        if (quick && std::abs(ds) + std::abs(dt) < 1e-9 &&
            std::abs(rx) + std::abs(ry) < 1e-9 * scale) {
            return Newton::Near;
        }
    }
    const double rx = a.x + s * ex + t * fx + s * t * gx - p.x;
    const double ry = a.y + s * ey + t * fy + s * t * gy - p.y;
    return std::abs(rx) + std::abs(ry) < 1e-9 * scale ? Newton::Root : Newton::Fail;
}

// The (s, t) of Newton's method run to its end; false when it does not converge.
bool invert_bilinear(const Pt& a, const Pt& b, const Pt& c, const Pt& d, const Pt& p, double& s,
                     double& t) {
    return newton(a, b, c, d, p, s, t, false) == Newton::Root;
}

// Starting points for Newton's method from the closed-form roots of the quadratic in t
// (h - t f) x (e + t g) = 0 (h = p - a, e = b - a, f = c - a, g = a - b - c + d), the root nearest
// to t = 0.5 first; the number of them (0 to 2).
int closed_starts(const Pt& a, const Pt& b, const Pt& c, const Pt& d, const Pt& p,
                  std::array<Pt, 2>& st) {
    const double ex = b.x - a.x, ey = b.y - a.y, fx = c.x - a.x, fy = c.y - a.y;
    const double gx = a.x - b.x - c.x + d.x, gy = a.y - b.y - c.y + d.y;
    const double hx = p.x - a.x, hy = p.y - a.y;
    const double k2 = gx * fy - gy * fx;
    const double k1 = (hx * gy - hy * gx) + (ex * fy - ey * fx);
    const double k0 = hx * ey - hy * ex;
    std::array<double, 2> ts{};
    int n = 0;
    if (std::abs(k2) <= 1e-12 * std::abs(k1)) {
        ts[n++] = -k0 / k1;
    } else {
        const double disc = k1 * k1 - 4 * k0 * k2;
        if (!(disc >= 0)) {
            return 0;
        }
        const double qq = -0.5 * (k1 + std::copysign(std::sqrt(disc), k1));
        const double r1 = qq / k2, r2 = k0 / qq;
        const bool first = std::abs(r1 - 0.5) <= std::abs(r2 - 0.5);
        ts[n++] = first ? r1 : r2;
        ts[n++] = first ? r2 : r1;
    }
    int m = 0;
    for (int i = 0; i < n; ++i) {
        const double t0 = ts[i];
        const double dx = ex + t0 * gx, dy = ey + t0 * gy;
        const double s0 = std::abs(dx) >= std::abs(dy) ? (hx - t0 * fx) / dx : (hy - t0 * fy) / dy;
        if (std::isfinite(s0) && std::isfinite(t0)) {
            st[m++] = Pt{s0, t0};
        }
    }
    return m;
}

// (s, t) of p in the quad (a, b, c, d) for a bilinear weight: the closed-form root nearest to
// [0, 1], polished by Newton's method run to the same end as invert_bilinear (from there it takes
// one or two steps instead of about five from the centre, and ends at the same root up to the
// last bits of a double). False when that fails: the caller then runs the inversion from the
// centre.
bool invert_closed(const Pt& a, const Pt& b, const Pt& c, const Pt& d, const Pt& p, double& s,
                   double& t) {
    std::array<Pt, 2> st;
    return closed_starts(a, b, c, d, p, st) > 0 &&
           newton(a, b, c, d, p, s, t, false, st[0].x, st[0].y) == Newton::Root;
}

// (s, t) in [0, 1]^2 (up to 1e-9, then clamped) of p in the quad from either closed-form root,
// polished as above; false when neither is there. For a quad that is not convex (e.g. folded at a
// swath's edge) the bilinear map has two roots near the square and Newton's method from the
// centre may end at the one outside it although p is inside the quad: this finds the other.
bool invert_either(const Pt& a, const Pt& b, const Pt& c, const Pt& d, const Pt& p, double& s,
                   double& t) {
    constexpr double EPS = 1e-9;
    std::array<Pt, 2> st;
    const int n = closed_starts(a, b, c, d, p, st);
    for (int i = 0; i < n; ++i) {
        if (newton(a, b, c, d, p, s, t, false, st[i].x, st[i].y) == Newton::Root && s >= -EPS &&
            s <= 1 + EPS && t >= -EPS && t <= 1 + EPS) {
            s = std::clamp(s, 0.0, 1.0);
            t = std::clamp(t, 0.0, 1.0);
            return true;
        }
    }
    return false;
}

// (s, t) in [0, 1]^2 (clamped) of p in the quad (a, b, c, d): Newton's method from the quad's
// centre, else either closed-form root (invert_either); false when neither is inside.
bool locate_in(const Pt& a, const Pt& b, const Pt& c, const Pt& d, const Pt& p, double& s,
               double& t) {
    constexpr double EPS = 1e-9;
    if (!invert_bilinear(a, b, c, d, p, s, t) || s < -EPS || s > 1 + EPS || t < -EPS ||
        t > 1 + EPS) {
        return invert_either(a, b, c, d, p, s, t);
    }
    s = std::clamp(s, 0.0, 1.0);
    t = std::clamp(t, 0.0, 1.0);
    return true;
}

// The bilinear weights (s, t) of output centre p in the quad with corners a, b, c, d (as pass 2
// takes them: the quad's corners (r, c), (r, c + 1), (r + 1, c), (r + 1, c + 1)): the closed-form
// start ends where locate_in() ends (up to the last bits of a double, far below a float's);
// locate_in() when it does not converge. Clamped to [0, 1].
void bilinear_weights(const Pt& a, const Pt& b, const Pt& c, const Pt& d, const Pt& p, double& s,
                      double& t) {
    constexpr double EPS = 1e-9;
    if (!invert_closed(a, b, c, d, p, s, t) || s < -EPS || s > 1 + EPS || t < -EPS || t > 1 + EPS) {
        if (!locate_in(a, b, c, d, p, s, t)) {
            // Pass 1 found p inside this convex quad without the inversion (Hull::Inside) and
            // Newton's method fails on it: the quad's centre rather than a stray iterate.
            s = 0.5;
            t = 0.5;
        }
    }
    s = std::clamp(s, 0.0, 1.0);
    t = std::clamp(t, 0.0, 1.0);
}

// One bilinear weight to compute: the quad's corners and the output centre.
struct WeightIn {
    const Pt *a, *b, *c, *d, *p;
};

#if BAIMS_SWATH_AVX2
// Four claims' bilinear_weights() at a time with AVX2 (chosen at run time: the build targets
// baseline x86-64). The chain of a square root and four or more divisions per pixel is most of
// bilinear's pass 1; 4 lanes per instruction instead of 1. In each lane the same IEEE operations
// on the same doubles, in the same order, as closed_starts()'s first start and newton() (no FMA:
// the attribute enables AVX2 alone, and this file is compiled with -ffp-contract=off), so the
// same (s, t) (lanes are independent: a lane that is done or failed keeps its values while the
// others go on). Only the common case is done here: the first closed-form start finite, Newton's
// method ending at a Root and the root inside [0, 1]^2 (up to 1e-9); 95 % of bench/swath.sh's
// claims. The lanes of the other cases (the second start, locate_in(), Fail) are left to the
// caller, which runs bilinear_weights() on them: the whole scalar answer.
#define BAIMS_AVX2 [[gnu::target("avx2"), gnu::always_inline]] inline
BAIMS_AVX2 __m256d v_abs(__m256d v) {
    return _mm256_andnot_pd(_mm256_set1_pd(-0.0), v);
}
BAIMS_AVX2 __m256d v_cmp_le(__m256d x, __m256d y) {
    return _mm256_cmp_pd(x, y, _CMP_LE_OQ); // false when either is NaN, as x <= y
}
BAIMS_AVX2 __m256d v_cmp_lt(__m256d x, __m256d y) {
    return _mm256_cmp_pd(x, y, _CMP_LT_OQ);
}
// p0..p3 as four lanes of x and of y.
BAIMS_AVX2 void load4(const Pt* p0, const Pt* p1, const Pt* p2, const Pt* p3, __m256d& x,
                      __m256d& y) {
    const __m256d l02 =
        _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(&p0->x)), _mm_loadu_pd(&p2->x), 1);
    const __m256d l13 =
        _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(&p1->x)), _mm_loadu_pd(&p3->x), 1);
    x = _mm256_unpacklo_pd(l02, l13); // x0 x1 x2 x3
    y = _mm256_unpackhi_pd(l02, l13);
}
#undef BAIMS_AVX2

// The minimum (maximum) of the four corners of quads j .. j + 3 of a row, a = the row's values at
// j: corners a[l], a[l + 1] (row r) and a[nc + l], a[nc + l + 1] (row r + 1), l = 0 .. 3.
[[gnu::target("avx2"), gnu::always_inline]] inline __m256d quad_min4(const double* a, size_t nc) {
    return _mm256_min_pd(_mm256_min_pd(_mm256_loadu_pd(a), _mm256_loadu_pd(a + nc)),
                         _mm256_min_pd(_mm256_loadu_pd(a + 1), _mm256_loadu_pd(a + nc + 1)));
}
[[gnu::target("avx2"), gnu::always_inline]] inline __m256d quad_max4(const double* a, size_t nc) {
    return _mm256_max_pd(_mm256_max_pd(_mm256_loadu_pd(a), _mm256_loadu_pd(a + nc)),
                         _mm256_max_pd(_mm256_loadu_pd(a + 1), _mm256_loadu_pd(a + nc + 1)));
}

// For each 4-bit mask m, the lanes l (0..3) whose bit is set in m, in order, then zeros; and
// their number: the candidates of four quads appended with one store (quad_boxes4).
struct LaneList {
    std::array<std::array<std::uint32_t, 4>, 16> lanes;
    std::array<std::uint8_t, 16> count;
};
constexpr LaneList make_lane_list() {
    LaneList t{};
    for (unsigned m = 0; m < 16; ++m) {
        unsigned n = 0;
        for (unsigned l = 0; l < 4; ++l) {
            if ((m >> l) & 1U) {
                t.lanes[m][n++] = l;
            }
        }
        t.count[m] = static_cast<std::uint8_t>(n);
    }
    return t;
}
alignas(16) constexpr LaneList LANE_LIST = make_lane_list();

// Pass 1's pre-scan of a row of quads (Walk's quad_boxes) four quads at a time with AVX2, for
// quads j0 + 4 i while they fit in nq: the rounded bounds of quad j into qb[4 j .. 4 j + 3] and
// the quads whose box may hold an output centre appended to cand from n_in; the new n_in, and
// in j0 the first quad not done. The same min, max and compares per quad as the SSE2 loop. The
// candidates of four quads are stored as four entries at cand[n_in] (j + the lanes of the mask,
// LANE_LIST), of which the first as many as hold a centre count: the entries beyond are written
// over by the next step (cand has room: n_in + 3 <= j + 3 < nq).
[[gnu::target("avx2")]] size_t quad_boxes4(const double* cu, const double* fu, const double* cv,
                                           const double* fv, size_t nc, size_t nq, bool shifts,
                                           double oh1, double ow1, double* qb, std::uint32_t* cand,
                                           size_t n_in, size_t& j0) {
    const __m256d zero = _mm256_setzero_pd(), oh = _mm256_set1_pd(oh1), ow = _mm256_set1_pd(ow1);
    const __m256d sh = _mm256_castsi256_pd(_mm256_set1_epi64x(shifts ? -1 : 0));
    size_t j = j0;
    for (; j + 4 <= nq; j += 4) {
        // Quads j .. j + 3: corners j + l, j + l + 1 (row r) and nc + j + l, nc + j + l + 1.
        const __m256d r0 = quad_min4(cu + j, nc), r1 = quad_max4(fu + j, nc);
        const __m256d cl = quad_min4(cv + j, nc), ch = quad_max4(fv + j, nc);
        const __m256d rows_in = _mm256_and_pd(
            _mm256_and_pd(_mm256_cmp_pd(r1, zero, _CMP_GE_OQ), _mm256_cmp_pd(r0, oh, _CMP_LE_OQ)),
            _mm256_cmp_pd(r0, r1, _CMP_LE_OQ));
        const __m256d cols_in = _mm256_and_pd(
            _mm256_and_pd(_mm256_cmp_pd(ch, zero, _CMP_GE_OQ), _mm256_cmp_pd(cl, ow, _CMP_LE_OQ)),
            _mm256_cmp_pd(cl, ch, _CMP_LE_OQ));
        const auto in = static_cast<unsigned>(
            _mm256_movemask_pd(_mm256_and_pd(rows_in, _mm256_or_pd(cols_in, sh))));
        // (r0, r1, cl, ch) of each quad: a 4x4 transpose
        const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
        const __m256d t2 = _mm256_unpacklo_pd(cl, ch), t3 = _mm256_unpackhi_pd(cl, ch);
        double* dst = qb + 4 * j;
        _mm256_storeu_pd(dst, _mm256_permute2f128_pd(t0, t2, 0x20));
        _mm256_storeu_pd(dst + 4, _mm256_permute2f128_pd(t1, t3, 0x20));
        _mm256_storeu_pd(dst + 8, _mm256_permute2f128_pd(t0, t2, 0x31));
        _mm256_storeu_pd(dst + 12, _mm256_permute2f128_pd(t1, t3, 0x31));
        const __m128i lanes =
            _mm_load_si128(reinterpret_cast<const __m128i*>(LANE_LIST.lanes[in].data()));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(cand + n_in),
                         _mm_add_epi32(lanes, _mm_set1_epi32(static_cast<int>(j))));
        n_in += LANE_LIST.count[in];
    }
    j0 = j;
    return n_in;
}

// A quad and a point in each of four lanes, with newton()'s differences of the corners.
struct Quad4 {
    __m256d ax, ay, px, py, ex, ey, fx, fy, gx, gy;
};
[[gnu::target("avx2")]] inline Quad4 load_quad4(const WeightIn* in) {
    Quad4 q;
    __m256d bx, by, cx, cy, dx, dy;
    load4(in[0].a, in[1].a, in[2].a, in[3].a, q.ax, q.ay);
    load4(in[0].b, in[1].b, in[2].b, in[3].b, bx, by);
    load4(in[0].c, in[1].c, in[2].c, in[3].c, cx, cy);
    load4(in[0].d, in[1].d, in[2].d, in[3].d, dx, dy);
    load4(in[0].p, in[1].p, in[2].p, in[3].p, q.px, q.py);
    q.ex = _mm256_sub_pd(bx, q.ax);
    q.ey = _mm256_sub_pd(by, q.ay);
    q.fx = _mm256_sub_pd(cx, q.ax);
    q.fy = _mm256_sub_pd(cy, q.ay);
    q.gx = _mm256_add_pd(_mm256_sub_pd(_mm256_sub_pd(q.ax, bx), cx), dx);
    q.gy = _mm256_add_pd(_mm256_sub_pd(_mm256_sub_pd(q.ay, by), cy), dy);
    return q;
}

// newton()'s residual at (s, t): rx or ry.
[[gnu::target("avx2"), gnu::always_inline]] inline __m256d
residual(__m256d a, __m256d e, __m256d f, __m256d g, __m256d p, __m256d s, __m256d t) {
    return _mm256_sub_pd(
        _mm256_add_pd(_mm256_add_pd(_mm256_add_pd(a, _mm256_mul_pd(s, e)), _mm256_mul_pd(t, f)),
                      _mm256_mul_pd(_mm256_mul_pd(s, t), g)),
        p);
}

// newton()'s steps it0 .. it1 - 1 (not quick) on the lanes of `active` (the others keep s, t):
// the lanes that end at a Root (root) and those still running after step it1 - 1 (active); a
// lane whose determinant is 0 or not finite stops (Fail). With it1 = 20, newton()'s test after
// its last step too.
[[gnu::target("avx2")]] inline void newton4(const Quad4& q, __m256d& s, __m256d& t, __m256d& active,
                                            __m256d& root, int it0, int it1) {
    const __m256d zero = _mm256_setzero_pd();
    const __m256d inf = _mm256_set1_pd(std::numeric_limits<double>::infinity());
    const __m256d scale = _mm256_add_pd(
        _mm256_add_pd(_mm256_add_pd(v_abs(q.ex), v_abs(q.ey)), v_abs(q.fx)), v_abs(q.fy));
    const __m256d res_tol = _mm256_mul_pd(_mm256_set1_pd(1e-12), scale);
    const __m256d step_tol = _mm256_set1_pd(1e-13);
    for (int it = it0; it < it1 && _mm256_movemask_pd(active) != 0; ++it) {
        const __m256d rx = residual(q.ax, q.ex, q.fx, q.gx, q.px, s, t);
        const __m256d ry = residual(q.ay, q.ey, q.fy, q.gy, q.py, s, t);
        const __m256d j11 = _mm256_add_pd(q.ex, _mm256_mul_pd(t, q.gx));
        const __m256d j12 = _mm256_add_pd(q.fx, _mm256_mul_pd(s, q.gx));
        const __m256d j21 = _mm256_add_pd(q.ey, _mm256_mul_pd(t, q.gy));
        const __m256d j22 = _mm256_add_pd(q.fy, _mm256_mul_pd(s, q.gy));
        const __m256d det = _mm256_sub_pd(_mm256_mul_pd(j11, j22), _mm256_mul_pd(j12, j21));
        const __m256d fail = _mm256_or_pd(_mm256_cmp_pd(det, zero, _CMP_EQ_OQ),
                                          _mm256_cmp_pd(v_abs(det), inf, _CMP_NLT_UQ));
        active = _mm256_andnot_pd(fail, active);
        const __m256d ds =
            _mm256_div_pd(_mm256_sub_pd(_mm256_mul_pd(j22, rx), _mm256_mul_pd(j12, ry)), det);
        const __m256d dt =
            _mm256_div_pd(_mm256_sub_pd(_mm256_mul_pd(j11, ry), _mm256_mul_pd(j21, rx)), det);
        s = _mm256_blendv_pd(s, _mm256_sub_pd(s, ds), active);
        t = _mm256_blendv_pd(t, _mm256_sub_pd(t, dt), active);
        const __m256d conv = _mm256_and_pd(v_cmp_lt(_mm256_add_pd(v_abs(ds), v_abs(dt)), step_tol),
                                           v_cmp_lt(_mm256_add_pd(v_abs(rx), v_abs(ry)), res_tol));
        const __m256d done = _mm256_and_pd(active, conv);
        root = _mm256_or_pd(root, done);
        active = _mm256_andnot_pd(done, active);
    }
    if (it1 == 20 && _mm256_movemask_pd(active) != 0) {
        // 20 steps without convergence: a root when the residual is below 1e-9 of the quad.
        const __m256d rx = residual(q.ax, q.ex, q.fx, q.gx, q.px, s, t);
        const __m256d ry = residual(q.ay, q.ey, q.fy, q.gy, q.py, s, t);
        const __m256d near = v_cmp_lt(_mm256_add_pd(v_abs(rx), v_abs(ry)),
                                      _mm256_mul_pd(_mm256_set1_pd(1e-9), scale));
        root = _mm256_or_pd(root, _mm256_and_pd(active, near));
        active = zero;
    }
}

// bilinear_weights()'s range test of the root lanes (NaN fails it: such a lane goes to the
// caller) and std::clamp(v, 0, 1) (v < 0 ? 0 : 1 < v ? 1 : v) of s and t, into s_out, t_out:
// the lanes that are done.
[[gnu::target("avx2")]] inline __m256d finish4(__m256d s, __m256d t, __m256d root, double* s_out,
                                               double* t_out) {
    const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0);
    const __m256d lo = _mm256_set1_pd(-1e-9), hi = _mm256_set1_pd(1 + 1e-9);
    const __m256d in_s = _mm256_and_pd(v_cmp_le(lo, s), v_cmp_le(s, hi));
    const __m256d in_t = _mm256_and_pd(v_cmp_le(lo, t), v_cmp_le(t, hi));
    s = _mm256_blendv_pd(s, zero, v_cmp_lt(s, zero));
    s = _mm256_blendv_pd(s, one, v_cmp_lt(one, s));
    t = _mm256_blendv_pd(t, zero, v_cmp_lt(t, zero));
    t = _mm256_blendv_pd(t, one, v_cmp_lt(one, t));
    _mm256_storeu_pd(s_out, s);
    _mm256_storeu_pd(t_out, t);
    return _mm256_and_pd(root, _mm256_and_pd(in_s, in_t));
}

// Newton's steps of weights4 before a lane is put aside (for weights4_later): from the
// closed-form start nearly every lane converges within 3 steps; one that does not usually runs
// all 20 (its residual stays at the rounding level of the coordinates: ~5 % of bench/swath.sh's
// lanes, in 16 % of the groups of four), and would hold its group's three others for 17 more.
constexpr int NEWTON_FIRST = 3;

// closed_starts()'s first start (s0, t0) of in[0..3] into s_out, t_out; the lanes that have one
// (finite) in the answer's bits. (A row's starts are all found before its Newton steps: neither
// loop's chains of divisions then waits for the other's branches, so the groups overlap.)
[[gnu::target("avx2")]] unsigned starts4(const WeightIn* in, double* s_out, double* t_out) {
    const Quad4 q = load_quad4(in);
    const __m256d zero = _mm256_setzero_pd();
    const __m256d sign = _mm256_set1_pd(-0.0);
    const __m256d inf = _mm256_set1_pd(std::numeric_limits<double>::infinity());
    // closed_starts(), its first start
    const __m256d hx = _mm256_sub_pd(q.px, q.ax), hy = _mm256_sub_pd(q.py, q.ay);
    const __m256d k2 = _mm256_sub_pd(_mm256_mul_pd(q.gx, q.fy), _mm256_mul_pd(q.gy, q.fx));
    const __m256d k1 =
        _mm256_add_pd(_mm256_sub_pd(_mm256_mul_pd(hx, q.gy), _mm256_mul_pd(hy, q.gx)),
                      _mm256_sub_pd(_mm256_mul_pd(q.ex, q.fy), _mm256_mul_pd(q.ey, q.fx)));
    const __m256d k0 = _mm256_sub_pd(_mm256_mul_pd(hx, q.ey), _mm256_mul_pd(hy, q.ex));
    const __m256d lin = v_cmp_le(v_abs(k2), _mm256_mul_pd(_mm256_set1_pd(1e-12), v_abs(k1)));
    const int lin_m = _mm256_movemask_pd(lin);
    __m256d ok = _mm256_castsi256_pd(_mm256_set1_epi64x(-1)); // lanes still on the common path
    __m256d t0 = zero;
    if (lin_m != 15) {
        // The quadratic's root nearest to t = 0.5 (a lane with disc NaN or below 0 has none).
        const __m256d disc = _mm256_sub_pd(
            _mm256_mul_pd(k1, k1), _mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(4.0), k0), k2));
        ok = _mm256_and_pd(ok, _mm256_or_pd(lin, _mm256_cmp_pd(disc, zero, _CMP_GE_OQ)));
        const __m256d root = _mm256_sqrt_pd(disc);
        const __m256d signed_root =
            _mm256_or_pd(_mm256_andnot_pd(sign, root), _mm256_and_pd(sign, k1)); // copysign
        const __m256d qq = _mm256_mul_pd(_mm256_set1_pd(-0.5), _mm256_add_pd(k1, signed_root));
        const __m256d r1 = _mm256_div_pd(qq, k2), r2 = _mm256_div_pd(k0, qq);
        const __m256d half = _mm256_set1_pd(0.5);
        const __m256d first =
            v_cmp_le(v_abs(_mm256_sub_pd(r1, half)), v_abs(_mm256_sub_pd(r2, half)));
        t0 = _mm256_blendv_pd(r2, r1, first);
    }
    if (lin_m != 0) {
        const __m256d tl = _mm256_div_pd(_mm256_xor_pd(k0, sign), k1); // -k0 / k1
        t0 = _mm256_blendv_pd(t0, tl, lin);
    }
    const __m256d ddx = _mm256_add_pd(q.ex, _mm256_mul_pd(t0, q.gx));
    const __m256d ddy = _mm256_add_pd(q.ey, _mm256_mul_pd(t0, q.gy));
    const __m256d along_x = _mm256_cmp_pd(v_abs(ddx), v_abs(ddy), _CMP_GE_OQ);
    const __m256d num = _mm256_blendv_pd(_mm256_sub_pd(hy, _mm256_mul_pd(t0, q.fy)),
                                         _mm256_sub_pd(hx, _mm256_mul_pd(t0, q.fx)), along_x);
    const __m256d s0 = _mm256_div_pd(num, _mm256_blendv_pd(ddy, ddx, along_x));
    ok = _mm256_and_pd(ok, _mm256_and_pd(v_cmp_lt(v_abs(s0), inf), v_cmp_lt(v_abs(t0), inf)));
    _mm256_storeu_pd(s_out, s0);
    _mm256_storeu_pd(t_out, t0);
    return static_cast<unsigned>(_mm256_movemask_pd(ok));
}

// Lanes as a mask from the bits of `bits` (bit l: lane l).
[[gnu::target("avx2")]] inline __m256d lanes(unsigned bits) {
    const __m256i bit = _mm256_set_epi64x(8, 4, 2, 1);
    return _mm256_castsi256_pd(_mm256_cmpeq_epi64(
        _mm256_and_si256(_mm256_set1_epi64x(static_cast<long long>(bits)), bit), bit));
}

// The weights of in[0..3] from starts4's starts in s_io, t_io (the lanes of `ok`) into s_io[l],
// t_io[l] for the lanes l whose bit is set in the answer's low 4 bits. Bits 4..7: the lanes still
// in Newton's method after NEWTON_FIRST steps, their s, t (not clamped) in s_io, t_io, to go on
// with weights4_later.
[[gnu::target("avx2")]] unsigned weights4(const WeightIn* in, double* s_io, double* t_io,
                                          unsigned ok) {
    const Quad4 q = load_quad4(in);
    // newton() from (s0, t0), its first steps
    __m256d s = _mm256_loadu_pd(s_io), t = _mm256_loadu_pd(t_io);
    __m256d active = lanes(ok), root = _mm256_setzero_pd();
    newton4(q, s, t, active, root, 0, NEWTON_FIRST);
    const __m256d done = finish4(s, t, root, s_io, t_io);
    // the lanes still running: their s, t as they are
    _mm256_maskstore_pd(s_io, _mm256_castpd_si256(active), s);
    _mm256_maskstore_pd(t_io, _mm256_castpd_si256(active), t);
    return static_cast<unsigned>(_mm256_movemask_pd(done) | (_mm256_movemask_pd(active) << 4));
}

// The lanes weights4 put aside, four at a time (from different groups: all after the same
// NEWTON_FIRST steps), from their s, t in s_io, t_io: the rest of newton() and the end of
// bilinear_weights(), into s_io, t_io; the lanes that are done, as weights4's low bits.
[[gnu::target("avx2")]] unsigned weights4_later(const WeightIn* in, double* s_io, double* t_io) {
    const Quad4 q = load_quad4(in);
    __m256d s = _mm256_loadu_pd(s_io), t = _mm256_loadu_pd(t_io);
    __m256d active = _mm256_castsi256_pd(_mm256_set1_epi64x(-1)), root = _mm256_setzero_pd();
    newton4(q, s, t, active, root, NEWTON_FIRST, 20);
    return static_cast<unsigned>(_mm256_movemask_pd(finish4(s, t, root, s_io, t_io)));
}
#endif

// Pass 1's pre-scan of a row of nq quads (Walk): their rounded bounds into qb (ceil(min u),
// floor(max u), ceil(min v), floor(max v) of quad j at 4 j .. 4 j + 3) and the quads whose box
// may hold an output centre (rows_in & (cols_in | shifts), as the walk tested them one by one)
// into cand[0 .. the answer), in column order; the corners' per-cell rounded u and v of the row
// are cu, fu, cv, fv [0 .. nq] (the next row's nc further on). Only for a block without odd
// cells: no NaN, so the minimum and maximum of the four corners are the same doubles in any
// order. Four quads at a time with AVX2 when avx2 (quad_boxes4), then two with SSE2, then one.
size_t quad_boxes(const double* cu, const double* fu, const double* cv, const double* fv, size_t nc,
                  size_t nq, bool shifts, double oh1, double ow1, bool avx2, double* qb,
                  std::uint32_t* cand) {
    size_t n_in = 0, j = 0;
#if BAIMS_SWATH_AVX2
    if (avx2) {
        n_in = quad_boxes4(cu, fu, cv, fv, nc, nq, shifts, oh1, ow1, qb, cand, n_in, j);
    }
#endif
#if defined(__SSE2__)
    const __m128d zero = _mm_setzero_pd(), oh = _mm_set1_pd(oh1), ow = _mm_set1_pd(ow1);
    // The minimum (maximum) of the four corners of quads i and i + 1 in a.
    const auto quad_min = [nc](const double* a, size_t i) {
        return _mm_min_pd(_mm_min_pd(_mm_loadu_pd(a + i), _mm_loadu_pd(a + nc + i)),
                          _mm_min_pd(_mm_loadu_pd(a + i + 1), _mm_loadu_pd(a + nc + i + 1)));
    };
    const auto quad_max = [nc](const double* a, size_t i) {
        return _mm_max_pd(_mm_max_pd(_mm_loadu_pd(a + i), _mm_loadu_pd(a + nc + i)),
                          _mm_max_pd(_mm_loadu_pd(a + i + 1), _mm_loadu_pd(a + nc + i + 1)));
    };
    const __m128d sh = _mm_castsi128_pd(_mm_set1_epi32(shifts ? -1 : 0));
    for (; j + 2 <= nq; j += 2) {
        // Quads j and j + 1: corners j, j + 1 (row r) and nc + j, nc + j + 1 (r + 1).
        const __m128d r0 = quad_min(cu, j), r1 = quad_max(fu, j);
        const __m128d cl = quad_min(cv, j), ch = quad_max(fv, j);
        const __m128d rows_in = _mm_and_pd(_mm_and_pd(_mm_cmpge_pd(r1, zero), _mm_cmple_pd(r0, oh)),
                                           _mm_cmple_pd(r0, r1));
        const __m128d cols_in = _mm_and_pd(_mm_and_pd(_mm_cmpge_pd(ch, zero), _mm_cmple_pd(cl, ow)),
                                           _mm_cmple_pd(cl, ch));
        const int in = _mm_movemask_pd(_mm_and_pd(rows_in, _mm_or_pd(cols_in, sh)));
        double* dst = qb + 4 * j;
        _mm_storeu_pd(dst, _mm_unpacklo_pd(r0, r1));
        _mm_storeu_pd(dst + 2, _mm_unpacklo_pd(cl, ch));
        _mm_storeu_pd(dst + 4, _mm_unpackhi_pd(r0, r1));
        _mm_storeu_pd(dst + 6, _mm_unpackhi_pd(cl, ch));
        cand[n_in] = static_cast<std::uint32_t>(j);
        n_in += static_cast<size_t>(in & 1);
        cand[n_in] = static_cast<std::uint32_t>(j + 1);
        n_in += static_cast<size_t>(in >> 1);
    }
#endif
    for (; j < nq; ++j) {
        const double r0 =
            std::min(std::min(cu[j], cu[nc + j]), std::min(cu[j + 1], cu[nc + j + 1]));
        const double r1 =
            std::max(std::max(fu[j], fu[nc + j]), std::max(fu[j + 1], fu[nc + j + 1]));
        const double cl =
            std::min(std::min(cv[j], cv[nc + j]), std::min(cv[j + 1], cv[nc + j + 1]));
        const double ch =
            std::max(std::max(fv[j], fv[nc + j]), std::max(fv[j + 1], fv[nc + j + 1]));
        const bool rows_in = (r1 >= 0) & (r0 <= oh1) & (r0 <= r1);
        const bool cols_in = (ch >= 0) & (cl <= ow1) & (cl <= ch);
        qb[4 * j] = r0;
        qb[4 * j + 1] = r1;
        qb[4 * j + 2] = cl;
        qb[4 * j + 3] = ch;
        cand[n_in] = static_cast<std::uint32_t>(j);
        n_in += static_cast<size_t>(rows_in & (cols_in | shifts));
    }
    (void)avx2;
    return n_in;
}

// Whether the CPU has AVX2 (for weights4 and quad_boxes4).
bool cpu_has_avx2() {
#if BAIMS_SWATH_AVX2
    static const bool has = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") != 0;
    }();
    return has;
#else
    return false;
#endif
}

// Whether the walk runs its AVX2 copy (map_swath) and pass 1 uses weights4() and quad_boxes4():
// the CPU has AVX2, unless the environment sets BAIMS_SWATH_AVX2=0 (the fallback on such a CPU:
// the tests run both).
bool use_avx2() {
    static const bool on = [] {
        const char* v = std::getenv("BAIMS_SWATH_AVX2");
        return cpu_has_avx2() && !(v != nullptr && std::string_view(v) == "0");
    }();
    return on;
}

// weigh_all's scratch (kept by the caller from one call to the next).
struct WeighScratch {
    std::vector<double> s, t;      // every input's weights
    std::vector<unsigned char> ok; // per group of four: the lanes with a closed-form start
    std::vector<size_t> later;     // the inputs weights4 put aside
};

// bilinear_weights() of in(0) .. in(n - 1) (WeightIn), handed to store(i, s, t) in that order;
// with avx2, four at a time by starts4() then weights4() (the last group padded with copies of
// the last input), then the lanes weights4() put aside four at a time by weights4_later(), the
// rest by bilinear_weights(). Returns how many of them the AVX2 kernels answered.
template <typename In, typename Store>
size_t weigh_all(size_t n, bool avx2, In in, Store store, WeighScratch& sc) {
#if BAIMS_SWATH_AVX2
    if (avx2 && n > 0) {
        const size_t n4 = (n + 3) / 4 * 4;
        sc.s.resize(n4);
        sc.t.resize(n4);
        sc.later.clear();
        size_t answered = 0;
        auto scalar = [&](size_t k) {
            const WeightIn w = in(k);
            bilinear_weights(*w.a, *w.b, *w.c, *w.d, *w.p, sc.s[k], sc.t[k]);
        };
        sc.ok.resize(n4 / 4);
        auto group = [&](size_t i) {
            std::array<WeightIn, 4> w;
            for (size_t l = 0; l < 4; ++l) {
                w[l] = in(std::min(i + l, n - 1));
            }
            return w;
        };
        for (size_t i = 0; i < n; i += 4) {
            sc.ok[i / 4] = static_cast<unsigned char>(
                starts4(group(i).data(), sc.s.data() + i, sc.t.data() + i));
        }
        for (size_t i = 0; i < n; i += 4) {
            const unsigned r =
                weights4(group(i).data(), sc.s.data() + i, sc.t.data() + i, sc.ok[i / 4]);
            for (size_t l = 0; l < 4 && i + l < n; ++l) {
                if (((r >> l) & 1U) != 0) {
                    ++answered;
                } else if (((r >> (4 + l)) & 1U) != 0) {
                    sc.later.push_back(i + l);
                } else {
                    scalar(i + l);
                }
            }
        }
        const size_t nl = sc.later.size();
        for (size_t j = 0; j < nl; j += 4) {
            std::array<WeightIn, 4> w;
            std::array<double, 4> s, t;
            for (size_t l = 0; l < 4; ++l) {
                const size_t k = sc.later[std::min(j + l, nl - 1)];
                w[l] = in(k);
                s[l] = sc.s[k];
                t[l] = sc.t[k];
            }
            const unsigned r = weights4_later(w.data(), s.data(), t.data());
            for (size_t l = 0; l < 4 && j + l < nl; ++l) {
                const size_t k = sc.later[j + l];
                if (((r >> l) & 1U) != 0) {
                    sc.s[k] = s[l];
                    sc.t[k] = t[l];
                    ++answered;
                } else {
                    scalar(k);
                }
            }
        }
        for (size_t i = 0; i < n; ++i) {
            store(i, sc.s[i], sc.t[i]);
        }
        return answered;
    }
#endif
    (void)avx2;
    (void)sc;
    for (size_t i = 0; i < n; ++i) {
        const WeightIn w = in(i);
        double s = 0, t = 0;
        bilinear_weights(*w.a, *w.b, *w.c, *w.d, *w.p, s, t);
        store(i, s, t);
    }
    return 0;
}

// LatLon2D::unpack, the same double. (A NaN chosen by a mask instead of the jump was ~7 more
// instructions per position; positions without value are rare, or in runs, and their jump is
// predicted.)
inline double unpack_fast(std::int32_t v, double scale, double offset) {
    const double d = static_cast<double>(v) * scale + offset;
    return v == io::LatLon2D::PACKED_NONE ? std::numeric_limits<double>::quiet_NaN() : d;
}

// unpack_fast of p[0 .. n) into out, two at a time (the same doubles: the conversion of an int32
// is exact, then the same multiplication and addition; PACKED_NONE as NaN).
void unpack_run(const std::int32_t* p, size_t n, double scale, double offset, double* out) {
    size_t j = 0;
#if BAIMS_SWATH_AVX2_COPY
    // Four at a time in the AVX2 copy: the same operations per lane.
    const __m256d sc4 = _mm256_set1_pd(scale), of4 = _mm256_set1_pd(offset),
                  nan4 = _mm256_set1_pd(std::numeric_limits<double>::quiet_NaN());
    const __m128i none4 = _mm_set1_epi32(io::LatLon2D::PACKED_NONE);
    for (; j + 4 <= n; j += 4) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + j));
        const __m256d d = _mm256_add_pd(_mm256_mul_pd(_mm256_cvtepi32_pd(v), sc4), of4);
        // The 32-bit compare's lanes widened to 64-bit masks (sign extension of all ones or 0).
        const __m256d m = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_cmpeq_epi32(v, none4)));
        _mm256_storeu_pd(out + j, _mm256_blendv_pd(d, nan4, m));
    }
#endif
#if defined(__SSE2__)
    const __m128d sc = _mm_set1_pd(scale), of = _mm_set1_pd(offset),
                  nan = _mm_set1_pd(std::numeric_limits<double>::quiet_NaN());
    const __m128i none = _mm_set1_epi32(io::LatLon2D::PACKED_NONE);
    for (; j + 2 <= n; j += 2) {
        const __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + j));
        const __m128d d = _mm_add_pd(_mm_mul_pd(_mm_cvtepi32_pd(v), sc), of);
        const __m128i eq = _mm_cmpeq_epi32(v, none);                    // lanes 0 and 1
        const __m128d m = _mm_castsi128_pd(_mm_unpacklo_epi32(eq, eq)); // as 64-bit masks
        _mm_storeu_pd(out + j, _mm_or_pd(_mm_and_pd(m, nan), _mm_andnot_pd(m, d)));
    }
#endif
    for (; j < n; ++j) {
        out[j] = unpack_fast(p[j], scale, offset);
    }
}

// The first n (0..15) with dist[n] the smallest of the 16 distances, NaN and +inf never chosen: -1
// when none is below +inf. The same n as the loop `if (dist[n] < best) { best = dist[n]; bn = n; }`
// from best = +inf, without its 16 data-dependent jumps: the minimum of the distances that are not
// NaN first, then the first distance equal to it (a minimum of -0 and +0 compares equal to both,
// as the loop's strict `<` keeps the first of them; NaN equals nothing).
[[gnu::always_inline]] inline int first_smallest(const std::array<double, 16>& dist) {
#if BAIMS_SWATH_AVX2_COPY
    // The AVX2 copy: four distances per register, the same steps as the SSE2 code below.
    const __m256d inf = _mm256_set1_pd(std::numeric_limits<double>::infinity());
    __m256d d[4];
#pragma GCC unroll 4
    for (size_t i = 0; i < 4; ++i) {
        d[i] = _mm256_loadu_pd(dist.data() + 4 * i);
    }
    // Two running minima from +inf; VMINPD, as MINPD, returns its second operand when either is
    // NaN, so neither is ever NaN.
    const __m256d a0 = _mm256_min_pd(d[2], _mm256_min_pd(d[0], inf));
    const __m256d a1 = _mm256_min_pd(d[3], _mm256_min_pd(d[1], inf));
    __m256d m = _mm256_min_pd(a0, a1);
    // Every lane the minimum of the four (the halves swapped, then the pairs): a -0 and a +0 may
    // end in different lanes, which compare equal to both as below.
    m = _mm256_min_pd(m, _mm256_permute2f128_pd(m, m, 1));
    m = _mm256_min_pd(m, _mm256_permute_pd(m, 5));
    if (!(_mm256_cvtsd_f64(m) < std::numeric_limits<double>::infinity())) {
        return -1;
    }
    // Bit n of the mask: distance n equals the minimum (NaN equals nothing).
    unsigned eq = 0;
#pragma GCC unroll 4
    for (size_t i = 0; i < 4; ++i) {
        eq |= static_cast<unsigned>(_mm256_movemask_pd(_mm256_cmp_pd(d[i], m, _CMP_EQ_OQ)))
              << (4 * i);
    }
    return std::countr_zero(eq);
#elif defined(__SSE2__)
    const __m128d inf = _mm_set1_pd(std::numeric_limits<double>::infinity());
    __m128d d[8];
#pragma GCC unroll 8
    for (size_t i = 0; i < 8; ++i) {
        d[i] = _mm_loadu_pd(dist.data() + 2 * i);
    }
    // Two running minima from +inf: _mm_min_pd(x, acc) is acc where x is NaN (MINPD returns its
    // second operand when either is NaN), so neither minimum is ever NaN.
    __m128d a0 = _mm_min_pd(d[0], inf), a1 = _mm_min_pd(d[1], inf);
#pragma GCC unroll 3
    for (size_t i = 2; i < 8; i += 2) {
        a0 = _mm_min_pd(d[i], a0);
        a1 = _mm_min_pd(d[i + 1], a1);
    }
    __m128d m = _mm_min_pd(a0, a1);
    m = _mm_min_pd(m, _mm_unpackhi_pd(m, m));
    if (!(_mm_cvtsd_f64(m) < std::numeric_limits<double>::infinity())) {
        return -1;
    }
    m = _mm_unpacklo_pd(m, m);
    // The compares' 64-bit lanes (all ones or zero) packed down to two bytes per distance: bits
    // 2n and 2n + 1 of the mask are distance n's.
    __m128i e[4];
#pragma GCC unroll 4
    for (size_t i = 0; i < 4; ++i) {
        e[i] = _mm_packs_epi32(_mm_castpd_si128(_mm_cmpeq_pd(d[2 * i], m)),
                               _mm_castpd_si128(_mm_cmpeq_pd(d[2 * i + 1], m)));
    }
    const auto lo = static_cast<unsigned>(_mm_movemask_epi8(_mm_packs_epi16(e[0], e[1])));
    const auto hi = static_cast<unsigned>(_mm_movemask_epi8(_mm_packs_epi16(e[2], e[3])));
    return std::countr_zero(lo | (hi << 16)) / 2;
#else
    double best = std::numeric_limits<double>::infinity();
    int bn = -1;
    for (int n = 0; n < 16; ++n) {
        if (dist[n] < best) { // NaN positions never win
            best = dist[n];
            bn = n;
        }
    }
    return bn;
#endif
}

// The squared local distances (dlon * kx, dlat) from p of the 4x4 cells whose positions are
// x[j * stride + k], y[j * stride + k] (j, k < 4), into dist[j * 4 + k].
[[gnu::always_inline]] inline void dist16(const double* x, const double* y, size_t stride,
                                          const Pt& p, double kx, std::array<double, 16>& dist) {
#if BAIMS_SWATH_AVX2_COPY
    // The AVX2 copy: a row of four at a time, the same operations per lane.
    const __m256d px4 = _mm256_set1_pd(p.x), py4 = _mm256_set1_pd(p.y), kx4 = _mm256_set1_pd(kx);
#pragma GCC unroll 4
    for (size_t j = 0; j < 4; ++j) {
        const __m256d ddx = _mm256_mul_pd(_mm256_sub_pd(_mm256_loadu_pd(x + j * stride), px4), kx4);
        const __m256d ddy = _mm256_sub_pd(_mm256_loadu_pd(y + j * stride), py4);
        _mm256_storeu_pd(dist.data() + j * 4,
                         _mm256_add_pd(_mm256_mul_pd(ddx, ddx), _mm256_mul_pd(ddy, ddy)));
    }
#elif defined(__SSE2__)
    // Two distances at a time: the same operations on the same doubles as the loop below.
    const __m128d px2 = _mm_set1_pd(p.x), py2 = _mm_set1_pd(p.y), kx2 = _mm_set1_pd(kx);
#pragma GCC unroll 4
    for (size_t j = 0; j < 4; ++j) {
#pragma GCC unroll 2
        for (size_t k = 0; k < 4; k += 2) {
            const size_t w = j * stride + k;
            const __m128d ddx = _mm_mul_pd(_mm_sub_pd(_mm_loadu_pd(x + w), px2), kx2);
            const __m128d ddy = _mm_sub_pd(_mm_loadu_pd(y + w), py2);
            _mm_storeu_pd(dist.data() + j * 4 + k,
                          _mm_add_pd(_mm_mul_pd(ddx, ddx), _mm_mul_pd(ddy, ddy)));
        }
    }
#else
    for (size_t j = 0; j < 4; ++j) {
        for (size_t k = 0; k < 4; ++k) {
            const size_t w = j * stride + k;
            const double ddx = (x[w] - p.x) * kx;
            const double ddy = y[w] - p.y;
            dist[j * 4 + k] = ddx * ddx + ddy * ddy;
        }
    }
#endif
}

// Whether neighbouring cells are more than 180 degrees of longitude apart: the swath crosses the
// antimeridian.
// The longitude of cell i is lon(i). clear(r), when given, may say that no cell of row r is that
// far from its right or lower neighbour (the row is then not looked at further).
template <typename Lon, typename Clear>
bool crosses_antimeridian(const io::LatLon2D& src, Lon lon, Clear clear,
                          const io::ForEach& for_each) {
    const size_t H = src.height, W = src.width, rows_per = 256;
    std::atomic<bool> crosses{false};
    // In parallel over bands of rows (a yes/no answer: the same however they run).
    for_each((H - 1 + rows_per - 1) / rows_per, [&](size_t b) {
        for (size_t r = b * rows_per; r < std::min(H - 1, (b + 1) * rows_per); ++r) {
            if (crosses.load(std::memory_order_relaxed)) {
                return;
            }
            if (clear(r)) {
                continue;
            }
            double a = lon(r * W); // cell (r, c); then the previous cell's right neighbour
            for (size_t c = 0; c + 1 < W; ++c) {
                const size_t q = r * W + c;
                const double bb = lon(q + 1), d = lon(q + W);
                if (std::abs(a - bb) > 180.0 || std::abs(a - d) > 180.0) { // NaN compares false
                    crosses.store(true, std::memory_order_relaxed);
                    return;
                }
                a = bb;
            }
        }
    });
    return crosses.load();
}

// Whether output centre p is inside the quad (a, b, c, d) (corners (r, c), (r, c+1),
// (r+1, c), (r+1, c+1)), as far as its edges tell (test): Outside only when p is outside the
// quad's convex hull by more than a millionth of the quad's size. Every point that locate() accepts
// lies in the bilinear image of
// [-1e-9, 1 + 1e-9]^2 up to a residual of 1e-9 of the quad's edge lengths, i.e. within ~1e-8 of
// the quad's size of the hull (the image of [0, 1]^2 is a convex combination of the corners), so
// Outside only spares the Newton inversion of centres that it would reject anyway. For a quad
// that is not strictly convex the test says Maybe (no pre-test).
#if BAIMS_SWATH_AVX2_COPY
// The AVX2 copy: the four edges in one register (lane i edge i), in each lane the same IEEE
// operations on the same doubles as the scalar class under #else, so the same answers.
class Hull {
public:
    Hull() = default; // unset (the walk builds it when a quad needs it)
    Hull(const Pt& a, const Pt& b, const Pt& c, const Pt& d, double size) {
        // Vertices in order around the quad: v = a, b, d, c; edge i = v[i + 1] - v[i].
        const __m256d ad = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(&a.x)),
                                                _mm_loadu_pd(&d.x), 1); // a.x a.y d.x d.y
        const __m256d bc = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(&b.x)),
                                                _mm_loadu_pd(&c.x), 1); // b.x b.y c.x c.y
        const __m256d vx = _mm256_unpacklo_pd(ad, bc), vy = _mm256_unpackhi_pd(ad, bc);
        constexpr int NEXT = 0x39; // lanes 1, 2, 3, 0: lane i takes lane i + 1 (mod 4)
        const __m256d ex = _mm256_sub_pd(_mm256_permute4x64_pd(vx, NEXT), vx);
        const __m256d ey = _mm256_sub_pd(_mm256_permute4x64_pd(vy, NEXT), vy);
        // turn i = e[i].x * e[i + 1].y - e[i].y * e[i + 1].x
        const __m256d turn = _mm256_sub_pd(_mm256_mul_pd(ex, _mm256_permute4x64_pd(ey, NEXT)),
                                           _mm256_mul_pd(ey, _mm256_permute4x64_pd(ex, NEXT)));
        const __m256d zero = _mm256_setzero_pd();
        const int pos = _mm256_movemask_pd(_mm256_cmp_pd(turn, zero, _CMP_GT_OS));
        const int neg = _mm256_movemask_pd(_mm256_cmp_pd(turn, zero, _CMP_LT_OS));
        const double sign = pos == 15 ? 1.0 : neg == 15 ? -1.0 : 0.0;
        m_convex = sign != 0;
        const __m256d sg = _mm256_set1_pd(sign), margin = _mm256_set1_pd(1e-6 * size);
        const __m256d abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffLL));
        // As in the SSE2 class below (the sign taken into the edge, the threshold).
        m_sx = _mm256_mul_pd(sg, ex);
        m_sy = _mm256_mul_pd(sg, ey);
        m_vx = vx;
        m_vy = vy;
        m_tol = _mm256_mul_pd(
            margin, _mm256_add_pd(_mm256_and_pd(ex, abs_mask), _mm256_and_pd(ey, abs_mask)));
        m_ntol = _mm256_xor_pd(m_tol, _mm256_set1_pd(-0.0)); // -tol, exact
    }
    bool convex() const { return m_convex; }
    // The part of each edge's cross product that depends on the output row's y only.
    struct Row {
        __m256d r;
    };
    Row row(double py) const {
        return Row{_mm256_mul_pd(m_sx, _mm256_sub_pd(_mm256_set1_pd(py), m_vy))};
    }
    // As the scalar test under #else (see there).
    enum Answer { Outside, Maybe, Inside };
    Answer test(const Row& r, double px) const {
        if (!m_convex) {
            return Maybe;
        }
        const __m256d c =
            _mm256_sub_pd(r.r, _mm256_mul_pd(m_sy, _mm256_sub_pd(_mm256_set1_pd(px), m_vx)));
        const int outside = _mm256_movemask_pd(_mm256_cmp_pd(c, m_ntol, _CMP_LT_OS));
        const int inside = _mm256_movemask_pd(_mm256_cmp_pd(c, m_tol, _CMP_GT_OS));
        return outside != 0 ? Outside : inside == 15 ? Inside : Maybe;
    }

private:
    __m256d m_sx, m_sy, m_vx, m_vy, m_tol, m_ntol;
    bool m_convex;
};
#elif defined(__SSE2__)
// Two edges per SSE2 register (edges 0, 1 and 2, 3): in each lane the same IEEE operations on the
// same doubles as the scalar class under #else, so the same answers.
class Hull {
public:
    Hull() = default; // unset (the walk builds it when a quad needs it)
    Hull(const Pt& a, const Pt& b, const Pt& c, const Pt& d, double size) {
        // Vertices in order around the quad: v = a, b, d, c; edge i = v[i + 1] - v[i].
        const __m128d vx01 = _mm_set_pd(b.x, a.x), vx23 = _mm_set_pd(c.x, d.x);
        const __m128d vy01 = _mm_set_pd(b.y, a.y), vy23 = _mm_set_pd(c.y, d.y);
        const __m128d vx12 = _mm_shuffle_pd(vx01, vx23, 1), vx30 = _mm_shuffle_pd(vx23, vx01, 1);
        const __m128d vy12 = _mm_shuffle_pd(vy01, vy23, 1), vy30 = _mm_shuffle_pd(vy23, vy01, 1);
        const __m128d ex01 = _mm_sub_pd(vx12, vx01), ex23 = _mm_sub_pd(vx30, vx23);
        const __m128d ey01 = _mm_sub_pd(vy12, vy01), ey23 = _mm_sub_pd(vy30, vy23);
        // turn i = e[i].x * e[i + 1].y - e[i].y * e[i + 1].x
        const __m128d ex12 = _mm_shuffle_pd(ex01, ex23, 1), ex30 = _mm_shuffle_pd(ex23, ex01, 1);
        const __m128d ey12 = _mm_shuffle_pd(ey01, ey23, 1), ey30 = _mm_shuffle_pd(ey23, ey01, 1);
        const __m128d t01 = _mm_sub_pd(_mm_mul_pd(ex01, ey12), _mm_mul_pd(ey01, ex12));
        const __m128d t23 = _mm_sub_pd(_mm_mul_pd(ex23, ey30), _mm_mul_pd(ey23, ex30));
        const __m128d zero = _mm_setzero_pd();
        const int pos = _mm_movemask_pd(_mm_cmpgt_pd(t01, zero)) |
                        (_mm_movemask_pd(_mm_cmpgt_pd(t23, zero)) << 2);
        const int neg = _mm_movemask_pd(_mm_cmplt_pd(t01, zero)) |
                        (_mm_movemask_pd(_mm_cmplt_pd(t23, zero)) << 2);
        const double sign = pos == 15 ? 1.0 : neg == 15 ? -1.0 : 0.0;
        m_convex = sign != 0;
        const __m128d sg = _mm_set1_pd(sign), margin = _mm_set1_pd(1e-6 * size);
        const __m128d abs_mask = _mm_castsi128_pd(_mm_set1_epi64x(0x7fffffffffffffffLL));
        // The sign taken into the edge: sign * (ex * dy - ey * dx) and (sign ex) dy - (sign ey)
        // dx are the same double for sign = +-1 (rounding to nearest is symmetric). cross / |e|
        // is p's signed distance from the edge's line; |e|_1 >= |e|_2 makes the threshold at
        // least the margin.
        m_sx[0] = _mm_mul_pd(sg, ex01);
        m_sx[1] = _mm_mul_pd(sg, ex23);
        m_sy[0] = _mm_mul_pd(sg, ey01);
        m_sy[1] = _mm_mul_pd(sg, ey23);
        m_vx[0] = vx01;
        m_vx[1] = vx23;
        m_vy[0] = vy01;
        m_vy[1] = vy23;
        m_tol[0] =
            _mm_mul_pd(margin, _mm_add_pd(_mm_and_pd(ex01, abs_mask), _mm_and_pd(ey01, abs_mask)));
        m_tol[1] =
            _mm_mul_pd(margin, _mm_add_pd(_mm_and_pd(ex23, abs_mask), _mm_and_pd(ey23, abs_mask)));
        const __m128d neg0 = _mm_set1_pd(-0.0);
        m_ntol[0] = _mm_xor_pd(m_tol[0], neg0); // -tol, exact
        m_ntol[1] = _mm_xor_pd(m_tol[1], neg0);
    }
    bool convex() const { return m_convex; }
    // The part of each edge's cross product that depends on the output row's y only.
    struct Row {
        __m128d r[2];
    };
    Row row(double py) const {
        const __m128d y = _mm_set1_pd(py);
        return Row{{_mm_mul_pd(m_sx[0], _mm_sub_pd(y, m_vy[0])),
                    _mm_mul_pd(m_sx[1], _mm_sub_pd(y, m_vy[1]))}};
    }
    // As the scalar test under #else (see there).
    enum Answer { Outside, Maybe, Inside };
    Answer test(const Row& r, double px) const {
        if (!m_convex) {
            return Maybe;
        }
        const __m128d x = _mm_set1_pd(px);
        const __m128d c0 = _mm_sub_pd(r.r[0], _mm_mul_pd(m_sy[0], _mm_sub_pd(x, m_vx[0])));
        const __m128d c1 = _mm_sub_pd(r.r[1], _mm_mul_pd(m_sy[1], _mm_sub_pd(x, m_vx[1])));
        const int outside =
            _mm_movemask_pd(_mm_or_pd(_mm_cmplt_pd(c0, m_ntol[0]), _mm_cmplt_pd(c1, m_ntol[1])));
        const int inside =
            _mm_movemask_pd(_mm_and_pd(_mm_cmpgt_pd(c0, m_tol[0]), _mm_cmpgt_pd(c1, m_tol[1])));
        return outside != 0 ? Outside : inside == 3 ? Inside : Maybe;
    }

private:
    __m128d m_sx[2], m_sy[2], m_vx[2], m_vy[2], m_tol[2], m_ntol[2];
    bool m_convex;
};
#else
class Hull {
public:
    Hull() = default; // unset (the walk builds it when a quad needs it)
    Hull(const Pt& a, const Pt& b, const Pt& c, const Pt& d, double size) {
        const std::array<Pt, 4> v{a, b, d, c}; // in order around the quad
        std::array<Pt, 4> e;                   // v[i + 1] - v[i]
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {
            e[i] = Pt{v[(i + 1) % 4].x - v[i].x, v[(i + 1) % 4].y - v[i].y};
        }
        int pos = 0, neg = 0;
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {
            const Pt& f = e[(i + 1) % 4];
            const double turn = e[i].x * f.y - e[i].y * f.x;
            pos += turn > 0;
            neg += turn < 0;
        }
        const double sign = pos == 4 ? 1.0 : neg == 4 ? -1.0 : 0.0;
        m_convex = sign != 0;
        const double margin = 1e-6 * size;
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {
            // The sign taken into the edge: sign * (ex * dy - ey * dx) and (sign ex) dy - (sign
            // ey) dx are the same double for sign = +-1 (rounding to nearest is symmetric).
            m_sx[i] = sign * e[i].x;
            m_sy[i] = sign * e[i].y;
            m_vx[i] = v[i].x;
            m_vy[i] = v[i].y;
            // cross / |e| is p's signed distance from the edge's line; |e|_1 >= |e|_2 makes the
            // threshold at least the margin.
            m_tol[i] = margin * (std::abs(e[i].x) + std::abs(e[i].y));
        }
    }
    bool convex() const {
        return m_convex;
    }
    // The part of each edge's cross product that depends on the output row's y only.
    using Row = std::array<double, 4>;
    Row row(double py) const {
        Row r;
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {
            r[i] = m_sx[i] * (py - m_vy[i]);
        }
        return r;
    }
    // Outside: p = (px, the row's y) is outside the hull by more than the margin (the quad does
    // not hold it). Inside: p is inside a strictly convex quad by more than the margin from every
    // edge: the bilinear map of a strictly convex quad takes [0, 1]^2 one-to-one onto the quad
    // (its edges are the images of the square's sides), so (s, t) is inside [0, 1]^2 by far more
    // than the 1e-9 of locate() and the quad holds p. Maybe: only the inversion can tell (always
    // for a quad that is not strictly convex).
    // Along an output row each edge's cross product is a monotone function of px (px - vx,
    // the product with sy and the difference from the row's part are each rounded monotonically),
    // so the columns of a row that are not Outside are one run: once a column past a column that
    // is not Outside is Outside, so are all the columns after it.
    enum Answer { Outside, Maybe, Inside };
    Answer test(const Row& r, double px) const {
        if (!m_convex) {
            return Maybe;
        }
        bool outside = false, inside = true;
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {
            const double cross = r[i] - m_sy[i] * (px - m_vx[i]);
            outside = outside | (cross < -m_tol[i]); // no jump between the edges
            inside = inside & (cross > m_tol[i]);
        }
        return outside ? Outside : inside ? Inside : Maybe;
    }

private:
    std::array<double, 4> m_sx, m_sy, m_vx, m_vy, m_tol;
    bool m_convex;
};
#endif

// std::floor and std::ceil (up to the sign of a zero), without the library call that the
// baseline x86-64 build makes of them.
double fast_floor(double v) {
    if (!(std::abs(v) < 1e15)) {
        return std::floor(v);
    }
    const auto f = static_cast<double>(static_cast<std::int64_t>(v));
    return f > v ? f - 1 : f;
}
double fast_ceil(double v) {
    if (!(std::abs(v) < 1e15)) {
        return std::ceil(v);
    }
    const auto f = static_cast<double>(static_cast<std::int64_t>(v));
    return f < v ? f + 1 : f;
}

// fl = fast_floor(v) and ce = fast_ceil(v), one truncation for both.
[[gnu::always_inline]] inline void floor_ceil(double v, double& fl, double& ce) {
    if (!(std::abs(v) < 1e15)) {
        fl = std::floor(v);
        ce = std::ceil(v);
        return;
    }
    const auto f = static_cast<double>(static_cast<std::int64_t>(v));
    fl = f > v ? f - 1 : f;
    ce = f < v ? f + 1 : f;
}

// Asks the memory system for the cache lines of p[0 .. n) ahead of their use (a hint: no effect
// on any value).
template <typename T> inline void prefetch(const T* p, size_t n) {
    constexpr std::uintptr_t LINE = 64;
    const auto a = reinterpret_cast<std::uintptr_t>(p) & ~(LINE - 1);
    const auto e = reinterpret_cast<std::uintptr_t>(p + n);
    for (std::uintptr_t x = a; x < e; x += LINE) {
        __builtin_prefetch(reinterpret_cast<const void*>(x));
    }
}

// The output grid's frame for pass 1's per-cell set-up (cell_row): the extent's ymax and xmin,
// the pixel size dy, dx.
struct CellFrame {
    double ymax, xmin, dy, dx;
};

// Pass 1's per-cell set-up of one row of a block (Walk): the positions x[j], y[j] (j < nc) into
// ps[j]; each cell's position in output pixel units, u = (ymax - y) / dy - 0.5 and
// v = (x - xmin) / dx - 0.5, rounded down and up (floor_ceil) into fu, cu, fv, cv; odd set when
// some |u| or |v| is not below 1e300 (or is NaN); bx0 and bx1 lowered and raised to the least and
// greatest x (NaN never). Four cells at a time in the AVX2 copy, then two with SSE2, then one: the
// same IEEE operations on the same doubles in each lane, so the same doubles. The rounding is one
// truncation to int32 and back (exact) when every |u| and |v| of the step is below 2^31 - 1, else
// floor_ceil's own path (whose truncation to int64 gives the same doubles where both apply).
[[gnu::always_inline]] inline void cell_row(const double* x, const double* y, size_t nc,
                                            const CellFrame& f, Pt* ps, double* fu, double* cu,
                                            double* fv, double* cv, bool& odd, double& bx0,
                                            double& bx1) {
    size_t j = 0;
#if BAIMS_SWATH_AVX2_COPY
    if (nc >= 4) {
        const __m256d ymax4 = _mm256_set1_pd(f.ymax), xmin4 = _mm256_set1_pd(f.xmin),
                      dy4 = _mm256_set1_pd(f.dy), dx4 = _mm256_set1_pd(f.dx),
                      half4 = _mm256_set1_pd(0.5), one4 = _mm256_set1_pd(1.0),
                      sign4 = _mm256_set1_pd(-0.0), big4 = _mm256_set1_pd(1e300),
                      int4 = _mm256_set1_pd(2147483647.0);
        __m256d fine4 = _mm256_castsi256_pd(_mm256_set1_epi32(-1)); // all ones: none odd yet
        __m256d lo4 = _mm256_set1_pd(std::numeric_limits<double>::infinity());
        __m256d hi4 = _mm256_set1_pd(-std::numeric_limits<double>::infinity());
        for (; j + 4 <= nc; j += 4) {
            const __m256d xv = _mm256_loadu_pd(x + j), yv = _mm256_loadu_pd(y + j);
            // x0 y0 x2 y2 and x1 y1 x3 y3, then their 128-bit halves in order: four Pt.
            const __m256d p02 = _mm256_unpacklo_pd(xv, yv), p13 = _mm256_unpackhi_pd(xv, yv);
            _mm256_storeu_pd(&ps[j].x, _mm256_permute2f128_pd(p02, p13, 0x20));
            _mm256_storeu_pd(&ps[j + 2].x, _mm256_permute2f128_pd(p02, p13, 0x31));
            const __m256d u = _mm256_sub_pd(_mm256_div_pd(_mm256_sub_pd(ymax4, yv), dy4), half4);
            const __m256d v = _mm256_sub_pd(_mm256_div_pd(_mm256_sub_pd(xv, xmin4), dx4), half4);
            const __m256d au = _mm256_andnot_pd(sign4, u), av = _mm256_andnot_pd(sign4, v);
            fine4 = _mm256_and_pd(fine4, _mm256_and_pd(_mm256_cmp_pd(au, big4, _CMP_LT_OS),
                                                       _mm256_cmp_pd(av, big4, _CMP_LT_OS)));
            lo4 = _mm256_min_pd(xv, lo4); // NaN keeps the second operand
            hi4 = _mm256_max_pd(xv, hi4);
            if (_mm256_movemask_pd(_mm256_and_pd(_mm256_cmp_pd(au, int4, _CMP_LT_OS),
                                                 _mm256_cmp_pd(av, int4, _CMP_LT_OS))) == 0xF) {
                const __m256d tu = _mm256_cvtepi32_pd(_mm256_cvttpd_epi32(u));
                const __m256d tv = _mm256_cvtepi32_pd(_mm256_cvttpd_epi32(v));
                _mm256_storeu_pd(
                    fu + j,
                    _mm256_sub_pd(tu, _mm256_and_pd(_mm256_cmp_pd(tu, u, _CMP_GT_OS), one4)));
                _mm256_storeu_pd(
                    cu + j,
                    _mm256_add_pd(tu, _mm256_and_pd(_mm256_cmp_pd(tu, u, _CMP_LT_OS), one4)));
                _mm256_storeu_pd(
                    fv + j,
                    _mm256_sub_pd(tv, _mm256_and_pd(_mm256_cmp_pd(tv, v, _CMP_GT_OS), one4)));
                _mm256_storeu_pd(
                    cv + j,
                    _mm256_add_pd(tv, _mm256_and_pd(_mm256_cmp_pd(tv, v, _CMP_LT_OS), one4)));
            } else {
                alignas(32) double us[4], vs[4];
                _mm256_store_pd(us, u);
                _mm256_store_pd(vs, v);
                for (size_t l = 0; l < 4; ++l) {
                    floor_ceil(us[l], fu[j + l], cu[j + l]);
                    floor_ceil(vs[l], fv[j + l], cv[j + l]);
                }
            }
        }
        odd = odd | (_mm256_movemask_pd(fine4) != 0xF);
        alignas(32) double lo[4], hi[4];
        _mm256_store_pd(lo, lo4);
        _mm256_store_pd(hi, hi4);
        for (size_t l = 0; l < 4; ++l) {
            if (lo[l] < bx0) {
                bx0 = lo[l];
            }
            if (hi[l] > bx1) {
                bx1 = hi[l];
            }
        }
    }
#endif
#if defined(__SSE2__)
    if (j + 2 <= nc) {
        const __m128d ymax2 = _mm_set1_pd(f.ymax), xmin2 = _mm_set1_pd(f.xmin),
                      dy2 = _mm_set1_pd(f.dy), dx2 = _mm_set1_pd(f.dx), half2 = _mm_set1_pd(0.5),
                      one2 = _mm_set1_pd(1.0), sign2 = _mm_set1_pd(-0.0), big2 = _mm_set1_pd(1e300),
                      int2 = _mm_set1_pd(2147483647.0);
        __m128d fine2 = _mm_castsi128_pd(_mm_set1_epi32(-1)); // all ones: none odd yet
        __m128d lo2 = _mm_set1_pd(std::numeric_limits<double>::infinity());
        __m128d hi2 = _mm_set1_pd(-std::numeric_limits<double>::infinity());
        for (; j + 2 <= nc; j += 2) {
            const __m128d xv = _mm_loadu_pd(x + j), yv = _mm_loadu_pd(y + j);
            _mm_storeu_pd(&ps[j].x, _mm_unpacklo_pd(xv, yv));
            _mm_storeu_pd(&ps[j + 1].x, _mm_unpackhi_pd(xv, yv));
            const __m128d u = _mm_sub_pd(_mm_div_pd(_mm_sub_pd(ymax2, yv), dy2), half2);
            const __m128d v = _mm_sub_pd(_mm_div_pd(_mm_sub_pd(xv, xmin2), dx2), half2);
            const __m128d au = _mm_andnot_pd(sign2, u), av = _mm_andnot_pd(sign2, v);
            fine2 = _mm_and_pd(fine2, _mm_and_pd(_mm_cmplt_pd(au, big2), _mm_cmplt_pd(av, big2)));
            lo2 = _mm_min_pd(xv, lo2); // NaN keeps the second operand
            hi2 = _mm_max_pd(xv, hi2);
            if (_mm_movemask_pd(_mm_and_pd(_mm_cmplt_pd(au, int2), _mm_cmplt_pd(av, int2))) == 3) {
                // floor_ceil, the truncation exact in int32.
                const __m128d tu = _mm_cvtepi32_pd(_mm_cvttpd_epi32(u));
                const __m128d tv = _mm_cvtepi32_pd(_mm_cvttpd_epi32(v));
                _mm_storeu_pd(fu + j, _mm_sub_pd(tu, _mm_and_pd(_mm_cmpgt_pd(tu, u), one2)));
                _mm_storeu_pd(cu + j, _mm_add_pd(tu, _mm_and_pd(_mm_cmplt_pd(tu, u), one2)));
                _mm_storeu_pd(fv + j, _mm_sub_pd(tv, _mm_and_pd(_mm_cmpgt_pd(tv, v), one2)));
                _mm_storeu_pd(cv + j, _mm_add_pd(tv, _mm_and_pd(_mm_cmplt_pd(tv, v), one2)));
            } else {
                floor_ceil(_mm_cvtsd_f64(u), fu[j], cu[j]);
                floor_ceil(_mm_cvtsd_f64(_mm_unpackhi_pd(u, u)), fu[j + 1], cu[j + 1]);
                floor_ceil(_mm_cvtsd_f64(v), fv[j], cv[j]);
                floor_ceil(_mm_cvtsd_f64(_mm_unpackhi_pd(v, v)), fv[j + 1], cv[j + 1]);
            }
        }
        odd = odd | (_mm_movemask_pd(fine2) != 3);
        for (const double l : {_mm_cvtsd_f64(lo2), _mm_cvtsd_f64(_mm_unpackhi_pd(lo2, lo2))}) {
            if (l < bx0) {
                bx0 = l;
            }
        }
        for (const double h : {_mm_cvtsd_f64(hi2), _mm_cvtsd_f64(_mm_unpackhi_pd(hi2, hi2))}) {
            if (h > bx1) {
                bx1 = h;
            }
        }
    }
#endif
    for (; j < nc; ++j) {
        const Pt pk{x[j], y[j]};
        ps[j] = pk;
        const double u = (f.ymax - pk.y) / f.dy - 0.5;
        const double v = (pk.x - f.xmin) / f.dx - 0.5;
        odd |= !(std::abs(u) < 1e300 && std::abs(v) < 1e300);
        floor_ceil(u, fu[j], cu[j]);
        floor_ceil(v, fv[j], cv[j]);
        if (pk.x < bx0) { // NaN compares false
            bx0 = pk.x;
        }
        if (pk.x > bx1) {
            bx1 = pk.x;
        }
    }
}

// The two passes of map_swath over a swath whose positions are lon(i), lat(i) (see the top of
// this file); touch(i, n) prefetches the storage of positions i .. i + n - 1, and run(i, n, x, y)
// stores lon(i + j) in x[j] and lat(i + j) in y[j] for j < n.
struct Walk {
    const io::LatLon2D& src;
    const grid::Grid& out;
    bool projected, nearest;
    bool keyed; // nearest with keys (see keyed below)
    const io::ForEach& for_each;
    MapVector<std::int32_t>& owner;
    PixelMap& m;

    // more (the banded path, map_swath_rows): more(keep, hi) drops the positions of the rows
    // above `keep` and reads the next block of rows (then those of rows keep .. hi - 1 are there);
    // false: the banded path does not apply (then neither is this map finished: false returned).
    // Without it (nullptr) lon, lat, touch and run give every cell; true returned.
    template <typename Lon, typename Lat, typename Touch, typename Run,
              typename More = std::nullptr_t>
    bool operator()(Lon lon, Lat lat, Touch touch, Run run, More more = nullptr) const {
        constexpr bool BANDED = !std::is_same_v<More, std::nullptr_t>;
        const size_t H = src.height, W = src.width;
        const size_t OW = out.width(), OH = out.height();
        const auto& ex = out.extent();
        const double dx = out.dx(), dy = out.dy();
        // The output pixel centres, as out.x(col) and out.y(row) give them.
        std::vector<double> xs(OW), ys(OH);
        for (size_t c = 0; c < OW; ++c) {
            xs[c] = out.x(c);
        }
        for (size_t r = 0; r < OH; ++r) {
            ys[r] = out.y(r);
        }
        // Nearest's local equirectangular scale of longitude for the pixels of output row r:
        // kxs[r] = cos(ys[r]) for a lon/lat output grid (the true scale at the output centre's
        // latitude), 1 for a projected one. Per output row, so known before pass 1 (keyed claims)
        // without a look at the swath's latitudes.
        std::vector<double> kxs(nearest ? OH : 0, 1.0);
        if (nearest && !projected) {
            for (size_t r = 0; r < OH; ++r) {
                kxs[r] = std::cos(ys[r] * std::numbers::pi / 180.0);
            }
        }
        auto pos = [&](size_t i) { return Pt{lon(i), lat(i)}; };
        // An output longitude moved by a multiple of 360 degrees next to the swath's longitude
        // x0.
        auto near_lon = [this](double x, double x0) {
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
        // (s, t) of output centre p in quad q (its corner (r, c) at flat index q), or false:
        // Newton's method from the quad's centre, else either closed-form root (invert_either).
        auto locate = [&](size_t q, const Pt& p, double& s, double& t) {
            return locate_in(pos(q), pos(q + 1), pos(q + W), pos(q + W + 1), p, s, t);
        };
        // Whether output centre p is in quad q, as locate() says, mostly with fewer Newton
        // steps: stopped once converged (Newton::Near), the answer is clear unless s or t is
        // within 1e-7 of 0 or 1, where locate() decides; a root outside [0, 1]^2 is followed
        // by the other closed-form root (invert_either), as in locate().
        auto holds = [&](size_t q, const Pt& p) {
            double s = 0, t = 0;
            const Newton n = newton(pos(q), pos(q + 1), pos(q + W), pos(q + W + 1), p, s, t, true);
            constexpr double EPS = 1e-9, CLEAR = 1e-7;
            if (n == Newton::Root && s >= -EPS && s <= 1 + EPS && t >= -EPS && t <= 1 + EPS) {
                return true;
            }
            if (n != Newton::Near || s < -CLEAR || s > 1 + CLEAR || t < -CLEAR || t > 1 + CLEAR) {
                // Not this root (as locate() finds too): the other one may be inside (a quad
                // that is not convex).
                return invert_either(pos(q), pos(q + 1), pos(q + W), pos(q + W + 1), p, s, t);
            }
            if (s > CLEAR && s < 1 - CLEAR && t > CLEAR && t < 1 - CLEAR) {
                return true;
            }
            return locate(q, p, s, t);
        };
        // Pass 1, in parallel over bands of swath rows: each output pixel's owner, the first
        // quad in swath order that holds its centre (an atomic minimum, so the result does not
        // depend on the order the bands run in). A band is walked in blocks of `band` columns
        // so that the output pixels it meets stay in the cache.
        const size_t band = 64;
        const size_t nbands = (H - 1 + band - 1) / band;
        const double gx0 = ex.xmin - dx, gx1 = ex.xmax + dx; // beyond: no column centre
        // Each cell's position in output pixel units, u = (ymax_g - y) / dy - 0.5 and
        // v = (x - xmin_g) / dx - 0.5, computed per block of cells: both are monotone in y and x
        // (also as rounded), so the rows of a quad's bounding box below are ceil(min u) ..
        // floor(max u), exactly what ceil((ymax_g - ymax) / dy - 0.5) .. gives, with a quarter
        // of the divisions.
        // The output pixels each block of a band looked at (rows r0..r1, columns c0..c1; r0 > r1
        // or c0 > c1 when none).
        struct Rect {
            size_t r0, r1, c0, c1;
        };
        std::vector<std::vector<Rect>> looked(nbands);
        // Keyed (nearest): a claim of quad q stores q * 16 + n, n (0..15) its nearest cell among
        // the 4x4 cells around it (rows r-1..r+2, columns c-1..c+2: cell (r - 1 + n / 4,
        // c - 1 + n % 4)), searched when the claim is made, as pass 2 would search it (the same
        // doubles, distances and order). The minimum of the keys is the key of the minimum quad,
        // so the owners are those of the plain quad indices and pass 2 is not needed. Only when
        // every key fits in an int32 (a swath of at most 2^27 cells: map_swath).
        //
        // Whether a keyed claim found no cell with a distance below +inf (positions far beyond
        // any real swath): then the keys are taken back to quads and pass 2 runs.
        std::atomic<bool> no_nearest{false};
        // Band b's quads; plain: a claim is a plain store instead of an atomic minimum (no other
        // task running at the same time looks at the same pixels, see below).
        // Keyed as a compile-time constant (keyed_c: std::bool_constant): the code of the
        // claims without keys is as it was without them (one instantiation each).
        // Weighted as a compile-time constant too (bilinear with plain claims): a claim that
        // wins also stores the pixel's weights (wx, wy), as pass 2 would find them for that quad
        // and output centre; a later claim of a lower quad overwrites them. So the map's
        // entries are those of the final owner and pass 2 is not needed.
        auto walk_band_as = [&](size_t b, bool plain, auto keyed_c, auto weighted_c) {
            constexpr bool KEYED = decltype(keyed_c)::value;
            constexpr bool WEIGHTED = decltype(weighted_c)::value;
            looked[b].clear();
            const size_t r_beg = b * band, r_end = std::min(H - 1, (b + 1) * band);
            const size_t bn = (band + 1) * (band + 1);
            // Per cell: fast_ceil and fast_floor of u and v. Both are monotone, so a quad's
            // ceil(min u) is the min of its corners' ceil(u), and so on: the same doubles as
            // rounding the quad's min and max (NaN aside: a block with a cell whose u or v is not
            // below 1e300 in magnitude takes the quad's own min and max, as before).
            std::vector<double> cus(bn), fus(bn), cvs(bn), fvs(bn);
            std::vector<Pt> ps(bn); // the block's positions, decoded once
            // Weighted: the winning claims of the current row of quads (output pixel, its quad's
            // corner (r, c) in ps, the output centre as pass 2 takes it).
            struct Claim {
                size_t o, k;
                Pt p;
            };
            std::vector<Claim> claimed;
            if constexpr (WEIGHTED) {
                claimed.reserve(4 * (band + 1));
            }
            const bool avx2 = WEIGHTED && use_avx2();
            const bool avx2_scan = use_avx2();
            WeighScratch weigh_scratch;
            std::vector<double> xr(band + 1), yr(band + 1); // one row of them
            // One row of quads: the candidates and their rounded bounds (quad_boxes).
            std::vector<std::uint32_t> cand(band);
            std::vector<double> qb(4 * band);
            // Keyed: the block's positions with one cell more on every side (the 4x4 cells
            // around each quad), rows wr0.., columns wc0..wc0 + ww - 1.
            std::vector<double> wlon, wlat;
            size_t wr0 = 0, wc0 = 0, ww = 0;
            if constexpr (KEYED) {
                wlon.resize((band + 3) * (band + 3));
                wlat.resize((band + 3) * (band + 3));
            }
            // n of the nearest cell to p (with longitude scale kx) among the 4x4 around quad
            // (r, c) (see keyed), as pass 2 finds it; -1 when none has a distance below +inf.
            auto nearest_n = [&](size_t r, size_t c, const Pt& p, double kx) {
                if (r >= 1 && r + 2 < H && c >= 1 && c + 2 < W) {
                    const size_t wb = (r - 1 - wr0) * ww + (c - 1 - wc0);
                    std::array<double, 16> dist;
                    dist16(wlon.data() + wb, wlat.data() + wb, ww, p, kx, dist);
                    return first_smallest(dist);
                }
                double best = std::numeric_limits<double>::infinity();
                int best_n = -1;
                const size_t rr0 = r > 0 ? r - 1 : 0, rr1 = std::min(H - 1, r + 2);
                const size_t cc0 = c > 0 ? c - 1 : 0, cc1 = std::min(W - 1, c + 2);
                for (size_t rr = rr0; rr <= rr1; ++rr) {
                    for (size_t k = cc0; k <= cc1; ++k) {
                        const size_t w = (rr - wr0) * ww + (k - wc0);
                        const double ddx = (wlon[w] - p.x) * kx;
                        const double ddy = wlat[w] - p.y;
                        const double dist = ddx * ddx + ddy * ddy;
                        if (dist < best) { // NaN positions never win
                            best = dist;
                            best_n = static_cast<int>((rr + 1 - r) * 4 + (k + 1 - c));
                        }
                    }
                }
                return best_n;
            };
            const CellFrame frame{ex.ymax, ex.xmin, dy, dx};
            const double oh1 = static_cast<double>(OH) - 1, ow1 = static_cast<double>(OW) - 1;
            for (size_t c0 = 0; c0 + 1 < W; c0 += band) {
                Rect seen_px{OH, 0, OW, 0};
                const size_t c_end = std::min(W - 1, c0 + band), nc = c_end - c0 + 1;
                double bx0 = std::numeric_limits<double>::infinity(), bx1 = -bx0;
                bool odd = false; // a cell with |u| or |v| not below 1e300 (or NaN)
                const size_t wr1 = std::min(H - 1, r_end + 1);
                if constexpr (KEYED) {
                    wr0 = r_beg > 0 ? r_beg - 1 : 0;
                    wc0 = c0 > 0 ? c0 - 1 : 0;
                    ww = std::min(W - 1, c_end + 1) - wc0 + 1;
                    if (wr0 < r_beg) {
                        run(wr0 * W + wc0, ww, wlon.data(), wlat.data());
                    }
                }
                for (size_t r = r_beg; r <= r_end; ++r) {
                    if (c_end + 1 < W) { // the next block's cells of this row, read a block later
                        touch(r * W + c_end,
                              std::min(W - 1, c_end + band + (KEYED ? 1 : 0)) - c_end + 1);
                    }
                    // The row's positions decoded in one run (keyed: into the block's window),
                    // then set up (cell_row).
                    const size_t k0 = (r - r_beg) * nc;
                    const double* xp = xr.data();
                    const double* yp = yr.data();
                    if constexpr (KEYED) {
                        const size_t w = (r - wr0) * ww;
                        run(r * W + wc0, ww, wlon.data() + w, wlat.data() + w);
                        xp = wlon.data() + w + (c0 - wc0);
                        yp = wlat.data() + w + (c0 - wc0);
                        if (r == r_end && wr1 > r_end) {
                            const size_t w1 = (wr1 - wr0) * ww;
                            run(wr1 * W + wc0, ww, wlon.data() + w1, wlat.data() + w1);
                        }
                    } else {
                        run(r * W + c0, nc, xr.data(), yr.data());
                    }
                    cell_row(xp, yp, nc, frame, ps.data() + k0, fus.data() + k0, cus.data() + k0,
                             fvs.data() + k0, cvs.data() + k0, odd, bx0, bx1);
                }
                // Whether a quad of this block may meet the grid 360 degrees away: only then
                // may a quad with no column centre at its stored longitudes hold a centre.
                const bool shifts = !projected && (bx1 - 360.0 >= gx0 || bx0 + 360.0 <= gx1);
                if (c_end + 1 < W) {
                    // The owner entries that the next block's quads will test, asked for now:
                    // the output pixels of the box of its four corner cells (read a block ago),
                    // one pixel more on every side. A hint only (e.g. for a curved or folded
                    // block it may miss some).
                    const size_t n0 = c_end, n1 = std::min(W - 1, c_end + band);
                    double u0 = std::numeric_limits<double>::infinity(), u1 = -u0, v0 = u0,
                           v1 = -u0;
                    for (const size_t i :
                         {r_beg * W + n0, r_beg * W + n1, r_end * W + n0, r_end * W + n1}) {
                        const Pt pk = pos(i);
                        const double u = (ex.ymax - pk.y) / dy - 0.5;
                        const double v = (pk.x - ex.xmin) / dx - 0.5;
                        u0 = std::min(u0, u);
                        u1 = std::max(u1, u);
                        v0 = std::min(v0, v);
                        v1 = std::max(v1, v);
                    }
                    u0 = std::max(u0 - 1, 0.0);
                    u1 = std::min(u1 + 1, oh1);
                    v0 = std::max(v0 - 1, 0.0);
                    v1 = std::min(v1 + 1, ow1);
                    // NaN compares false; at most 4 x the pixels of a block of cells as large
                    // as the pixels.
                    if (u0 <= u1 && v0 <= v1 && (u1 - u0 + 1) * (v1 - v0 + 1) <= 4.0 * bn) {
                        const auto c_a = static_cast<size_t>(v0), c_b = static_cast<size_t>(v1);
                        for (auto orow = static_cast<size_t>(u0); orow <= static_cast<size_t>(u1);
                             ++orow) {
                            prefetch(owner.data() + orow * OW + c_a, c_b - c_a + 1);
                        }
                    }
                }
                for (size_t r = r_beg; r < r_end; ++r) {
                    const size_t k0 = (r - r_beg) * nc, nq = c_end - c0;
                    // The quads of the row whose bounding box may hold an output centre
                    // (candidates, in column order) and, in a block without odd cells, their
                    // rounded bounds (qb: ceil(min u), floor(max u), ceil(min v), floor(max v)
                    // of quad j at 4 j .. 4 j + 3). About 40 % of the quads hold no centre (the
                    // swath's cells are smaller than the output pixels): they are sorted out here
                    // without a jump per quad, which the branch predictor would often miss.
                    size_t ncand = 0;
                    if (odd) {
                        for (size_t j = 0; j < nq; ++j) {
                            cand[j] = static_cast<std::uint32_t>(j);
                        }
                        ncand = nq;
                    } else {
                        ncand = quad_boxes(cus.data() + k0, fus.data() + k0, cvs.data() + k0,
                                           fvs.data() + k0, nc, nq, shifts, oh1, ow1, avx2_scan,
                                           qb.data(), cand.data());
                    }
                    for (size_t ci = 0; ci < ncand; ++ci) {
                        const size_t j = cand[ci], c = c0 + j;
                        const size_t q = r * W + c, k = k0 + j;
                        // Rows (north-up) whose centre y(row) = ymax_g - (row + 0.5) dy is in
                        // [ymin, ymax]: ceil(min u) .. floor(max u). Columns whose centre
                        // x(col) = xmin_g + (col + 0.5) dx is in [xmin, xmax]: ceil(min v) ..
                        // floor(max v). Each is the min or max of the corners' rounded u or v
                        // (cus, fus, cvs, fvs), except in a block with an odd cell.
                        double r0f = qb[4 * j], r1f = qb[4 * j + 1];
                        double c0f = qb[4 * j + 2], c1f = qb[4 * j + 3];
                        if (odd) {
                            // u and v are not kept per cell (only odd blocks need them): the
                            // same expression as the set-up on the same doubles of ps.
                            const auto u_of = [&](size_t kk) {
                                return (ex.ymax - ps[kk].y) / dy - 0.5;
                            };
                            const auto v_of = [&](size_t kk) {
                                return (ps[kk].x - ex.xmin) / dx - 0.5;
                            };
                            const double u0 = u_of(k), u1 = u_of(k + 1), u2 = u_of(k + nc),
                                         u3 = u_of(k + nc + 1);
                            const double v0 = v_of(k), v1 = v_of(k + 1), v2 = v_of(k + nc),
                                         v3 = v_of(k + nc + 1);
                            if (!std::isfinite(u0 + u1 + u2 + u3 + v0 + v1 + v2 + v3)) {
                                continue; // a corner without position: the quad holds no centre
                            }
                            r0f = fast_ceil(std::min(std::min(u0, u1), std::min(u2, u3)));
                            r1f = fast_floor(std::max(std::max(u0, u1), std::max(u2, u3)));
                            c0f = fast_ceil(std::min(std::min(v0, v1), std::min(v2, v3)));
                            c1f = fast_floor(std::max(std::max(v0, v1), std::max(v2, v3)));
                            const bool rows_in = (r1f >= 0) & (r0f <= oh1) & (r0f <= r1f);
                            const bool cols_in = (c1f >= 0) & (c0f <= ow1) & (c0f <= c1f);
                            if (!(rows_in & (cols_in | shifts))) {
                                continue;
                            }
                        }
                        const Pt a = ps[k], bb = ps[k + 1], cc = ps[k + nc], d = ps[k + nc + 1];
                        // The corners' bounds. No corner is NaN here (a block without odd cells,
                        // or the test above), so they are the same doubles in any order (up to
                        // the sign of a zero bound, which changes no result below).
#if defined(__SSE2__)
                        const __m128d pa = _mm_loadu_pd(&ps[k].x), pb = _mm_loadu_pd(&ps[k + 1].x);
                        const __m128d pc = _mm_loadu_pd(&ps[k + nc].x),
                                      pd = _mm_loadu_pd(&ps[k + nc + 1].x);
                        const __m128d lo = _mm_min_pd(_mm_min_pd(pa, pb), _mm_min_pd(pc, pd));
                        const __m128d hi = _mm_max_pd(_mm_max_pd(pa, pb), _mm_max_pd(pc, pd));
                        const double xmin = _mm_cvtsd_f64(lo),
                                     ymin = _mm_cvtsd_f64(_mm_unpackhi_pd(lo, lo));
                        const double xmax = _mm_cvtsd_f64(hi),
                                     ymax = _mm_cvtsd_f64(_mm_unpackhi_pd(hi, hi));
#else
                        const double ymin = std::min({a.y, bb.y, cc.y, d.y});
                        const double ymax = std::max({a.y, bb.y, cc.y, d.y});
                        const double xmin = std::min({a.x, bb.x, cc.x, d.x});
                        const double xmax = std::max({a.x, bb.x, cc.x, d.x});
#endif
                        if (!projected && xmax - xmin > 180.0) {
                            continue; // a quad that is no quad
                        }
                        const auto row0 = static_cast<size_t>(std::max(0.0, r0f));
                        const auto row1 = static_cast<size_t>(std::min(oh1, r1f));
                        seen_px.r0 = std::min(seen_px.r0, row0);
                        seen_px.r1 = std::max(seen_px.r1, row1);
                        const auto qi = static_cast<std::int32_t>(q);
                        // A pixel whose stored owner (or key) is at most `beat` has a quad up to
                        // q already.
                        const std::int32_t beat = KEYED ? qi * 16 + 15 : qi;
                        // The claim of output centre (orow, ocol), y py, that quad q holds; cur
                        // is the owner (or key) read before, above beat.
                        auto claim = [&](std::atomic_ref<std::int32_t>& o, std::int32_t cur,
                                         size_t orow, size_t ocol, double py) {
                            if constexpr (WEIGHTED) {
                                // plain: no other task looks at this pixel now; its weights at
                                // the end of the row of quads (claimed)
                                o.store(qi, std::memory_order_relaxed);
                                claimed.push_back(
                                    Claim{orow * OW + ocol, k, Pt{near_lon(xs[ocol], a.x), py}});
                                return;
                            }
                            std::int32_t key = qi;
                            if constexpr (KEYED) {
                                // The output centre as pass 2 takes it (near the quad's corner
                                // (r, c)).
                                const int n =
                                    nearest_n(r, c, Pt{near_lon(xs[ocol], a.x), py}, kxs[orow]);
                                if (n < 0) {
                                    no_nearest.store(true, std::memory_order_relaxed);
                                }
                                key = qi * 16 + std::max(n, 0);
                            }
                            if (plain) {
                                o.store(key, std::memory_order_relaxed); // key < cur
                                return;
                            }
                            while (key < cur && !o.compare_exchange_weak(cur, key)) {
                            }
                        };
                        if (!shifts && row0 == row1 && c0f == c1f) {
                            // A box of one output centre (most quads that hold one): the scan
                            // below without its loops. c0f is in [0, ow1] (cols_in).
                            const auto ocol = static_cast<size_t>(c0f);
                            seen_px.c0 = std::min(seen_px.c0, ocol);
                            seen_px.c1 = std::max(seen_px.c1, ocol);
                            std::atomic_ref<std::int32_t> o(owner[row0 * OW + ocol]);
                            const std::int32_t cur = o.load(std::memory_order_relaxed);
                            if (cur <= beat) {
                                continue;
                            }
                            const Hull hull(a, bb, cc, d, (xmax - xmin) + (ymax - ymin));
                            const double py = ys[row0], px = xs[ocol];
                            const Hull::Answer h = hull.test(hull.row(py), px);
                            if (h == Hull::Outside || (h == Hull::Maybe && !holds(q, Pt{px, py}))) {
                                continue;
                            }
                            claim(o, cur, row0, ocol, py);
                            continue;
                        }
                        // Built at the first centre in the box that no quad up to q holds yet
                        // (often none: those of the box were claimed by the quads before).
                        // (Not a std::optional: GCC zeroes all of its storage, ~200 bytes with
                        // a rep stos, at every quad.)
                        Hull hull;
                        bool have_hull = false;
                        // The output centres of rows row0..row1 and columns col0..col1, moved by
                        // `shift` degrees, that the quad holds: scanned row by row, each row's
                        // part of the edge functions computed once, and a row left at its first
                        // Outside column after one that is not (Hull::test: the rest are
                        // Outside too).
                        // The column ranges to scan (span sp): c0f .. c1f; for a swath in
                        // longitudes also those 360 degrees away, first -360 then +360 (the
                        // output grid may meet the swath at the longitudes as stored or 360
                        // degrees away).
                        for (int sp = 0; sp < (shifts ? 3 : 1); ++sp) {
                            double shift = 0, cb = c0f, ce = c1f;
                            if (sp > 0) {
                                shift = sp == 1 ? -360.0 : 360.0;
                                if (xmax + shift < gx0 || xmin + shift > gx1) {
                                    continue; // no column centre in [xmin, xmax] + shift
                                }
                                cb = fast_ceil((xmin + shift - ex.xmin) / dx - 0.5);
                                ce = fast_floor((xmax + shift - ex.xmin) / dx - 0.5);
                            }
                            if (ce < 0 || cb > ow1 || cb > ce) {
                                continue;
                            }
                            const auto col0 = static_cast<size_t>(std::max(0.0, cb));
                            const auto col1 = static_cast<size_t>(std::min(ow1, ce));
                            seen_px.c0 = std::min(seen_px.c0, col0);
                            seen_px.c1 = std::max(seen_px.c1, col1);
                            for (size_t orow = row0; orow <= row1; ++orow) {
                                const double py = ys[orow];
                                Hull::Row hr{}; // hull.row(py), once the row needs it
                                bool have_row = false;
                                std::int32_t* orow_owner = owner.data() + orow * OW;
                                bool seen = false; // a column of this row that is not Outside
                                for (size_t ocol = col0; ocol <= col1; ++ocol) {
                                    std::atomic_ref<std::int32_t> o(orow_owner[ocol]);
                                    std::int32_t cur = o.load(std::memory_order_relaxed);
                                    if (cur <= beat) {
                                        continue;
                                    }
                                    if (!have_row) {
                                        if (!have_hull) {
                                            hull =
                                                Hull(a, bb, cc, d, (xmax - xmin) + (ymax - ymin));
                                            have_hull = true;
                                        }
                                        hr = hull.row(py);
                                        have_row = true;
                                    }
                                    const double px = xs[ocol] - shift;
                                    const Hull::Answer h = hull.test(hr, px);
                                    if (h == Hull::Outside) {
                                        if (seen) {
                                            break;
                                        }
                                        continue;
                                    }
                                    seen = true;
                                    if (h == Hull::Maybe && !holds(q, Pt{px, py})) {
                                        continue;
                                    }
                                    claim(o, cur, orow, ocol, py);
                                }
                            }
                        }
                    }
                    if constexpr (WEIGHTED) {
                        // The weights of the row's winning claims, in the order they were made
                        // (a later claim of a pixel overwrites an earlier one's, as when stored
                        // at once): the same function on the same doubles. Apart from the
                        // claims' branches the computations of consecutive pixels (a chain of a
                        // square root and divisions each) are independent and overlap.
                        weigh_all(
                            claimed.size(), avx2,
                            [&](size_t i) {
                                const Claim& w = claimed[i];
                                return WeightIn{&ps[w.k], &ps[w.k + 1], &ps[w.k + nc],
                                                &ps[w.k + nc + 1], &w.p};
                            },
                            [&](size_t i, double s, double t) {
                                m.wx[claimed[i].o] = static_cast<float>(s);
                                m.wy[claimed[i].o] = static_cast<float>(t);
                            },
                            weigh_scratch);
                        claimed.clear();
                    }
                }
                if (seen_px.r0 <= seen_px.r1 && seen_px.c0 <= seen_px.c1) {
                    looked[b].push_back(seen_px);
                }
            }
        };
        auto walk_band = [&](size_t b, bool plain) {
            if (keyed) {
                walk_band_as(b, plain, std::true_type{}, std::false_type{});
            } else if (plain && !nearest) {
                walk_band_as(b, plain, std::false_type{}, std::true_type{});
            } else {
                walk_band_as(b, plain, std::false_type{}, std::false_type{});
            }
        };
        // Claims without atomic read-modify-writes when the bands can be run in two rounds
        // (even, then odd) in which no two bands look at the same output pixels: then every
        // pixel's owner is still the minimum of its claims, whatever the order. That is checked
        // afterwards on the pixels each band really looked at (an overlap: the owners are reset
        // and pass 1 runs again with atomic minima); first guessed from the positions of a few
        // cells of each band (their box in output pixel units, 2 pixels more on every side), so
        // that a swath whose bands do overlap (e.g. rows along the output's columns) does not
        // pay for a round in vain.
        // Whether no two bands of the round (parity) have overlapping rectangles: the rectangles
        // by their first row, each compared with those that start in its rows.
        // (Bands b0 .. b1 - 1 only, when given.)
        auto round_apart = [&](const std::vector<std::vector<Rect>>& rects, size_t parity,
                               size_t b0 = 0, size_t b1 = std::numeric_limits<size_t>::max()) {
            std::vector<std::pair<Rect, size_t>> all;
            for (size_t b = b0 + (b0 % 2 != parity ? 1 : 0); b < std::min(b1, rects.size());
                 b += 2) {
                for (const Rect& x : rects[b]) {
                    all.emplace_back(x, b);
                }
            }
            std::sort(all.begin(), all.end(),
                      [](const auto& x, const auto& y) { return x.first.r0 < y.first.r0; });
            for (size_t i = 0; i < all.size(); ++i) {
                const Rect& x = all[i].first;
                for (size_t j = i + 1; j < all.size() && all[j].first.r0 <= x.r1; ++j) {
                    const Rect& y = all[j].first;
                    if (all[j].second != all[i].second && x.c0 <= y.c1 && y.c0 <= x.c1) {
                        return false;
                    }
                }
            }
            return true;
        };
        // The guessed rectangles of band b (its corner cells' box).
        auto estimate = [&](size_t b, std::vector<Rect>& est_b) {
            for (size_t c0 = 0; c0 + 1 < W; c0 += band) {
                const size_t r_beg = b * band, r_end = std::min(H - 1, (b + 1) * band);
                const size_t c_end = std::min(W - 1, c0 + band);
                double u0 = std::numeric_limits<double>::infinity(), u1 = -u0, v0 = u0, v1 = -u0;
                for (const size_t r : {r_beg, r_end}) {
                    for (const size_t c : {c0, c_end}) {
                        const Pt pk = pos(r * W + c);
                        const double u = (ex.ymax - pk.y) / dy - 0.5;
                        const double v = (pk.x - ex.xmin) / dx - 0.5;
                        u0 = std::min(u0, u); // NaN left out
                        u1 = std::max(u1, u);
                        v0 = std::min(v0, v);
                        v1 = std::max(v1, v);
                    }
                }
                constexpr double LIM = 1e15;
                if (!(u0 <= u1 && v0 <= v1 && std::abs(u0) < LIM && std::abs(u1) < LIM &&
                      std::abs(v0) < LIM && std::abs(v1) < LIM)) {
                    continue; // no position at those cells, or far away: no guess
                }
                // In pixels as signed values shifted to stay above 0 (only compared).
                const auto at = [](double x) { return static_cast<size_t>(x + 2e15); };
                est_b.push_back(Rect{at(u0 - 2), at(u1 + 2), at(v0 - 2), at(v1 + 2)});
            }
        };
        bool claimed = false;
        if constexpr (BANDED) {
            // The bands that the rows read so far complete, one group after another: each group
            // as the whole swath below (two plain rounds when its bands are apart, else atomic
            // minima over what the rounds stored: the minimum of all claims either way, as
            // the minimum is the same however often a claim is made). A later group's quads
            // come later in swath order, so groups one after another need no atomics between
            // them. Bilinear whose claims were not all plain needs pass 2 and its positions:
            // not banded (false), nor a keyed claim that found no nearest cell.
            std::vector<std::vector<Rect>> est(nbands);
            size_t g0 = 0;
            while (g0 < nbands) {
                size_t hi = 0;
                if (!more(g0 * band > 0 ? g0 * band - 1 : 0, hi)) {
                    return false;
                }
                // band b reads the cells of rows b * band - 1 .. (b + 1) * band + 1 (keyed's
                // halo)
                size_t g1 = g0;
                while (g1 < nbands && std::min(H - 1, (g1 + 1) * band + 1) < hi) {
                    ++g1;
                }
                bool plain = false;
                for (size_t b = g0; b < g1; ++b) {
                    estimate(b, est[b]);
                }
                if (g1 > g0 && round_apart(est, 0, g0, g1) && round_apart(est, 1, g0, g1)) {
                    const size_t e0 = g0 + g0 % 2, d0 = g0 + 1 - g0 % 2; // first even, odd
                    if (e0 < g1) {
                        for_each((g1 - e0 + 1) / 2, [&](size_t t) { walk_band(e0 + 2 * t, true); });
                    }
                    if (round_apart(looked, 0, g0, g1)) {
                        if (d0 < g1) {
                            for_each((g1 - d0 + 1) / 2,
                                     [&](size_t t) { walk_band(d0 + 2 * t, true); });
                        }
                        plain = round_apart(looked, 1, g0, g1);
                    }
                }
                if (g1 > g0 && !plain) {
                    if (!nearest) {
                        return false;
                    }
                    for_each(g1 - g0, [&](size_t t) { walk_band(g0 + t, false); });
                }
                g0 = g1;
            }
            if (nearest && (!keyed || no_nearest.load())) {
                return false;
            }
            claimed = true;
        }
        bool guess = !BANDED && nbands >= 4;
        if (guess) {
            std::vector<std::vector<Rect>> est(nbands);
            for (size_t b = 0; b < nbands; ++b) {
                estimate(b, est[b]);
            }
            guess = round_apart(est, 0) && round_apart(est, 1);
        }
        if (guess) {
            for_each((nbands + 1) / 2, [&](size_t task) { walk_band(2 * task, true); });
            if (round_apart(looked, 0)) {
                for_each(nbands / 2, [&](size_t task) { walk_band(2 * task + 1, true); });
                claimed = round_apart(looked, 1);
            }
            if (!claimed) { // an overlap: again with atomic minima
                std::int32_t* o = owner.data();
                const size_t n_out = OW * OH;
                constexpr size_t PART = size_t{1} << 19;
                for_each((n_out + PART - 1) / PART, [o, n_out](size_t k) {
                    std::fill(o + k * PART, o + std::min(n_out, (k + 1) * PART),
                              std::numeric_limits<std::int32_t>::max());
                });
            }
        }
        if (!claimed && !BANDED) {
            for_each(nbands, [&](size_t task) { walk_band(task, false); });
        }
        // Pass 2, in parallel over bands of output rows: the owner quad's nearest cell or
        // weights.
        const size_t obands = (OH + band - 1) / band;
        const auto W32 = static_cast<std::uint32_t>(W); // H * W < 2^31 (map_swath)
        // Each band is walked in tiles of `band` columns: the swath cells that a tile's pixels
        // look at stay in the cache (along a whole output row they span hundreds of swath rows,
        // and the next output row would find them evicted).
        // Nearest: the positions of the swath cells that a tile's pixels search (the box of
        // their owner quads, one cell more on each side) are decoded once per tile into
        // wlon/wlat (the same doubles as lon(i), lat(i)) instead of 16 times per pixel; not for
        // a tile whose box is large (e.g. owners from both ends of a folded swath).
        const size_t max_window = 64 * band * band;
        // The source cells the map reads, per band of output rows (used_window's window of
        // this map: the rows and columns of the nearest cells, or of the owner quads' corner
        // (r, c) grown by one cell on every side for bilinear), found on the way.
        struct Box {
            size_t r0, r1, c0, c1; // smallest and largest row and column; r0 > r1 when none
        };
        std::vector<Box> boxes(obands, Box{H, 0, W, 0});
        // Keyed: the map follows from the keys (done), unless a claim found no nearest cell;
        // then the keys go back to their quads and pass 2 searches as without keys.
        // Bilinear with plain claims: the weights are there (walk_band_as's WEIGHTED); only the
        // pixels without a quad and the boxes are left.
        const bool done = (keyed && !no_nearest.load()) || (!nearest && claimed);
        if (keyed && !done) {
            std::int32_t* o = owner.data();
            const size_t n_out = OW * OH;
            constexpr size_t PART = size_t{1} << 19;
            for_each((n_out + PART - 1) / PART, [o, n_out](size_t k) {
                for (size_t i = k * PART; i < std::min(n_out, (k + 1) * PART); ++i) {
                    o[i] = o[i] == std::numeric_limits<std::int32_t>::max() ? o[i] : o[i] / 16;
                }
            });
        }
        for_each(obands, [&](size_t b) {
            const size_t row_end = std::min(OH, (b + 1) * band);
            // Keyed nearest: key q * 16 + n -> cell (r - 1 + n / 4, c - 1 + n % 4) of quad
            // q = (r, c); bilinear: the owner quad is lo, its weights are stored, the step is
            // +1 column, +1 row. And the band's box of cells (quads' corners (r, c) for
            // bilinear). The row of a cell is found by division only when it is not the row of
            // the previous cell (along an output row the cells mostly stay in one swath row).
            auto finish = [&](auto bil_c) {
                constexpr bool BIL = decltype(bil_c)::value;
                std::int32_t* o = owner.data();
                if constexpr (BIL) {
                    std::fill(m.step.data() + b * band * OW, m.step.data() + row_end * OW,
                              std::uint8_t{8});
                }
                size_t r0 = H, r1 = 0, c0 = W, c1 = 0;
                std::uint32_t base = 0, row = 0; // base = row * W, once any
                bool any = false;
                for (size_t i = b * band * OW; i < row_end * OW; ++i) {
                    const auto key = static_cast<std::uint32_t>(o[i]);
                    if (key ==
                        static_cast<std::uint32_t>(std::numeric_limits<std::int32_t>::max())) {
                        o[i] = -1;
                        if constexpr (BIL) { // as pass 2 below
                            m.wx[i] = 0.0f;
                            m.wy[i] = 0.0f;
                        }
                        continue;
                    }
                    // >= 0: the cell exists (no wrap in the unsigned sum)
                    const std::uint32_t cell =
                        BIL ? key : (key >> 4) + ((key >> 2) & 3) * W32 + (key & 3) - W32 - 1;
                    o[i] = static_cast<std::int32_t>(cell);
                    std::uint32_t col = cell - base;
                    if (col >= W32 || !any) {
                        row = cell / W32;
                        base = row * W32;
                        col = cell - base;
                        any = true;
                        r0 = std::min<size_t>(r0, row);
                        r1 = std::max<size_t>(r1, row);
                    }
                    c0 = std::min<size_t>(c0, col);
                    c1 = std::max<size_t>(c1, col);
                }
                boxes[b] = Box{r0, r1, c0, c1};
            };
            if (done) {
                if (nearest) {
                    finish(std::false_type{});
                } else {
                    finish(std::true_type{});
                }
                return;
            }
            std::vector<double> wlon, wlat;
            // The rows and columns of this band's cells (marked per pixel: cheaper than four
            // running minima and maxima in the pixel loop).
            std::vector<std::uint8_t> row_seen(H, 0), col_seen(W, 0);
            auto mark_box = [&] {
                Box& bx = boxes[b];
                for (size_t r = 0; r < H; ++r) {
                    if (row_seen[r] != 0) {
                        bx.r0 = std::min(bx.r0, r);
                        bx.r1 = r;
                    }
                }
                for (size_t c = 0; c < W; ++c) {
                    if (col_seen[c] != 0) {
                        bx.c0 = std::min(bx.c0, c);
                        bx.c1 = c;
                    }
                }
            };
            // The rows and columns of the owner quads of the tile of columns cb .. cb + band - 1.
            auto owner_box = [&](size_t cb) {
                Box t{H, 0, W, 0};
                for (size_t orow = b * band; orow < row_end; ++orow) {
                    for (size_t ocol = cb; ocol < std::min(OW, cb + band); ++ocol) {
                        const std::int32_t q = owner[orow * OW + ocol];
                        if (q == std::numeric_limits<std::int32_t>::max()) {
                            continue;
                        }
                        const auto q32 = static_cast<std::uint32_t>(q);
                        const size_t r = q32 / W32, c = q32 - (q32 / W32) * W32;
                        t.r0 = std::min(t.r0, r);
                        t.r1 = std::max(t.r1, r);
                        t.c0 = std::min(t.c0, c);
                        t.c1 = std::max(t.c1, c);
                    }
                }
                return t;
            };
            // Prefetches the cells a tile with owner box t reads (one more on each side), unless
            // that box is large.
            auto touch_box = [&](const Box& t) {
                if (t.r0 > t.r1) {
                    return;
                }
                const size_t r0 = t.r0 > 0 ? t.r0 - 1 : 0, c0 = t.c0 > 0 ? t.c0 - 1 : 0;
                const size_t r1 = std::min(H - 1, t.r1 + 2), c1 = std::min(W - 1, t.c1 + 2);
                if ((r1 - r0 + 1) * (c1 - c0 + 1) > max_window) {
                    return;
                }
                for (size_t rr = r0; rr <= r1; ++rr) {
                    touch(rr * W + c0, c1 - c0 + 1);
                }
            };
            Box next = owner_box(0);
            for (size_t col_beg = 0; col_beg < OW; col_beg += band) {
                const size_t col_end = std::min(OW, col_beg + band);
                const Box cur = next;
                if (col_end < OW) { // the next tile's cells, read a tile later
                    next = owner_box(col_end);
                    touch_box(next);
                }
                size_t wr0 = cur.r0, wr1 = cur.r1, wc0 = cur.c0, wc1 = cur.c1, ww = 0;
                bool win = false;
                if (nearest) {
                    if (wr0 <= wr1) {
                        wr0 = wr0 > 0 ? wr0 - 1 : 0;
                        wc0 = wc0 > 0 ? wc0 - 1 : 0;
                        wr1 = std::min(H - 1, wr1 + 2);
                        wc1 = std::min(W - 1, wc1 + 2);
                        ww = wc1 - wc0 + 1;
                        const size_t n = (wr1 - wr0 + 1) * ww;
                        win = n <= max_window;
                        if (win) {
                            wlon.resize(n);
                            wlat.resize(n);
                            for (size_t rr = wr0; rr <= wr1; ++rr) {
                                const size_t w = (rr - wr0) * ww;
                                run(rr * W + wc0, ww, wlon.data() + w, wlat.data() + w);
                            }
                        }
                    }
                }
                for (size_t orow = b * band; orow < row_end; ++orow) {
                    const double py = ys[orow];
                    const double kx = nearest ? kxs[orow] : 1.0;
                    for (size_t ocol = col_beg; ocol < col_end; ++ocol) {
                        const size_t o = orow * OW + ocol;
                        if (owner[o] == std::numeric_limits<std::int32_t>::max()) {
                            owner[o] = -1;
                            if (!nearest) {    // the map's other entries, as for a pixel with
                                m.step[o] = 8; // no quad before (lo = -1)
                                m.wx[o] = 0.0f;
                                m.wy[o] = 0.0f;
                            }
                            continue;
                        }
                        const auto q = static_cast<size_t>(owner[o]);
                        const Pt p{near_lon(xs[ocol], lon(q)), py};
                        if (!nearest) {
                            double s = 0, t = 0;
                            bilinear_weights(pos(q), pos(q + 1), pos(q + W), pos(q + W + 1), p, s,
                                             t);
                            m.wx[o] = static_cast<float>(s);
                            m.wy[o] = static_cast<float>(t);
                            m.step[o] = 8; // +1 column, +1 row
                            const auto q32 = static_cast<std::uint32_t>(q);
                            const size_t r = q32 / W32, c = q32 - (q32 / W32) * W32;
                            row_seen[r] = 1;
                            col_seen[c] = 1;
                            continue; // lo is the owner quad's corner (r, c)
                        }
                        const auto q32 = static_cast<std::uint32_t>(q);
                        const size_t r = q32 / W32, c = q32 - (q32 / W32) * W32;
                        double best = std::numeric_limits<double>::infinity();
                        std::int32_t best_idx = -1;
                        if (r >= 1 && r + 2 < H && c >= 1 && c + 2 < W) {
                            // Inside the swath: the 16 distances first (no branch between them),
                            // then the first smallest in the order of the loop below.
                            const size_t base = (r - 1) * W + (c - 1);
                            std::array<double, 16> dist;
                            if (win) {
                                const size_t wb = (r - 1 - wr0) * ww + (c - 1 - wc0);
                                dist16(wlon.data() + wb, wlat.data() + wb, ww, p, kx, dist);
                            } else {
                                for (size_t j = 0; j < 4; ++j) {
                                    for (size_t k = 0; k < 4; ++k) {
                                        const size_t i = base + j * W + k;
                                        const double ddx = (lon(i) - p.x) * kx;
                                        const double ddy = lat(i) - p.y;
                                        dist[j * 4 + k] = ddx * ddx + ddy * ddy;
                                    }
                                }
                            }
                            const int bn = first_smallest(dist); // NaN positions never win
                            if (bn < 0) {
                                m.nearest[o] = -1;
                                continue;
                            }
                            const size_t nr = r - 1 + static_cast<size_t>(bn / 4),
                                         nc = c - 1 + static_cast<size_t>(bn % 4);
                            m.nearest[o] = static_cast<std::int32_t>(nr * W + nc);
                            row_seen[nr] = 1;
                            col_seen[nc] = 1;
                            continue;
                        }
                        const size_t rr0 = r > 0 ? r - 1 : 0, rr1 = std::min(H - 1, r + 2);
                        const size_t cc0 = c > 0 ? c - 1 : 0, cc1 = std::min(W - 1, c + 2);
                        for (size_t rr = rr0; rr <= rr1; ++rr) {
                            for (size_t k = cc0; k <= cc1; ++k) {
                                const size_t i = rr * W + k;
                                const double ddx = (lon(i) - p.x) * kx;
                                const double ddy = lat(i) - p.y;
                                const double dist = ddx * ddx + ddy * ddy;
                                if (dist < best) { // NaN positions never win
                                    best = dist;
                                    best_idx = static_cast<std::int32_t>(i);
                                }
                            }
                        }
                        m.nearest[o] = best_idx;
                        if (best_idx >= 0) {
                            const auto i32 = static_cast<std::uint32_t>(best_idx);
                            const size_t nr = i32 / W32, nc = i32 - (i32 / W32) * W32;
                            row_seen[nr] = 1;
                            col_seen[nc] = 1;
                        }
                    }
                }
            }
            mark_box();
        });
        // used_window's window: flat_window of the nearest cells (rows r0 .. r1 + 1), or of lo
        // grown by one cell (the bilinear map's steps are all +1 column, +1 row).
        Box all{H, 0, W, 0};
        for (const Box& bx : boxes) {
            all.r0 = std::min(all.r0, bx.r0);
            all.r1 = std::max(all.r1, bx.r1);
            all.c0 = std::min(all.c0, bx.c0);
            all.c1 = std::max(all.c1, bx.c1);
        }
        if (all.r0 > all.r1) {
            m.window = io::Window{};
        } else {
            const size_t grow = nearest ? 0 : 1;
            m.window =
                io::Window{all.r0 > grow ? all.r0 - grow : 0, std::min(H, all.r1 + 1 + grow),
                           all.c0 > grow ? all.c0 - grow : 0, std::min(W, all.c1 + 1 + grow)};
        }
        return true;
    }
};

// Both passes (Walk) over src (longitudes from unwrapped when it is not empty), specialised for
// how the positions are stored (the same doubles either way).
void walk_swath(const io::LatLon2D& src, const grid::Grid& out, bool projected, bool nearest,
                bool keyed, const io::ForEach& for_each, MapVector<std::int32_t>& owner,
                PixelMap& m, const std::vector<double>& unwrapped) {
    const Walk walk{src, out, projected, nearest, keyed, for_each, owner, m};
    if (!unwrapped.empty()) {
        const double* ux = unwrapped.data();
        walk([ux](size_t i) { return ux[i]; }, [&src](size_t i) { return src.lat_at(i); },
             [ux, &src](size_t i, size_t n) {
                 prefetch(ux + i, n);
                 if (src.packed()) {
                     prefetch(src.lat_packed.data() + i, n);
                 } else {
                     prefetch(src.lat.data() + i, n);
                 }
             },
             [ux, &src](size_t i, size_t n, double* x, double* y) {
                 std::copy(ux + i, ux + i + n, x);
                 for (size_t j = 0; j < n; ++j) {
                     y[j] = src.lat_at(i + j);
                 }
             });
    } else if (src.packed()) {
        const std::int32_t* px = src.lon_packed.data();
        const std::int32_t* py = src.lat_packed.data();
        const double xs = src.lon_scale, xo = src.lon_offset, ys = src.lat_scale,
                     yo = src.lat_offset;
        walk([=](size_t i) { return unpack_fast(px[i], xs, xo); },
             [=](size_t i) { return unpack_fast(py[i], ys, yo); },
             [=](size_t i, size_t n) {
                 prefetch(px + i, n);
                 prefetch(py + i, n);
             },
             [=](size_t i, size_t n, double* x, double* y) {
                 unpack_run(px + i, n, xs, xo, x);
                 unpack_run(py + i, n, ys, yo, y);
             });
    } else {
        const double* x = src.lon.data();
        const double* y = src.lat.data();
        walk([x](size_t i) { return x[i]; }, [y](size_t i) { return y[i]; },
             [x, y](size_t i, size_t n) {
                 prefetch(x + i, n);
                 prefetch(y + i, n);
             },
             [x, y](size_t i, size_t n, double* ox, double* oy) {
                 std::copy(x + i, x + i + n, ox);
                 std::copy(y + i, y + i + n, oy);
             });
    }
}

// Both passes (Walk) over a swath whose packed positions are read a block of rows at a time
// (map_swath_rows): the rows of the bands being walked and one more above and two below them in
// one buffer, the rows above the next band dropped before each block is read. False when the
// banded path does not apply (see Walk: more), or the rows hold a pair of neighbours more than
// 180 degrees of longitude apart (the whole path walks such a swath unwrapped) or cannot be held
// packed: the map is then not finished.
bool walk_swath_rows(io::SwathRows& rows, const grid::Grid& out, bool nearest,
                     const io::ForEach& for_each, MapVector<std::int32_t>& owner, PixelMap& m) {
    const size_t H = rows.height, W = rows.width, R = rows.block_rows;
    io::LatLon2D shape; // Walk looks at the size only
    shape.height = H;
    shape.width = W;
    const double xs = rows.lon_scale, xo = rows.lon_offset, ys = rows.lat_scale,
                 yo = rows.lat_offset;
    // As map_swath: a block whose largest jump of stored longitudes is at most lim holds no pair
    // across the antimeridian; one with a larger jump is tested on its decoded longitudes.
    const double span = std::abs(xs) * 4294967296.0 + std::abs(xo);
    const std::int64_t lim =
        std::isfinite(span) && span <= 1e12
            ? static_cast<std::int64_t>(std::min(90.0 / std::abs(xs), 8589934592.0))
            : -1;
    io::LatLon2D::Packed xb, yb; // rows lo .. hi - 1, lon and lat (the reader writes them all)
    size_t lo = 0, hi = 0, next = 0;
    struct View {
        const std::int32_t *x, *y;
        size_t base; // lo * W: cell i at x[i - base]
    } v{nullptr, nullptr, 0};
    auto more = [&](size_t keep, size_t& now_hi) {
        if (next * R >= H) {
            return false; // (not reached: every band fits once all rows are read)
        }
        if (keep > lo) {
            const size_t d = (keep - lo) * W, n = (hi - lo) * W;
            std::copy(xb.begin() + static_cast<std::ptrdiff_t>(d),
                      xb.begin() + static_cast<std::ptrdiff_t>(n), xb.begin());
            std::copy(yb.begin() + static_cast<std::ptrdiff_t>(d),
                      yb.begin() + static_cast<std::ptrdiff_t>(n), yb.begin());
            lo = keep;
        }
        const size_t r0 = next * R, r1 = std::min(H, r0 + R), at = (hi - lo) * W;
        xb.resize(at + (r1 - r0) * W);
        yb.resize(at + (r1 - r0) * W);
        std::uint32_t jump = 0;
        if (!rows.read(next, yb.data() + at, xb.data() + at, jump)) {
            return false;
        }
        ++next;
        hi = r1;
        v = View{xb.data(), yb.data(), lo * W};
        if (lim < 0 || static_cast<std::int64_t>(jump) > lim) {
            // crosses_antimeridian's test on the new rows' pairs (and those of the row above)
            auto x = [&](size_t r, size_t c) { return unpack_fast(xb[(r - lo) * W + c], xs, xo); };
            for (size_t r = r0 > lo ? r0 - 1 : r0; r < hi; ++r) {
                for (size_t c = 0; c < W; ++c) {
                    const double a = x(r, c);
                    if ((c + 1 < W && std::abs(a - x(r, c + 1)) > 180.0) ||
                        (r + 1 < hi && std::abs(a - x(r + 1, c)) > 180.0)) {
                        return false;
                    }
                }
            }
        }
        now_hi = hi;
        return true;
    };
    // A block and the rows kept above it (at most a band and 3), on huge pages where the kernel
    // gives them (a few faults instead of ~5600 for the bench swath's 23 MB). Each is a big block
    // (BIG_BLOCK bytes of address space at least, only the rows used ever touched): freed on
    // return, it goes back to the kernel (big_block_free), where the slab that the input's
    // variable is read into next takes its pages again. A smaller block would stay in the heap
    // (keep_freed_blocks_in_heap) beside that slab: 23 MB more peak memory for the bench swath,
    // and as many more fresh pages for the slab.
    const size_t cap = std::max((R + 70) * W, BIG_BLOCK / sizeof(std::int32_t));
    reserve_huge(xb, cap);
    reserve_huge(yb, cap);
    const Walk walk{shape, out, false, nearest, nearest, for_each, owner, m};
    return walk([&v, xs, xo](size_t i) { return unpack_fast(v.x[i - v.base], xs, xo); },
                [&v, ys, yo](size_t i) { return unpack_fast(v.y[i - v.base], ys, yo); },
                [&v](size_t i, size_t n) {
                    prefetch(v.x + (i - v.base), n);
                    prefetch(v.y + (i - v.base), n);
                },
                [&v, xs, xo, ys, yo](size_t i, size_t n, double* x, double* y) {
                    unpack_run(v.x + (i - v.base), n, xs, xo, x);
                    unpack_run(v.y + (i - v.base), n, ys, yo, y);
                },
                more);
}

// The per-claim kernels for the test hooks (each copy its own).
int kernel_nearest16(const double* x, const double* y, size_t stride, double px, double py,
                     double kx) {
    std::array<double, 16> dist;
    dist16(x, y, stride, Pt{px, py}, kx, dist);
    return first_smallest(dist);
}
int kernel_hull(const double* corners, double size, double px, double py) {
    const Hull h(Pt{corners[0], corners[1]}, Pt{corners[2], corners[3]}, Pt{corners[4], corners[5]},
                 Pt{corners[6], corners[7]}, size);
    return static_cast<int>(h.test(h.row(py), px));
}
void kernel_cell_row(const double* x, const double* y, size_t nc, double ymax, double xmin,
                     double dy, double dx, double* ps, double* fu, double* cu, double* fv,
                     double* cv, bool& odd, double& bx0, double& bx1) {
    std::vector<Pt> pts(nc);
    cell_row(x, y, nc, CellFrame{ymax, xmin, dy, dx}, pts.data(), fu, cu, fv, cv, odd, bx0, bx1);
    for (size_t j = 0; j < nc; ++j) {
        ps[2 * j] = pts[j].x;
        ps[2 * j + 1] = pts[j].y;
    }
}

} // namespace

#if BAIMS_SWATH_AVX2_COPY
int swath_avx2::nearest16(const double* x, const double* y, size_t stride, double px, double py,
                          double kx) {
    return kernel_nearest16(x, y, stride, px, py, kx);
}
int swath_avx2::hull(const double* corners, double size, double px, double py) {
    return kernel_hull(corners, size, px, py);
}
void swath_avx2::unpack(const std::int32_t* p, size_t n, double scale, double offset, double* out) {
    unpack_run(p, n, scale, offset, out);
}
void swath_avx2::cell_row(const double* x, const double* y, size_t nc, double ymax, double xmin,
                          double dy, double dx, double* ps, double* fu, double* cu, double* fv,
                          double* cv, bool& odd, double& bx0, double& bx1) {
    kernel_cell_row(x, y, nc, ymax, xmin, dy, dx, ps, fu, cu, fv, cv, odd, bx0, bx1);
}
void swath_avx2::walk_swath(const io::LatLon2D& src, const grid::Grid& out, bool projected,
                            bool nearest, bool keyed, const io::ForEach& for_each,
                            MapVector<std::int32_t>& owner, PixelMap& m,
                            const std::vector<double>& unwrapped) {
    baims::cube::walk_swath(src, out, projected, nearest, keyed, for_each, owner, m, unwrapped);
}
bool swath_avx2::walk_swath_rows(io::SwathRows& rows, const grid::Grid& out, bool nearest,
                                 const io::ForEach& for_each, MapVector<std::int32_t>& owner,
                                 PixelMap& m) {
    return baims::cube::walk_swath_rows(rows, out, nearest, for_each, owner, m);
}
#else
bool detail::swath_avx2_copy() {
    return BAIMS_SWATH_WALK_AVX2 && cpu_has_avx2();
}

int detail::swath_nearest16(const double* x, const double* y, size_t stride, double px, double py,
                            double kx, bool avx2) {
#if BAIMS_SWATH_WALK_AVX2
    if (avx2 && cpu_has_avx2()) {
        return swath_avx2::nearest16(x, y, stride, px, py, kx);
    }
#endif
    (void)avx2;
    return kernel_nearest16(x, y, stride, px, py, kx);
}

int detail::swath_hull(const double* corners, double size, double px, double py, bool avx2) {
#if BAIMS_SWATH_WALK_AVX2
    if (avx2 && cpu_has_avx2()) {
        return swath_avx2::hull(corners, size, px, py);
    }
#endif
    (void)avx2;
    return kernel_hull(corners, size, px, py);
}

void detail::swath_unpack(const std::int32_t* p, size_t n, double scale, double offset, bool avx2,
                          double* out) {
#if BAIMS_SWATH_WALK_AVX2
    if (avx2 && cpu_has_avx2()) {
        swath_avx2::unpack(p, n, scale, offset, out);
        return;
    }
#endif
    (void)avx2;
    unpack_run(p, n, scale, offset, out);
}

void detail::swath_cell_row(const double* x, const double* y, size_t nc, double ymax, double xmin,
                            double dy, double dx, bool avx2, double* ps, double* fu, double* cu,
                            double* fv, double* cv, bool& odd, double& bx0, double& bx1) {
#if BAIMS_SWATH_WALK_AVX2
    if (avx2 && cpu_has_avx2()) {
        swath_avx2::cell_row(x, y, nc, ymax, xmin, dy, dx, ps, fu, cu, fv, cv, odd, bx0, bx1);
        return;
    }
#endif
    (void)avx2;
    kernel_cell_row(x, y, nc, ymax, xmin, dy, dx, ps, fu, cu, fv, cv, odd, bx0, bx1);
}

size_t detail::swath_quad_boxes(const double* cu, const double* fu, const double* cv,
                                const double* fv, size_t nc, size_t nq, bool shifts, double oh1,
                                double ow1, bool avx2, double* qb, std::uint32_t* cand) {
    return quad_boxes(cu, fu, cv, fv, nc, nq, shifts, oh1, ow1, avx2 && cpu_has_avx2(), qb, cand);
}

size_t detail::swath_weights(const double* corners, const double* p, size_t n, bool avx2, double* s,
                             double* t) {
    std::vector<Pt> pts(5 * n);
    for (size_t i = 0; i < n; ++i) {
        for (size_t k = 0; k < 4; ++k) {
            pts[5 * i + k] = Pt{corners[8 * i + 2 * k], corners[8 * i + 2 * k + 1]};
        }
        pts[5 * i + 4] = Pt{p[2 * i], p[2 * i + 1]};
    }
    WeighScratch scratch;
    return weigh_all(
        n, avx2 && cpu_has_avx2(),
        [&](size_t i) {
            const Pt* q = pts.data() + 5 * i;
            return WeightIn{q, q + 1, q + 2, q + 3, q + 4};
        },
        [&](size_t i, double si, double ti) {
            s[i] = si;
            t[i] = ti;
        },
        scratch);
}

namespace {

// Whether every key q * 16 + 15 of an H x W swath's quads fits in an int32 (Walk::keyed).
bool keyable(size_t H, size_t W) {
    return H * W <= static_cast<size_t>(std::numeric_limits<std::int32_t>::max() / 16);
}

// m sized for the output grid with its pass 1 owner array, the map's own index array (nearest:
// m.nearest, else m.lo), filled with "no quad yet" (-1 when empty: no walk), which it returns;
// for bilinear also step, wx and wy (not filled: pass 2 writes every entry).
MapVector<std::int32_t>& start_map(PixelMap& m, const grid::Grid& out, bool nearest, bool empty,
                                   const io::ForEach& for_each) {
    const size_t OW = out.width(), OH = out.height();
    m.width = OW;
    m.height = OH;
    // Written once with "no quad yet", then once more by pass 2 (no -1 fill before).
    MapVector<std::int32_t>& owner = nearest ? m.nearest : m.lo;
    // The map's big arrays are first touched by all threads (their fresh pages faulted in in
    // parallel). The owner array is filled by all threads too.
    const size_t n_out = OW * OH;
    reserve_huge(owner, n_out);
    owner.resize(n_out); // not initialised (MapVector)
    const std::int32_t none = empty ? -1 : std::numeric_limits<std::int32_t>::max();
    constexpr size_t PART = size_t{1} << 19; // 2 MiB of int32
    std::int32_t* o = owner.data();
    for_each((n_out + PART - 1) / PART, [o, n_out, none](size_t k) {
        std::fill(o + k * PART, o + std::min(n_out, (k + 1) * PART), none);
    });
    if (!nearest) {
        reserve_touched(m.step, n_out, for_each);
        reserve_touched(m.wx, n_out, for_each);
        reserve_touched(m.wy, n_out, for_each);
        m.step.resize(n_out);
        m.wx.resize(n_out);
        m.wy.resize(n_out);
    }
    return owner;
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
    const bool nearest = method == Resampling::Nearest;
    const bool empty = H < 2 || W < 2 || OW == 0 || OH == 0;
    MapVector<std::int32_t>& owner = start_map(m, out, nearest, empty, for_each);
    // Nearest with keys in pass 1 (Walk::keyed) when q * 16 + 15 fits in an int32 for every quad.
    const bool keyed = nearest && !empty && keyable(H, W);
    if (empty) {
        if (!nearest) {
            std::fill(m.step.begin(), m.step.end(), std::uint8_t{8}); // +1 column, +1 row
            std::fill(m.wx.begin(), m.wx.end(), 0.0f);
            std::fill(m.wy.begin(), m.wy.end(), 0.0f);
        }
        return m;
    }
    if (H * W > static_cast<size_t>(std::numeric_limits<std::int32_t>::max())) {
        throw InputError("a swath of " + io::describe(io::Geometry{src}) +
                         " cells is too large to resample (at most 2^31 cells)");
    }
    // A swath across the antimeridian (a quad whose corners span more than 180 degrees of
    // longitude) is walked with its longitudes in [0, 360), where it is continuous.
    std::vector<double> unwrapped;
    bool crosses = false;
    if (!projected && src.packed()) {
        // Packed longitudes: a row whose stored integers differ by at most `lim` between every
        // cell and its right and lower neighbours is clear without decoding them. Decoding
        // (v * scale + offset, two roundings) is off by at most ~2^-52 (2^32 |scale| + |offset|)
        // <= 2.3e-4 degrees when that is <= 1e12, so two such cells decode at most
        // 90 + 4.6e-4 < 180 degrees apart and the exact test would find nothing either. A pair
        // with PACKED_NONE never crosses (NaN compares false), whatever its integers' difference.
        // Rows that are not clear are tested on their decoded longitudes as before. The reader
        // finds each row's largest difference while it decodes the chunks (lon_row_jump); without
        // it the rows' integers are looked at here.
        const std::int32_t* px = src.lon_packed.data();
        const double xs = src.lon_scale, xo = src.lon_offset;
        const double span = std::abs(xs) * 4294967296.0 + std::abs(xo);
        const std::int64_t lim =
            std::isfinite(span) && span <= 1e12
                ? static_cast<std::int64_t>(std::min(90.0 / std::abs(xs), 8589934592.0))
                : -1;
        crosses = crosses_antimeridian(
            src, [=](size_t i) { return unpack_fast(px[i], xs, xo); },
            [=, &src](size_t r) {
                if (lim < 0) {
                    return false;
                }
                if (!src.lon_row_jump.empty()) {
                    // the reader's largest jump of the row (the same pairs and the lower
                    // neighbour of the last column: a row it does not clear is tested below)
                    return static_cast<std::int64_t>(src.lon_row_jump[r]) <= lim;
                }
                const std::int32_t* x = px + r * W;
                int far = 0; // (ints: no branch per pair)
                for (size_t c = 0; c + 1 < W; ++c) {
                    const std::int64_t a = x[c], h = x[c + 1], v = x[c + W];
                    far |= static_cast<int>(std::abs(a - h) > lim) |
                           static_cast<int>(std::abs(a - v) > lim);
                }
                return far == 0;
            },
            for_each);
    } else if (!projected) {
        crosses = crosses_antimeridian(
            src, [x = src.lon.data()](size_t i) { return x[i]; }, [](size_t) { return false; },
            for_each);
    }
    if (crosses) {
        unwrapped.resize(H * W);
        for (size_t i = 0; i < H * W; ++i) {
            const double x = src.lon_at(i);
            unwrapped[i] = x < 0 ? x + 360.0 : x;
        }
    }
#if BAIMS_SWATH_WALK_AVX2
    if (use_avx2()) {
        swath_avx2::walk_swath(src, out, projected, nearest, keyed, for_each, owner, m, unwrapped);
        return m;
    }
#endif
    walk_swath(src, out, projected, nearest, keyed, for_each, owner, m, unwrapped);
    return m;
}

std::optional<PixelMap> map_swath_rows(io::SwathRows& rows, const grid::Grid& out,
                                       Resampling method, const io::ForEach& for_each,
                                       const std::string& out_crs) {
    const size_t H = rows.height, W = rows.width;
    const bool nearest = method == Resampling::Nearest;
    // Not banded: a projected output (the positions are projected first), average and mode
    // (their cell lists), an empty map, nearest without keys (pass 2 needs the positions).
    if (!out_crs.empty() || (!nearest && method != Resampling::Bilinear) || H < 2 || W < 2 ||
        out.width() == 0 || out.height() == 0 || rows.block_rows == 0 ||
        (nearest && !keyable(H, W)) ||
        H * W > static_cast<size_t>(std::numeric_limits<std::int32_t>::max())) {
        return std::nullopt;
    }
    PixelMap m;
    MapVector<std::int32_t>& owner = start_map(m, out, nearest, false, for_each);
    bool done = false;
#if BAIMS_SWATH_WALK_AVX2
    if (use_avx2()) {
        done = swath_avx2::walk_swath_rows(rows, out, nearest, for_each, owner, m);
    } else
#endif
    {
        done = walk_swath_rows(rows, out, nearest, for_each, owner, m);
    }
    if (!done) {
        return std::nullopt;
    }
    return m;
}
#endif

} // namespace baims::cube
