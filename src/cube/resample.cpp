#include "baims/cube/resample.hpp"

#include "baims/core/error.hpp"
#include "baims/core/text.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <map>
#include <numeric>
#include <type_traits>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace baims::cube {
namespace {

constexpr float NaN = std::numeric_limits<float>::quiet_NaN();
// Average/mode: an overlap below this fraction of the output pixel is rounding noise where an
// output edge meets a source edge (aligned grids), not a cell the output pixel covers.
constexpr double SLIVER = 1e-9;

// Source axis sorted ascending with the permutation back to storage order, and cell edges.
struct SortedAxis {
    std::vector<double> c;          // centres, ascending
    std::vector<double> e;          // edges, size n+1
    std::vector<std::int32_t> perm; // sorted position -> storage index

    explicit SortedAxis(const std::vector<double>& src, double fallback_step) {
        size_t n = src.size();
        perm.resize(n);
        std::iota(perm.begin(), perm.end(), 0);
        std::stable_sort(perm.begin(), perm.end(), [&](int a, int b) { return src[a] < src[b]; });
        c.resize(n);
        for (size_t k = 0; k < n; ++k) {
            c[k] = src[perm[k]];
        }
        e.resize(n + 1);
        if (n == 1) {
            e[0] = c[0] - fallback_step / 2;
            e[1] = c[0] + fallback_step / 2;
            return;
        }
        for (size_t k = 1; k < n; ++k) {
            e[k] = 0.5 * (c[k - 1] + c[k]);
        }
        e[0] = c[0] - 0.5 * (c[1] - c[0]);
        e[n] = c[n - 1] + 0.5 * (c[n - 1] - c[n - 2]);
    }

    double lo() const { return e.front(); }
    double hi() const { return e.back(); }

    // The footprint spans the full circle of longitude (to 1 % of a pixel, for float32
    // coordinates): the axis has no edge, only a seam between its last and first centres.
    bool covers_circle() const {
        const double pixel = (hi() - lo()) / static_cast<double>(c.size());
        return hi() - lo() >= 360.0 - 0.01 * pixel;
    }

    // Sorted cell holding x, or -1.
    long cell(double x) const {
        if (!(x >= lo()) || !(x < hi())) {
            return -1;
        }
        auto it = std::upper_bound(e.begin(), e.end(), x);
        return static_cast<long>(it - e.begin()) - 1;
    }
};

// The candidate shifts of an output coordinate (longitude wraps at 360).
std::vector<double> shifts(bool periodic) {
    if (periodic) {
        return {0.0, -360.0, 360.0};
    }
    return {0.0};
}

} // namespace

const std::vector<std::string>& resampling_names() {
    static const std::vector<std::string> names{"nearest", "bilinear", "average", "mode"};
    return names;
}

Resampling parse_resampling(const std::string& name) {
    if (name == "nearest") {
        return Resampling::Nearest;
    }
    if (name == "bilinear") {
        return Resampling::Bilinear;
    }
    if (name == "average") {
        return Resampling::Average;
    }
    if (name == "mode") {
        return Resampling::Mode;
    }
    std::string msg =
        "unknown resampling '" + name + "'; expected one of nearest, bilinear, average, mode";
    auto guess = text::did_you_mean(name, resampling_names());
    if (!guess.empty()) {
        msg += " (did you mean '" + guess + "'?)";
    }
    throw ConfigError(msg);
}

std::string to_string(Resampling r) {
    return resampling_names()[static_cast<size_t>(r)];
}

bool AxisMap::empty() const {
    if (!nearest.empty()) {
        return std::all_of(nearest.begin(), nearest.end(), [](auto v) { return v < 0; });
    }
    if (!lo.empty()) {
        return std::all_of(lo.begin(), lo.end(), [](auto v) { return v < 0; });
    }
    return idx.empty();
}

AxisMap map_axis(const std::vector<double>& src, const std::vector<double>& out, double out_step,
                 Resampling method, bool periodic) {
    if (src.empty()) {
        throw InputError("a source coordinate axis is empty");
    }
    SortedAxis ax(src, out_step);
    AxisMap m;
    const size_t n_out = out.size();
    const auto sh = shifts(periodic);
    switch (method) {
    case Resampling::Nearest:
        m.nearest.assign(n_out, -1);
        for (size_t k = 0; k < n_out; ++k) {
            for (double s : sh) {
                long c = ax.cell(out[k] + s);
                if (c >= 0) {
                    m.nearest[k] = ax.perm[static_cast<size_t>(c)];
                    break;
                }
            }
        }
        break;
    case Resampling::Bilinear: {
        m.lo.assign(n_out, -1);
        m.hi.assign(n_out, -1);
        m.w.assign(n_out, 0.f);
        const bool wraps = periodic && ax.covers_circle();
        for (size_t k = 0; k < n_out; ++k) {
            if (wraps) {
                // Global longitudes: the last and first centres are neighbours across the seam.
                double x = ax.c.front() + std::fmod(out[k] - ax.c.front(), 360.0);
                if (x < ax.c.front()) {
                    x += 360.0;
                }
                if (x > ax.c.back()) {
                    const double gap = ax.c.front() + 360.0 - ax.c.back();
                    m.lo[k] = ax.perm.back();
                    m.hi[k] = ax.perm.front();
                    m.w[k] = static_cast<float>(std::min((x - ax.c.back()) / gap, 1.0));
                    continue;
                }
                m.lo[k] = m.hi[k] = ax.perm.front(); // exact hit on the first centre
                if (x > ax.c.front()) {
                    auto it = std::lower_bound(ax.c.begin(), ax.c.end(), x);
                    size_t j = static_cast<size_t>(it - ax.c.begin()); // c[j-1] < x <= c[j]
                    m.lo[k] = ax.perm[j - 1];
                    m.hi[k] = ax.perm[j];
                    m.w[k] = static_cast<float>((x - ax.c[j - 1]) / (ax.c[j] - ax.c[j - 1]));
                }
                continue;
            }
            for (double s : sh) {
                double x = out[k] + s;
                if (!(x >= ax.lo()) || !(x < ax.hi())) {
                    continue;
                }
                size_t n = ax.c.size();
                if (x <= ax.c.front()) {
                    m.lo[k] = m.hi[k] = ax.perm.front();
                } else if (x >= ax.c.back()) {
                    m.lo[k] = m.hi[k] = ax.perm.back();
                } else {
                    auto it = std::upper_bound(ax.c.begin(), ax.c.end(), x);
                    size_t j = static_cast<size_t>(it - ax.c.begin()); // c[j-1] <= x < c[j]
                    j = std::min(std::max<size_t>(j, 1), n - 1);
                    m.lo[k] = ax.perm[j - 1];
                    m.hi[k] = ax.perm[j];
                    m.w[k] = static_cast<float>((x - ax.c[j - 1]) / (ax.c[j] - ax.c[j - 1]));
                }
                break;
            }
        }
        break;
    }
    case Resampling::Average:
    case Resampling::Mode:
        m.off.assign(n_out + 1, 0);
        for (size_t k = 0; k < n_out; ++k) {
            for (double s : sh) {
                double a = out[k] + s - out_step / 2, b = out[k] + s + out_step / 2;
                if (b <= ax.lo() || a >= ax.hi()) {
                    continue;
                }
                auto first = std::upper_bound(ax.e.begin(), ax.e.end(), a);
                size_t j =
                    first == ax.e.begin() ? 0 : static_cast<size_t>(first - ax.e.begin()) - 1;
                for (; j < ax.c.size() && ax.e[j] < b; ++j) {
                    double ov = std::min(b, ax.e[j + 1]) - std::max(a, ax.e[j]);
                    if (ov > SLIVER * out_step) {
                        m.idx.push_back(ax.perm[j]);
                        m.wts.push_back(static_cast<float>(ov / out_step));
                    }
                }
            }
            m.off[k + 1] = static_cast<std::uint32_t>(m.idx.size());
        }
        break;
    }
    return m;
}

void resample_rows(const float* src, size_t src_w, const AxisMap& ym, const AxisMap& xm,
                   Resampling method, size_t row0, size_t nrows, size_t out_w, float* out) {
    resample_block(src, src_w, ym, xm, method, row0, nrows, 0, out_w, out, out_w);
}

void resample_block(const float* src, size_t src_w, const AxisMap& ym, const AxisMap& xm,
                    Resampling method, size_t row0, size_t nrows, size_t col0, size_t ncols,
                    float* out, size_t out_stride) {
    const size_t out_w = ncols;
    switch (method) {
    case Resampling::Nearest: {
        // When upsampling, consecutive output rows often take the same source row: the row
        // gathered before is copied instead of gathered again.
        const float* done = nullptr;
        std::int32_t done_sy = -1;
        for (size_t r = 0; r < nrows; ++r) {
            float* o = out + r * out_stride;
            std::int32_t sy = ym.nearest[row0 + r];
            if (sy < 0) {
                std::fill(o, o + out_w, NaN);
                continue;
            }
            if (done != nullptr && sy == done_sy) {
                std::memcpy(o, done, out_w * sizeof(float));
                continue;
            }
            done = o;
            done_sy = sy;
            const float* s = src + static_cast<size_t>(sy) * src_w;
            const std::int32_t* xi = xm.nearest.data() + col0;
            for (size_t i = 0; i < out_w; ++i) {
                std::int32_t sx = xi[i];
                o[i] = sx < 0 ? NaN : s[sx];
            }
        }
        break;
    }
    case Resampling::Bilinear:
        for (size_t r = 0; r < nrows; ++r) {
            float* o = out + r * out_stride;
            size_t ry = row0 + r;
            if (ym.lo[ry] < 0) {
                std::fill(o, o + out_w, NaN);
                continue;
            }
            const float* s0 = src + static_cast<size_t>(ym.lo[ry]) * src_w;
            const float* s1 = src + static_cast<size_t>(ym.hi[ry]) * src_w;
            float wy = ym.w[ry];
            for (size_t i = 0; i < out_w; ++i) {
                if (xm.lo[col0 + i] < 0) {
                    o[i] = NaN;
                    continue;
                }
                float wx = xm.w[col0 + i];
                const auto xl = xm.lo[col0 + i], xh = xm.hi[col0 + i];
                float v[4] = {s0[xl], s0[xh], s1[xl], s1[xh]};
                float w[4] = {(1 - wx) * (1 - wy), wx * (1 - wy), (1 - wx) * wy, wx * wy};
                float sum = 0, wsum = 0;
                for (int q = 0; q < 4; ++q) {
                    if (!std::isnan(v[q]) && w[q] > 0) {
                        sum += w[q] * v[q];
                        wsum += w[q];
                    }
                }
                if (wsum == 0) {
                    // All weighted neighbours are NaN; an exact hit on a valid pixel still counts.
                    o[i] = (w[0] >= 0.999999f && !std::isnan(v[0])) ? v[0] : NaN;
                } else {
                    o[i] = sum / wsum;
                }
            }
        }
        break;
    case Resampling::Average:
        for (size_t r = 0; r < nrows; ++r) {
            float* o = out + r * out_stride;
            size_t ry = row0 + r;
            for (size_t i = 0; i < out_w; ++i) {
                double sum = 0, wsum = 0;
                for (auto a = ym.off[ry]; a < ym.off[ry + 1]; ++a) {
                    const float* s = src + static_cast<size_t>(ym.idx[a]) * src_w;
                    for (auto b = xm.off[col0 + i]; b < xm.off[col0 + i + 1]; ++b) {
                        float v = s[xm.idx[b]];
                        if (!std::isnan(v)) {
                            double w = static_cast<double>(ym.wts[a]) * xm.wts[b];
                            sum += w * v;
                            wsum += w;
                        }
                    }
                }
                o[i] = wsum > 0 ? static_cast<float>(sum / wsum) : NaN;
            }
        }
        break;
    case Resampling::Mode: {
        std::vector<std::pair<float, double>> acc;
        for (size_t r = 0; r < nrows; ++r) {
            float* o = out + r * out_stride;
            size_t ry = row0 + r;
            for (size_t i = 0; i < out_w; ++i) {
                acc.clear();
                for (auto a = ym.off[ry]; a < ym.off[ry + 1]; ++a) {
                    const float* s = src + static_cast<size_t>(ym.idx[a]) * src_w;
                    for (auto b = xm.off[col0 + i]; b < xm.off[col0 + i + 1]; ++b) {
                        float v = s[xm.idx[b]];
                        if (std::isnan(v)) {
                            continue;
                        }
                        double w = static_cast<double>(ym.wts[a]) * xm.wts[b];
                        auto it = std::find_if(acc.begin(), acc.end(),
                                               [v](const auto& p) { return p.first == v; });
                        if (it == acc.end()) {
                            acc.emplace_back(v, w);
                        } else {
                            it->second += w;
                        }
                    }
                }
                if (acc.empty()) {
                    o[i] = NaN;
                    continue;
                }
                // Largest total weight wins; ties go to the smaller value (deterministic).
                auto best = acc.front();
                for (const auto& p : acc) {
                    if (p.second > best.second + 1e-12 ||
                        (std::abs(p.second - best.second) <= 1e-12 && p.first < best.first)) {
                        best = p;
                    }
                }
                o[i] = best.first;
            }
        }
        break;
    }
    }
}

namespace {

// The bilinear value of four neighbours (NaN-aware: a NaN neighbour drops out and the others are
// renormalised), shared by the separable and the per-pixel paths.
inline float bilinear(float v00, float v01, float v10, float v11, float wx, float wy) {
    float v[4] = {v00, v01, v10, v11};
    float w[4] = {(1 - wx) * (1 - wy), wx * (1 - wy), (1 - wx) * wy, wx * wy};
    if (std::isfinite(v00) && std::isfinite(v01) && std::isfinite(v10) && std::isfinite(v11)) {
        // No neighbour drops out: the sums below without branches (a weight of 0 adds exactly 0;
        // the weights are never negative).
        return (((w[0] * v00 + w[1] * v01) + w[2] * v10) + w[3] * v11) /
               (((w[0] + w[1]) + w[2]) + w[3]);
    }
    if (std::isnan(v00) && std::isnan(v01) && std::isnan(v10) && std::isnan(v11)) {
        return NaN; // what the loop below gives, without it: most pixels of a cube over land
    }
    float sum = 0, wsum = 0;
    for (int q = 0; q < 4; ++q) {
        if (!std::isnan(v[q]) && w[q] > 0) {
            sum += w[q] * v[q];
            wsum += w[q];
        }
    }
    if (wsum == 0) {
        // All weighted neighbours are NaN; an exact hit on a valid pixel still counts.
        return (w[0] >= 0.999999f && !std::isnan(v[0])) ? v[0] : NaN;
    }
    return sum / wsum;
}

// The most frequent of the n values in v (NaN left out), the smallest of the most frequent on a
// tie; NaN when there is none. Sorts v.
float mode_of(float* v, size_t n) {
    n = static_cast<size_t>(std::remove_if(v, v + n, [](float x) { return std::isnan(x); }) - v);
    if (n == 0) {
        return NaN;
    }
    std::sort(v, v + n);
    float best = v[0];
    size_t best_n = 0;
    for (size_t a = 0; a < n;) {
        size_t b = a + 1;
        while (b < n && v[b] == v[a]) {
            ++b;
        }
        if (b - a > best_n) { // ascending: a tie keeps the smaller value
            best_n = b - a;
            best = v[a];
        }
        a = b;
    }
    return best;
}

// The column and row offsets (in floats) of PixelMap::step's values 0..255 for a source of
// width w: dcol = step % 3 - 1 (times w - 1 from step 9 on: bridge_seam's pairs across the seam
// of a global longitude axis), drow = (step / 3 % 3 - 1) * w.
struct StepTable {
    StepTable() = default;
    explicit StepTable(size_t src_w) {
        const auto w = static_cast<std::ptrdiff_t>(src_w);
        for (int st = 0; st < 256; ++st) {
            dc[st] = (st % 3 - 1) * (st < 9 ? 1 : w - 1);
            dr[st] = (st / 3 % 3 - 1) * w;
        }
    }
    std::ptrdiff_t dc[256] = {}, dr[256] = {};
};

// One output pixel of a bilinear PixelMap.
inline float bilinear_at(const float* src, const StepTable& t, std::int32_t lo, std::uint8_t st,
                         float wx, float wy) {
    if (lo < 0) {
        return NaN;
    }
    const float* p = src + lo;
    const std::ptrdiff_t dc = t.dc[st], dr = t.dr[st];
    return bilinear(p[0], p[dc], p[dr], p[dr + dc], wx, wy);
}

// n output pixels of a bilinear PixelMap (lo, st, wx, wy: its entries for them) into o, the
// values of bilinear_at. With SSE2, four pixels at a time: bilinear()'s formula without a NaN
// neighbour, in the same order of the same single-precision operations (so the same bits); its
// result is finite only when all four neighbours are (a NaN or infinite one makes the sum NaN
// or infinite), so a lane whose result is not finite, unless all four of its neighbours are NaN
// (NaN either way), is computed again by bilinear().
// Four pixels with the same step whose column neighbour is the next cell (dc = 1: inside a
// source with ascending x, nearly every pixel) load each row's pair of neighbours with one 8-byte
// load, taken apart by shuffles; others load the four neighbours one by one. Same values either
// way.
void bilinear_row(const float* src, const StepTable& t, const std::int32_t* lo,
                  const std::uint8_t* st, const float* wx, const float* wy, size_t n, float* o,
                  size_t next) {
    size_t pos = 0; // pixels done
#if defined(__SSE2__)
    const __m128 one = _mm_set1_ps(1.0f);
    const __m128 nan = _mm_set1_ps(NaN);
    const __m128 quiet = _mm_castsi128_ps(_mm_set1_epi32(0x00400000)); // a NaN's quiet bit
    // The step bytes of the last group and what they gave (runs of equal steps are the rule);
    // at first four steps 0 (dc = -1: not paired).
    std::uint32_t last = 0;
    bool paired = false; // four equal steps with dc = 1
    std::ptrdiff_t pair_dr = 0;
    // The four pixels from i.
    const auto group = [&](size_t i) __attribute__((always_inline)) {
        const __m128i l = _mm_loadu_si128(reinterpret_cast<const __m128i*>(lo + i));
        const int neg = _mm_movemask_ps(_mm_castsi128_ps(l)); // sign bits: lo < 0
        if (neg == 0xf) {
            _mm_storeu_ps(o + i, nan);
            return;
        }
        if (neg != 0) {
            for (size_t k = i; k < i + 4; ++k) {
                o[k] = bilinear_at(src, t, lo[k], st[k], wx[k], wy[k]);
            }
            return;
        }
        std::uint32_t s4;
        std::memcpy(&s4, st + i, sizeof s4);
        if (s4 != last) {
            last = s4;
            const std::uint8_t s0 = st[i];
            paired = s4 == s0 * 0x01010101u && t.dc[s0] == 1;
            pair_dr = t.dr[s0];
        }
        const float* p0 = src + lo[i];
        const float* p1 = src + lo[i + 1];
        const float* p2 = src + lo[i + 2];
        const float* p3 = src + lo[i + 3];
        __m128 v00, v01, v10, v11;
        if (paired) {
            const auto pair = [](const float* q) {
                return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q));
            };
            const std::ptrdiff_t dr = pair_dr;
            const __m128 t01 = _mm_castsi128_ps(_mm_unpacklo_epi64(pair(p0), pair(p1)));
            const __m128 t23 = _mm_castsi128_ps(_mm_unpacklo_epi64(pair(p2), pair(p3)));
            const __m128 b01 = _mm_castsi128_ps(_mm_unpacklo_epi64(pair(p0 + dr), pair(p1 + dr)));
            const __m128 b23 = _mm_castsi128_ps(_mm_unpacklo_epi64(pair(p2 + dr), pair(p3 + dr)));
            v00 = _mm_shuffle_ps(t01, t23, _MM_SHUFFLE(2, 0, 2, 0));
            v01 = _mm_shuffle_ps(t01, t23, _MM_SHUFFLE(3, 1, 3, 1));
            v10 = _mm_shuffle_ps(b01, b23, _MM_SHUFFLE(2, 0, 2, 0));
            v11 = _mm_shuffle_ps(b01, b23, _MM_SHUFFLE(3, 1, 3, 1));
        } else {
            const std::ptrdiff_t c0 = t.dc[st[i]], c1 = t.dc[st[i + 1]], c2 = t.dc[st[i + 2]],
                                 c3 = t.dc[st[i + 3]];
            const std::ptrdiff_t r0 = t.dr[st[i]], r1 = t.dr[st[i + 1]], r2 = t.dr[st[i + 2]],
                                 r3 = t.dr[st[i + 3]];
            v00 = _mm_setr_ps(p0[0], p1[0], p2[0], p3[0]);
            v01 = _mm_setr_ps(p0[c0], p1[c1], p2[c2], p3[c3]);
            v10 = _mm_setr_ps(p0[r0], p1[r1], p2[r2], p3[r3]);
            v11 = _mm_setr_ps(p0[r0 + c0], p1[r1 + c1], p2[r2 + c2], p3[r3 + c3]);
        }
        // Lanes whose four neighbours are all NaN (land) are NaN: v01's NaN, quieted, the one
        // the formula below gives there as compiled (its sum starts from w1 * v01, which keeps
        // v01's NaN through the other NaN terms), set explicitly so that a group of four such
        // lanes needs no arithmetic. A lane with a valid v00 is not one: one test for most
        // groups at sea.
        int all_nan = 0;
        __m128 nan_lanes = _mm_setzero_ps();
        if (_mm_movemask_ps(_mm_cmpunord_ps(v00, v00)) != 0) {
            nan_lanes =
                _mm_and_ps(_mm_and_ps(_mm_cmpunord_ps(v00, v00), _mm_cmpunord_ps(v01, v01)),
                           _mm_and_ps(_mm_cmpunord_ps(v10, v10), _mm_cmpunord_ps(v11, v11)));
            all_nan = _mm_movemask_ps(nan_lanes);
            if (all_nan == 0xf) {
                _mm_storeu_ps(o + i, _mm_or_ps(v01, quiet));
                return;
            }
        }
        const __m128 x = _mm_loadu_ps(wx + i), y = _mm_loadu_ps(wy + i);
        const __m128 x1 = _mm_sub_ps(one, x), y1 = _mm_sub_ps(one, y);
        const __m128 w0 = _mm_mul_ps(x1, y1), w1 = _mm_mul_ps(x, y1), w2 = _mm_mul_ps(x1, y),
                     w3 = _mm_mul_ps(x, y);
        const __m128 sum = _mm_add_ps(
            _mm_add_ps(_mm_add_ps(_mm_mul_ps(w0, v00), _mm_mul_ps(w1, v01)), _mm_mul_ps(w2, v10)),
            _mm_mul_ps(w3, v11));
        const __m128 wsum = _mm_add_ps(_mm_add_ps(_mm_add_ps(w0, w1), w2), w3);
        __m128 r = _mm_div_ps(sum, wsum);
        if (all_nan != 0) {
            r = _mm_or_ps(_mm_and_ps(nan_lanes, _mm_or_ps(v01, quiet)),
                          _mm_andnot_ps(nan_lanes, r));
        }
        _mm_storeu_ps(o + i, r);
        // r - r is 0 for a finite r, NaN otherwise; cmpunord: NaN
        const int bad = _mm_movemask_ps(_mm_cmpunord_ps(r, _mm_sub_ps(r, r)));
        const int redo = bad & ~all_nan;
        if (redo == 0) {
            return;
        }
        for (int k = 0; k < 4; ++k) {
            if (redo & (1 << k)) {
                o[i + k] = bilinear_at(src, t, lo[i + k], st[i + k], wx[i + k], wy[i + k]);
            }
        }
    };
    // Sixteen pixels at a time with the prefetch of the next row's entries for them.
    for (; pos + 16 <= n; pos += 16) {
        if (next != 0) {
            _mm_prefetch(reinterpret_cast<const char*>(lo + next + pos), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(wx + next + pos), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(wy + next + pos), _MM_HINT_T0);
            if ((pos & 63) == 0) {
                _mm_prefetch(reinterpret_cast<const char*>(st + next + pos), _MM_HINT_T0);
            }
        }
        group(pos);
        group(pos + 4);
        group(pos + 8);
        group(pos + 12);
    }
    for (; pos + 4 <= n; pos += 4) {
        group(pos);
    }
#endif
    for (; pos < n; ++pos) {
        o[pos] = bilinear_at(src, t, lo[pos], st[pos], wx[pos], wy[pos]);
    }
}

void resample_pixels(const float* src, size_t src_w, const PixelMap& m, Resampling method,
                     size_t row0, size_t nrows, size_t col0, size_t ncols, float* out,
                     size_t out_stride) {
    std::vector<float> vals; // mode: the values of one output pixel
    const StepTable steps = method == Resampling::Bilinear ? StepTable(src_w) : StepTable();
    for (size_t r = 0; r < nrows; ++r) {
        float* o = out + r * out_stride;
        const size_t base = (row0 + r) * m.width + col0;
        if (method == Resampling::Average) {
            for (size_t i = 0; i < ncols; ++i) {
                double sum = 0;
                size_t n = 0;
                for (auto k = m.off[base + i]; k < m.off[base + i + 1]; ++k) {
                    const float v = src[m.idx[k]];
                    if (!std::isnan(v)) {
                        sum += v;
                        ++n;
                    }
                }
                o[i] = n ? static_cast<float>(sum / static_cast<double>(n)) : NaN;
            }
            continue;
        }
        if (method == Resampling::Mode) {
            for (size_t i = 0; i < ncols; ++i) {
                vals.clear();
                for (auto k = m.off[base + i]; k < m.off[base + i + 1]; ++k) {
                    vals.push_back(src[m.idx[k]]);
                }
                o[i] = mode_of(vals.data(), vals.size());
            }
            continue;
        }
        if (method == Resampling::Nearest) {
            const std::int32_t* idx = m.nearest.data() + base;
            for (size_t i = 0; i < ncols; ++i) {
                o[i] = idx[i] < 0 ? NaN : src[idx[i]];
            }
            continue;
        }
        bilinear_row(src, steps, m.lo.data() + base, m.step.data() + base, m.wx.data() + base,
                     m.wy.data() + base, ncols, o, r + 1 < nrows ? m.width : 0);
    }
}

// A global lat/lon source mapped onto a projected output grid (nearest, bilinear, and the nearest
// map under average/mode), when its cells cover the whole circle of longitude. map_projected's
// AxisLocator clamps a source longitude between the last and the first centre (the seam, e.g.
// 179.75 and -179.75, or 359.75 and 0.25) to the edge column (bilinear), and finds no cell for one
// on the footprint's very end (PROJ gives 180, not -180, for a point on the antimeridian of a
// -180..180 source). Those pixels (bilinear: on an edge column with no column step; both: no source
// cell, next to a pixel on an edge column) are mapped again exactly through PROJ, the longitude
// taken modulo 360 into the footprint, and bilinear interpolates between the last and the first
// column like any other pair: lo on the last column, step + 9 (the column step times the source
// width - 1).
void bridge_seam(PixelMap& m, const io::ProjectedAxes& src, const grid::Grid& out,
                 const std::string& out_crs) {
    const size_t SW = src.x.size(), W = m.width, H = m.height;
    const bool nearest = !m.nearest.empty();
    if (SW < 2 || (!nearest && m.lo.empty())) {
        return;
    }
    const SortedAxis ax(src.x, 1.0);
    if (!ax.covers_circle()) {
        return;
    }
    m.window.reset(); // entries change below
    const std::int32_t first = ax.perm.front(), last = ax.perm.back();
    const auto sw = static_cast<std::int32_t>(SW);
    const MapVector<std::int32_t>& idx = nearest ? m.nearest : m.lo;
    const auto on_edge = [&](size_t k) {
        return idx[k] >= 0 && (idx[k] % sw == first || idx[k] % sw == last);
    };
    std::vector<size_t> pix;
    for (size_t k = 0; k < idx.size(); ++k) {
        if (idx[k] >= 0) {
            if (!nearest && m.step[k] % 3 == 1 && on_edge(k)) {
                pix.push_back(k);
            }
            continue;
        }
        const size_t r = k / W, c = k % W;
        if ((c > 0 && on_edge(k - 1)) || (c + 1 < W && on_edge(k + 1)) ||
            (r > 0 && on_edge(k - W)) || (r + 1 < H && on_edge(k + W))) {
            pix.push_back(k);
        }
    }
    if (pix.empty()) {
        return;
    }
    const auto xc = out.x_centers(), yc = out.y_centers();
    std::vector<double> x(pix.size()), y(pix.size());
    for (size_t i = 0; i < pix.size(); ++i) {
        x[i] = xc[pix[i] % W];
        y[i] = yc[pix[i] / W];
    }
    io::LonLatToCrs(src.crs, out_crs).transform(x.data(), y.data(), pix.size());
    const AxisLocator ya(src.y, src.y.size() > 1 ? std::abs(src.y[1] - src.y[0]) : 1.0);
    const double gap = ax.c.front() + 360.0 - ax.c.back();
    const int dc = first > last ? 1 : -1; // first - last = dc * (SW - 1)
    for (size_t i = 0; i < pix.size(); ++i) {
        const size_t k = pix[i];
        double lon = ax.lo() + std::fmod(x[i] - ax.lo(), 360.0); // NaN stays NaN
        if (lon < ax.lo()) {
            lon += 360.0;
        }
        if (nearest) {
            const long cx = ax.cell(lon);
            const std::int32_t sy = ya.nearest(y[i]);
            if (cx >= 0 && sy >= 0) {
                m.nearest[k] = sy * sw + ax.perm[static_cast<size_t>(cx)];
            }
            continue;
        }
        if (!(lon > ax.c.back() || lon < ax.c.front())) {
            continue; // between the first and the last centre (as mapped), or NaN
        }
        if (lon < ax.c.front()) {
            lon += 360.0;
        }
        std::int32_t row = m.lo[k] / sw;
        int dr = m.step[k] / 3 - 1;
        if (m.lo[k] < 0) {
            std::int32_t yl = 0, yh = 0;
            float wy = 0.f;
            if (!ya.bilinear(y[i], yl, yh, wy)) {
                continue;
            }
            row = yl;
            dr = yh - yl;
            m.wy[k] = wy;
        }
        m.lo[k] = row * sw + last;
        m.step[k] = static_cast<std::uint8_t>(9 + (dc + 1) + 3 * (dr + 1));
        m.wx[k] = static_cast<float>(std::clamp((lon - ax.c.back()) / gap, 0.0, 1.0));
    }
}

} // namespace

AxisLocator::AxisLocator(const std::vector<double>& src, double fallback_step) {
    if (src.empty()) {
        throw InputError("a source coordinate axis is empty");
    }
    SortedAxis ax(src, fallback_step);
    m_c = std::move(ax.c);
    m_e = std::move(ax.e);
    m_perm = std::move(ax.perm);
    const size_t n = m_c.size();
    const double step = (m_e.back() - m_e.front()) / static_cast<double>(n);
    bool uniform = step > 0;
    for (size_t k = 0; uniform && k < n; ++k) {
        uniform = std::abs((m_e[k + 1] - m_e[k]) - step) <= 1e-6 * step;
    }
    m_inv_step = uniform ? 1.0 / step : 0.0;
}

size_t AxisLocator::cell(double x) const {
    const size_t n = m_c.size();
    if (m_inv_step <= 0) {
        const auto it = std::upper_bound(m_e.begin(), m_e.end(), x);
        return static_cast<size_t>(it - m_e.begin()) - 1;
    }
    // Uniform cells: an arithmetic guess, then the same test as the search (e[j] <= x < e[j+1]).
    const double g = (x - m_e.front()) * m_inv_step;
    size_t j = g <= 0 ? 0 : std::min(static_cast<size_t>(g), n - 1);
    while (j > 0 && x < m_e[j]) {
        --j;
    }
    while (j + 1 < n && x >= m_e[j + 1]) {
        ++j;
    }
    return j;
}

std::int32_t AxisLocator::nearest(double x) const {
    if (!(x >= m_e.front()) || !(x < m_e.back())) {
        return -1;
    }
    return m_perm[cell(x)];
}

std::int32_t AxisLocator::nearest(double x, double& edge_distance) const {
    if (!(x >= m_e.front()) || !(x < m_e.back())) {
        edge_distance = std::min(std::abs(x - m_e.front()), std::abs(x - m_e.back()));
        if (std::isnan(x)) {
            edge_distance = 0;
        }
        return -1;
    }
    const size_t j = cell(x);
    edge_distance = std::min(x - m_e[j], m_e[j + 1] - x);
    return m_perm[j];
}

bool AxisLocator::bilinear(double x, std::int32_t& lo, std::int32_t& hi, float& w) const {
    if (!(x >= m_e.front()) || !(x < m_e.back())) {
        return false;
    }
    const size_t n = m_c.size();
    w = 0.f;
    if (x <= m_c.front()) {
        lo = hi = m_perm.front();
    } else if (x >= m_c.back()) {
        lo = hi = m_perm.back();
    } else {
        size_t j = 0; // c[j-1] <= x < c[j], 1 <= j <= n-1 (c[0] < x < c[n-1])
        if (m_inv_step > 0) {
            // Uniform cells (so centres): an arithmetic guess, then the search's own test.
            const double g = (x - m_c.front()) * m_inv_step;
            j = std::clamp<size_t>(static_cast<size_t>(g) + 1, 1, n - 1);
            while (j > 1 && x < m_c[j - 1]) {
                --j;
            }
            while (j + 1 < n && x >= m_c[j]) {
                ++j;
            }
        } else {
            auto it = std::upper_bound(m_c.begin(), m_c.end(), x);
            j = std::min(std::max<size_t>(static_cast<size_t>(it - m_c.begin()), 1), n - 1);
        }
        lo = m_perm[j - 1];
        hi = m_perm[j];
        w = static_cast<float>((x - m_c[j - 1]) / (m_c[j] - m_c[j - 1]));
    }
    return true;
}

bool AxisLocator::bilinear(double x, std::int32_t& lo, std::int32_t& hi, float& w,
                           double& edge_distance) const {
    const double ef = m_e.front(), eb = m_e.back();
    edge_distance = std::min(std::abs(x - ef), std::abs(x - eb));
    if (!(x >= ef) || !(x < eb)) {
        return false;
    }
    const size_t n = m_c.size();
    w = 0.f;
    if (x <= m_c.front() || x >= m_c.back()) {
        // The outer half pixels: clamped to the edge centre (bilinear above).
        lo = hi = x <= m_c.front() ? m_perm.front() : m_perm.back();
        if (x > ef) {
            edge_distance = std::min(edge_distance, std::abs(x - m_c[cell(x)]));
        }
        return true;
    }
    size_t j = 0; // c[j-1] <= x < c[j], 1 <= j <= n-1, as in bilinear above
    if (m_inv_step > 0) {
        const double g = (x - m_c.front()) * m_inv_step;
        j = std::clamp<size_t>(static_cast<size_t>(g) + 1, 1, n - 1);
        while (j > 1 && x < m_c[j - 1]) {
            --j;
        }
        while (j + 1 < n && x >= m_c[j]) {
            ++j;
        }
    } else {
        auto it = std::upper_bound(m_c.begin(), m_c.end(), x);
        j = std::min(std::max<size_t>(static_cast<size_t>(it - m_c.begin()), 1), n - 1);
    }
    lo = m_perm[j - 1];
    hi = m_perm[j];
    w = static_cast<float>((x - m_c[j - 1]) / (m_c[j] - m_c[j - 1]));
    // cell(x) is j - 1 or j: e[j-1] <= c[j-1] <= x < c[j] <= e[j+1] (edges are rounded midpoints
    // of the centres around them, or the outer edges beyond the end centres), so the one edge
    // between them decides.
    const double centre = x >= m_e[j] ? m_c[j] : m_c[j - 1];
    edge_distance = std::min(edge_distance, std::abs(x - centre));
    return true;
}

void AxisLocator::bilinear(const double* x, size_t n, Hit* hit) const {
    const size_t nc = m_c.size();
    const double inv = m_inv_step;
    if (!(inv > 0) || nc < 2) {
        for (size_t i = 0; i < n; ++i) {
            hit[i].inside = bilinear(x[i], hit[i].lo, hit[i].hi, hit[i].w, hit[i].edge_distance);
        }
        return;
    }
    // The uniform case of bilinear(x, lo, hi, w, edge_distance) above, its axis kept in registers.
    const double ef = m_e.front(), eb = m_e.back(), c0 = m_c.front(), cn = m_c.back();
    const double* c = m_c.data();
    const double* e = m_e.data();
    const std::int32_t* perm = m_perm.data();
    for (size_t i = 0; i < n; ++i) {
        const double xi = x[i];
        Hit& h = hit[i];
        if (!(xi > c0 && xi < cn)) {
            // Outside the footprint, in the outer half pixels, NaN: the one-point lookup.
            h.inside = bilinear(xi, h.lo, h.hi, h.w, h.edge_distance);
            continue;
        }
        const double d = std::min(std::abs(xi - ef), std::abs(xi - eb));
        // A guess, then the search's own test. c[0] < xi < c[nc - 1]: g > 0 and about nc at
        // most (far from the int64 limit), the guess is in [1, nc - 1], and the loops stop there
        // without testing j's bounds.
        const double g = (xi - c0) * inv;
        size_t j = std::min(static_cast<size_t>(static_cast<std::int64_t>(g)) + 1, nc - 1);
        while (xi < c[j - 1]) {
            --j;
        }
        while (xi >= c[j]) {
            ++j;
        }
        h.lo = perm[j - 1];
        h.hi = perm[j];
        h.w = static_cast<float>((xi - c[j - 1]) / (c[j] - c[j - 1]));
        h.inside = true;
        const double centre = xi >= e[j] ? c[j] : c[j - 1];
        h.edge_distance = std::min(d, std::abs(xi - centre));
    }
}

double AxisLocator::edge_distance(double x, bool nearest) const {
    if (nearest) {
        double d = 0;
        this->nearest(x, d);
        return d;
    }
    double d = std::min(std::abs(x - m_e.front()), std::abs(x - m_e.back()));
    if (x > m_e.front() && x < m_e.back()) {
        d = std::min(d, std::abs(x - m_c[cell(x)])); // a weight crossing 0 (NaN neighbours)
    }
    return d;
}

std::uint32_t output_cell(const grid::Grid& out, double lon, double lat, bool wrap_lon) {
    const auto& e = out.extent();
    // A point on the edge between two pixels belongs to the one right of it or below it.
    const double row = std::floor((e.ymax - lat) / out.dy());
    if (!(row >= 0) || !(row < static_cast<double>(out.height()))) {
        return NO_CELL;
    }
    for (double s : {0.0, -360.0, 360.0}) {
        if (s != 0.0 && !wrap_lon) {
            break; // x/y of a projected output grid: no longitude to wrap
        }
        const double col = std::floor((lon + s - e.xmin) / out.dx());
        if (col >= 0 && col < static_cast<double>(out.width())) {
            return static_cast<std::uint32_t>(static_cast<size_t>(row) * out.width() +
                                              static_cast<size_t>(col));
        }
    }
    return NO_CELL;
}

void set_cell_lists(PixelMap& m, const std::vector<std::uint32_t>& cell) {
    m.window.reset();
    const size_t n = m.width * m.height;
    if (n >= NO_CELL) { // output_cell's indices would wrap
        throw InputError("average/mode onto an output grid of " + std::to_string(n) +
                             " pixels (at most 2^32 - 2 per time step)",
                         "Use nearest or bilinear, or a smaller output grid");
    }
    std::vector<std::uint32_t> count(n + 1, 0);
    for (std::uint32_t c : cell) {
        if (c != NO_CELL) {
            ++count[c + 1];
        }
    }
    size_t total = 0;
    for (size_t o = 0; o < n; ++o) {
        if (count[o + 1] == 0 && m.nearest[o] >= 0) {
            count[o + 1] = 1; // no source centre inside: the nearest cell
        }
        total += count[o + 1];
    }
    if (total >= NO_CELL) {
        throw InputError("the average/mode map of " + std::to_string(n) +
                             " output pixels would list 2^32 source cells or more",
                         "Use nearest or bilinear, or a smaller output grid");
    }
    for (size_t o = 0; o < n; ++o) {
        count[o + 1] += count[o];
    }
    m.idx.resize(total);
    std::vector<std::uint32_t> next(count.begin(), count.end() - 1);
    for (size_t i = 0; i < cell.size(); ++i) {
        if (cell[i] != NO_CELL) {
            m.idx[next[cell[i]]++] = static_cast<std::int32_t>(i);
        }
    }
    for (size_t o = 0; o < n; ++o) {
        if (next[o] == count[o] && count[o + 1] > count[o]) {
            m.idx[next[o]] = m.nearest[o];
        }
    }
    m.off = std::move(count);
    m.nearest = {};
}

SourceMap map_source(const io::Geometry& g, const grid::Grid& out, Resampling method,
                     const io::ForEach& for_each, const std::string& out_crs) {
    if (io::shape_only(g)) {
        throw InternalError("map_source: a curvilinear geometry without its coordinates (" +
                            io::describe(g) + ")");
    }
    if (!out_crs.empty()) {
        if (const auto* axes = std::get_if<io::LatLonAxes>(&g)) {
            // A lat/lon source is a projected one in WGS 84 longitude/latitude; longitudes
            // beyond 180 (0..360 grids) are kept by PROJ's lon_wrap.
            const bool east =
                !axes->lon.empty() && *std::max_element(axes->lon.begin(), axes->lon.end()) > 180.0;
            io::ProjectedAxes p{axes->lon, axes->lat,
                                east ? "+proj=longlat +datum=WGS84 +lon_wrap=180 +no_defs +type=crs"
                                     : "EPSG:4326",
                                "lat/lon"};
            // Average / mode: their nearest map (the pixels that hold no source centre) bridged
            // across the seam too, before the source centres are listed.
            const bool cells = method == Resampling::Average || method == Resampling::Mode;
            PixelMap m =
                map_projected(p, out, cells ? Resampling::Nearest : method, for_each, out_crs);
            bridge_seam(m, p, out, out_crs);
            if (cells) {
                set_projected_cells(m, p, out, for_each, out_crs);
            }
            return m;
        }
        if (const auto* proj = std::get_if<io::ProjectedAxes>(&g)) {
            return map_projected(*proj, out, method, for_each, out_crs);
        }
        return map_swath(std::get<io::LatLon2D>(g), out, method, for_each, out_crs);
    }
    if (const auto* axes = std::get_if<io::LatLonAxes>(&g)) {
        SeparableMap m;
        m.y = map_axis(axes->lat, out.y_centers(), out.dy(), method, false);
        m.x = map_axis(axes->lon, out.x_centers(), out.dx(), method, true);
        return m;
    }
    if (const auto* proj = std::get_if<io::ProjectedAxes>(&g)) {
        return map_projected(*proj, out, method, for_each);
    }
    return map_swath(std::get<io::LatLon2D>(g), out, method, for_each);
}

namespace {

// The smallest and largest non-negative value of the vectors, or (1, 0) when none.
std::pair<std::int64_t, std::int64_t>
index_range(std::initializer_list<const std::vector<std::int32_t>*> vs) {
    std::int64_t lo = 1, hi = 0;
    for (const auto* v : vs) {
        for (const std::int32_t i : *v) {
            if (i >= 0) {
                lo = hi < lo ? i : std::min<std::int64_t>(lo, i);
                hi = std::max<std::int64_t>(hi, i);
            }
        }
    }
    return {lo, hi};
}

// Rows and columns of flat indices (row * w + column) into a window, in bands on threads.
// grow: cells added on every side (bilinear's neighbours).
template <typename V>
io::Window flat_window(const V& flat, size_t h, size_t w, size_t grow,
                       const io::ForEach& for_each) {
    const size_t bands = std::max<size_t>(1, std::min<size_t>(16, flat.size() / 65536));
    std::vector<io::Window> part(bands, io::Window{h, 0, w, 0});
    for_each(bands, [&](size_t b) {
        io::Window& p = part[b];
        const double inv = 1.0 / static_cast<double>(w);
        for (size_t k = b * flat.size() / bands; k < (b + 1) * flat.size() / bands; ++k) {
            const std::int32_t i = flat[k];
            if (i < 0) {
                continue;
            }
            // The row by a multiplication, corrected by one where rounding missed it.
            auto r = static_cast<size_t>(static_cast<double>(i) * inv);
            if (r * w > static_cast<size_t>(i)) {
                --r;
            } else if ((r + 1) * w <= static_cast<size_t>(i)) {
                ++r;
            }
            const size_t c = static_cast<size_t>(i) - r * w;
            p.row0 = std::min(p.row0, r);
            p.row1 = std::max(p.row1, r + 1);
            p.col0 = std::min(p.col0, c);
            p.col1 = std::max(p.col1, c + 1);
        }
    });
    io::Window win{h, 0, w, 0};
    for (const auto& p : part) {
        win.row0 = std::min(win.row0, p.row0);
        win.row1 = std::max(win.row1, p.row1);
        win.col0 = std::min(win.col0, p.col0);
        win.col1 = std::max(win.col1, p.col1);
    }
    if (win.empty()) {
        return {};
    }
    win.row0 = win.row0 > grow ? win.row0 - grow : 0;
    win.col0 = win.col0 > grow ? win.col0 - grow : 0;
    win.row1 = std::min(h, win.row1 + grow);
    win.col1 = std::min(w, win.col1 + grow);
    return win;
}

} // namespace

io::Window used_window(const SourceMap& map, size_t src_h, size_t src_w,
                       const io::ForEach& for_each) {
    if (const auto* sep = std::get_if<SeparableMap>(&map)) {
        const auto rows = index_range({&sep->y.nearest, &sep->y.lo, &sep->y.hi, &sep->y.idx});
        const auto cols = index_range({&sep->x.nearest, &sep->x.lo, &sep->x.hi, &sep->x.idx});
        if (rows.first > rows.second || cols.first > cols.second) {
            return {};
        }
        return {static_cast<size_t>(rows.first), static_cast<size_t>(rows.second) + 1,
                static_cast<size_t>(cols.first), static_cast<size_t>(cols.second) + 1};
    }
    const auto& m = std::get<PixelMap>(map);
    if (!m.idx.empty() || !m.off.empty()) {
        return flat_window(m.idx, src_h, src_w, 0, for_each);
    }
    if (m.window) {
        return *m.window;
    }
    if (!m.lo.empty()) {
        io::Window win = flat_window(m.lo, src_h, src_w, 1, for_each);
        if (!win.empty() &&
            std::any_of(m.step.begin(), m.step.end(), [](auto st) { return st >= 9; })) {
            win.col0 = 0; // bridge_seam: the last and the first column
            win.col1 = src_w;
        }
        return win;
    }
    return flat_window(m.nearest, src_h, src_w, 0, for_each);
}

namespace {

// compact_nearest's entries [k0, k1) of near: each cell index (>= 0) replaced by its rank in
// cells. The same function compiled for POPCNT (one instruction instead of a libgcc call for
// the x86-64 baseline: 2 % of a swath run's CPU), chosen at run time.
void rank_entries(std::int32_t* near, size_t k0, size_t k1, const io::CellSet& cells) {
    for (size_t k = k0; k < k1; ++k) {
        if (near[k] >= 0) {
            near[k] = static_cast<std::int32_t>(cells.rank(static_cast<size_t>(near[k])));
        }
    }
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target("popcnt"))) void rank_entries_popcnt(std::int32_t* near, size_t k0, size_t k1,
                                                           const io::CellSet& cells) {
    const std::uint64_t* bits = cells.bits.data();
    const std::uint32_t* base = cells.base.data();
    for (size_t k = k0; k < k1; ++k) {
        const std::int32_t i = near[k];
        if (i >= 0) {
            const auto u = static_cast<std::uint32_t>(i);
            const std::uint64_t below = bits[u >> 6] & ((std::uint64_t{1} << (u & 63)) - 1);
            near[k] = static_cast<std::int32_t>(
                base[u >> 6] + static_cast<std::uint32_t>(__builtin_popcountll(below)));
        }
    }
}
bool has_popcnt() {
    static const bool yes = __builtin_cpu_supports("popcnt");
    return yes;
}
#endif

} // namespace

void compact_nearest(PixelMap& m, size_t src_h, size_t src_w, const io::ForEach& for_each) {
    if (m.nearest.empty() || m.cells) {
        return;
    }
    if (!m.window) {
        m.window = flat_window(m.nearest, src_h, src_w, 0, for_each); // (a swath's map has it)
    }
    auto cells = std::make_shared<io::CellSet>();
    cells->size = src_h * src_w;
    const size_t words = cells->size / 64 + 1;
    cells->bits.assign(words, 0);
    std::int32_t* near = m.nearest.data();
    const size_t n = m.nearest.size();
    const size_t bands = std::max<size_t>(1, std::min<size_t>(64, n / 65536));
    // The cells in use: each task reads every entry and sets the bits of its own range of
    // words (plain stores: an atomic or per entry took twice the CPU of this).
    constexpr size_t PARTS = 2;
    for_each(PARTS, [&](size_t t) {
        std::uint64_t* bits = cells->bits.data();
        const auto w0 = static_cast<std::uint32_t>(t * words / PARTS);
        const auto w1 = static_cast<std::uint32_t>((t + 1) * words / PARTS);
        for (size_t k = 0; k < n; ++k) {
            const auto u = static_cast<std::uint32_t>(near[k]); // -1: beyond every range
            if ((u >> 6) - w0 < w1 - w0) {
                bits[u >> 6] |= std::uint64_t{1} << (u & 63);
            }
        }
    });
    cells->base.resize(words);
    std::uint32_t count = 0;
    for (size_t w = 0; w < words; ++w) {
        cells->base[w] = count;
        count += static_cast<std::uint32_t>(__builtin_popcountll(cells->bits[w]));
    }
    cells->count = count;
    for_each(bands, [&](size_t b) {
        const size_t k0 = b * n / bands, k1 = (b + 1) * n / bands;
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
        if (has_popcnt()) {
            rank_entries_popcnt(near, k0, k1, *cells);
            return;
        }
#endif
        rank_entries(near, k0, k1, *cells);
    });
    m.cells = std::move(cells);
}

void resample_block(const float* src, size_t src_w, const SourceMap& map, Resampling method,
                    size_t row0, size_t nrows, size_t col0, size_t ncols, float* out,
                    size_t out_stride) {
    if (const auto* sep = std::get_if<SeparableMap>(&map)) {
        resample_block(src, src_w, sep->y, sep->x, method, row0, nrows, col0, ncols, out,
                       out_stride);
        return;
    }
    resample_pixels(src, src_w, std::get<PixelMap>(map), method, row0, nrows, col0, ncols, out,
                    out_stride);
}

} // namespace baims::cube
