// Axis mapping and resampling arithmetic; expected values are worked out by hand in comments.

#include "baims/core/error.hpp"
#include "baims/cube/resample.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

using namespace baims::cube;

// The tests' for_each: the tasks one after another on the calling thread.
static void serial(size_t n, const std::function<void(size_t)>& task) {
    for (size_t i = 0; i < n; ++i) {
        task(i);
    }
}

// The per-pixel map of a 2-D lat/lon source onto `out`, built serially.
static PixelMap swath_map(const baims::io::LatLon2D& g, const baims::grid::Grid& out,
                          Resampling method) {
    return std::get<PixelMap>(map_source(baims::io::Geometry{g}, out, method, serial));
}

// The window map_swath finds on the way (PixelMap::window) must be the one used_window finds
// from the map's entries without it; m loses its window.
static void check_window(PixelMap& m, size_t H, size_t W) {
    REQUIRE(m.window.has_value());
    const auto found = used_window(SourceMap{m}, H, W, serial);
    m.window.reset();
    const auto want = used_window(SourceMap{m}, H, W, serial);
    CHECK(found.row0 == want.row0);
    CHECK(found.row1 == want.row1);
    CHECK(found.col0 == want.col0);
    CHECK(found.col1 == want.col1);
}

TEST_CASE("nearest maps output centres to the source footprint, outer half pixel included",
          "[cube]") {
    // source centres 0.5, 1.5, 2.5 -> footprint [0, 3); output step 0.5 over [-0.5, 3.5)
    std::vector<double> src{0.5, 1.5, 2.5};
    std::vector<double> out{-0.25, 0.25, 0.75, 1.25, 2.75, 3.25};
    auto m = map_axis(src, out, 0.5, Resampling::Nearest, false);
    CHECK(m.nearest == std::vector<std::int32_t>{-1, 0, 0, 1, 2, -1});
}

TEST_CASE("nearest on a descending axis returns storage indices", "[cube]") {
    std::vector<double> src{2.5, 1.5, 0.5}; // north-up latitude
    std::vector<double> out{2.9, 0.1, 1.6};
    auto m = map_axis(src, out, 0.1, Resampling::Nearest, false);
    CHECK(m.nearest == std::vector<std::int32_t>{0, 2, 1});
}

TEST_CASE("longitudes in 0..360 serve output longitudes in -180..180", "[cube]") {
    std::vector<double> src;
    for (int i = 0; i < 360; ++i) {
        src.push_back(i + 0.5);
    }
    std::vector<double> out{-0.5, -179.5, 0.5, 179.9};
    auto m = map_axis(src, out, 1.0, Resampling::Nearest, true);
    // -0.5 -> 359.5 (index 359); -179.5 -> 180.5 (180); 0.5 -> 0; 179.9 -> 179
    CHECK(m.nearest == std::vector<std::int32_t>{359, 180, 0, 179});
}

TEST_CASE("bilinear weights between centres, clamped within the outer half pixel", "[cube]") {
    std::vector<double> src{0.5, 1.5, 2.5};
    std::vector<double> out{0.25, 1.0, 2.0, 2.75, 3.5};
    auto m = map_axis(src, out, 0.5, Resampling::Bilinear, false);
    CHECK(m.lo == std::vector<std::int32_t>{0, 0, 1, 2, -1});
    CHECK(m.hi == std::vector<std::int32_t>{0, 1, 2, 2, -1});
    // weights are exact binary fractions here: compared exactly
    CHECK(m.w[1] == 0.5f); // 1.0 is halfway between 0.5 and 1.5
    CHECK(m.w[2] == 0.5f);
    CHECK(m.w[3] == 0.0f); // 2.75 clamps to the last centre
}

TEST_CASE("average overlaps carry area fractions", "[cube]") {
    // source cells [0,1) [1,2) [2,3) [3,4); output cells of 2 starting at -1: [-1,1) [1,3) [3,5)
    std::vector<double> src{0.5, 1.5, 2.5, 3.5};
    std::vector<double> out{0.0, 2.0, 4.0};
    auto m = map_axis(src, out, 2.0, Resampling::Average, false);
    REQUIRE(m.off == std::vector<std::uint32_t>{0, 1, 3, 4});
    CHECK(m.idx == std::vector<std::int32_t>{0, 1, 2, 3});
    CHECK(m.wts == std::vector<float>{0.5f, 0.5f, 0.5f, 0.5f}); // [0,1) covers half of [-1,1)
}

TEST_CASE("resample_rows: average ignores NaN, mode takes the most frequent value", "[cube]") {
    // 2x2 source -> one output pixel covering all of it
    std::vector<double> ys{1.5, 0.5}, xs{0.5, 1.5};
    float nan = std::nanf("");
    std::vector<float> src{1.f, 2.f, nan, 4.f};
    auto ym = map_axis(ys, {1.0}, 2.0, Resampling::Average, false);
    auto xm = map_axis(xs, {1.0}, 2.0, Resampling::Average, false);
    float out = 0;
    resample_rows(src.data(), 2, ym, xm, Resampling::Average, 0, 1, 1, &out);
    // (1 + 2 + 4) / 3 in double, rounded once to float: the float nearest to 7/3
    CHECK(out == 7.0f / 3.0f);

    std::vector<float> cls{3.f, 3.f, 5.f, nan};
    auto ymm = map_axis(ys, {1.0}, 2.0, Resampling::Mode, false);
    auto xmm = map_axis(xs, {1.0}, 2.0, Resampling::Mode, false);
    resample_rows(cls.data(), 2, ymm, xmm, Resampling::Mode, 0, 1, 1, &out);
    CHECK(out == 3.f);
}

TEST_CASE("resampling names: did you mean", "[cube]") {
    CHECK(parse_resampling("mode") == Resampling::Mode);
    try {
        parse_resampling("bilinar");
        FAIL("no error");
    } catch (const baims::ConfigError& e) {
        CHECK(std::string(e.what()) ==
              "unknown resampling 'bilinar'; expected one of nearest, bilinear, average, mode "
              "(did you mean 'bilinear'?)");
    }
}

TEST_CASE("bilinear interpolates across the 0/360 seam of a global source", "[cube]") {
    // OSTIA-like source: centres 0.125 .. 359.875 (step 0.25), footprint exactly [0, 360).
    std::vector<double> src;
    for (int i = 0; i < 1440; ++i) {
        src.push_back(0.125 + 0.25 * i);
    }
    // -0.0625 is 359.9375: a quarter of the way from 359.875 (index 1439) to 360.125 (index 0).
    // 0.0 is halfway; 0.0625 three quarters; 180.0 is inside (179.875 .. 180.125, halfway).
    std::vector<double> out{-0.0625, 0.0, 0.0625, 180.0, 359.9375, 0.125};
    auto m = map_axis(src, out, 0.125, Resampling::Bilinear, true);
    CHECK(m.lo == std::vector<std::int32_t>{1439, 1439, 1439, 719, 1439, 0});
    CHECK(m.hi == std::vector<std::int32_t>{0, 0, 0, 720, 0, 0});
    // Weights are exact binary fractions: compare exactly.
    CHECK(m.w == std::vector<float>{0.25f, 0.5f, 0.75f, 0.5f, 0.25f, 0.0f});

    // The same source stored in -180..180 order (centres -179.875 .. 179.875), output in 0..360.
    std::vector<double> west;
    for (int i = 0; i < 1440; ++i) {
        west.push_back(-179.875 + 0.25 * i);
    }
    auto mw = map_axis(west, {180.0, 179.9375, 540.0}, 0.125, Resampling::Bilinear, true);
    CHECK(mw.lo == std::vector<std::int32_t>{1439, 1439, 1439});
    CHECK(mw.hi == std::vector<std::int32_t>{0, 0, 0});
    CHECK(mw.w == std::vector<float>{0.5f, 0.25f, 0.5f});

    // resample_rows: one row, source values 10 at index 1439 and 20 at index 0 -> 12.5 at -0.0625.
    std::vector<float> row(1440, 0.f);
    row[1439] = 10.f;
    row[0] = 20.f;
    auto ym = map_axis({0.0}, {0.0}, 1.0, Resampling::Bilinear, false);
    std::vector<float> got(out.size());
    resample_rows(row.data(), 1440, ym, m, Resampling::Bilinear, 0, 1, out.size(), got.data());
    CHECK(got == std::vector<float>{12.5f, 15.f, 17.5f, 0.f, 12.5f, 20.f});
}

TEST_CASE("a regional source has edges, not a seam, even when periodic", "[cube]") {
    // centres 0.5 .. 9.5: footprint [0, 10). Output -0.25 is outside; 0.25 clamps to index 0.
    std::vector<double> src;
    for (int i = 0; i < 10; ++i) {
        src.push_back(0.5 + i);
    }
    auto m = map_axis(src, {-0.25, 0.25, 9.75, 10.25, 359.75}, 0.5, Resampling::Bilinear, true);
    CHECK(m.lo == std::vector<std::int32_t>{-1, 0, 9, -1, -1});
    CHECK(m.hi == std::vector<std::int32_t>{-1, 0, 9, -1, -1});
}

TEST_CASE("average and nearest take both sides of the seam of a global source", "[cube]") {
    std::vector<double> src;
    for (int i = 0; i < 360; ++i) {
        src.push_back(0.5 + i);
    }
    // output cell [-1, 1): [359, 360) (index 359) and [0, 1) (index 0), half the cell each
    auto m = map_axis(src, {0.0}, 2.0, Resampling::Average, true);
    REQUIRE(m.off == std::vector<std::uint32_t>{0, 2});
    CHECK(m.idx == std::vector<std::int32_t>{0, 359});
    CHECK(m.wts == std::vector<float>{0.5f, 0.5f});
    auto n = map_axis(src, {-0.25, 0.25}, 0.5, Resampling::Nearest, true);
    CHECK(n.nearest == std::vector<std::int32_t>{359, 0});
}

// A 2x3 swath rotated by 45 degrees: cell (r, c) at lon = c - r, lat = c + r, so each quad is a
// square of diagonal 2 (quad 0: |lon| + |lat - 1| <= 1). dlon is scaled by the cosine of the
// output row's latitude (cos(1 deg) = 0.99985 at lat 1).
TEST_CASE("swath: quads rasterised onto output centres, nothing outside the footprint",
          "[cube][swath]") {
    baims::io::LatLon2D g;
    g.height = 2;
    g.width = 3;
    for (int r = 0; r < 2; ++r) {
        for (int c = 0; c < 3; ++c) {
            g.lon.push_back(c - r);
            g.lat.push_back(c + r);
        }
    }
    // Output pixel centres at lon -1, -0.5, ..., lat 3, 2.5, ... (0.5-degree pixels).
    const baims::grid::Grid out({-1.25, -0.25, 2.25, 3.25}, 7, 7);
    const auto m = swath_map(g, out, Resampling::Nearest);
    auto at = [&](double lon, double lat) {
        const auto col = static_cast<size_t>(std::lround((lon + 1.0) / 0.5));
        const auto row = static_cast<size_t>(std::lround((3.0 - lat) / 0.5));
        return m.nearest[row * 7 + col];
    };
    // (0.5, 1.0): inside quad 0 (corners (0,0)=(0,0), (0,1)=(1,1), (1,0)=(-1,1), (1,1)=(0,2));
    // nearest centre (0,0)->dist^2 1.25*cos..., (1,1) at (1,1): dlon 0.5, dlat 0 -> cell 1.
    CHECK(at(0.5, 1.0) == 1);
    // (0, 1): the centre of quad 0, equidistant in lat; in lon all four are at |dlon| <= 1:
    // (0,0) and (0,2) are 1 away in lat; (1,1) and (-1,1) are 1 away in lon, scaled by cos(1 deg)
    // < 1 -> the first of those in swath order, cell 1 (row 0, col 1).
    CHECK(at(0.0, 1.0) == 1);
    // (-0.5, 2.0) is outside (beyond the edge from (-1,1) to (0,2)); (2, 2) is the far corner
    // cell (0, 2) itself, on the footprint's edge -> cell 2.
    CHECK(at(-0.5, 2.0) == -1);
    CHECK(at(2.0, 2.0) == 2);
    CHECK(at(-1.0, 3.0) == -1);
    // Average/mode: each cell centre belongs to the output pixel holding it; a pixel holding
    // none takes the nearest cell; outside the footprint, nothing.
    const auto a = swath_map(g, out, Resampling::Average);
    auto list = [&](size_t row, size_t col) {
        const size_t o = row * 7 + col;
        return std::vector<std::int32_t>(a.idx.begin() + a.off[o], a.idx.begin() + a.off[o + 1]);
    };
    using V = std::vector<std::int32_t>;
    CHECK(list(6, 2) == V{0}); // cell 0 at (0, 0): column (0 + 1.25) / 0.5, row (3.25 - 0) / 0.5
    CHECK(list(4, 4) == V{1}); // cell 1 at (1, 1)
    CHECK(list(4, 3) == V{1}); // (0.5, 1.0) holds no centre: its nearest cell
    CHECK(list(2, 1).empty()); // (-0.5, 2.0): outside
    CHECK(a.off.back() == a.idx.size());
}

// A warped 9x11 swath (rows bent, columns sheared, cells growing to the east, cell (2, 7) pushed
// out of line; rows 5 to 8 fold back over rows 3 and 4, so some output centres lie in two quads)
// onto a fine grid: each output pixel's quad (the bilinear map's lo)
// is the first quad in swath order whose bilinear inverse, solved here in closed form (a
// quadratic in s), has (s, t) in [0, 1]^2; no quad holds a centre -> none (-1). Centres within
// 1e-6 of a quad's edge in (s, t) are left out (either answer is right there).
// The first quad in swath order of g whose bilinear inverse, solved in closed form (a quadratic
// in s), has (s, t) in (0, 1)^2, or -1; -2 when p is within 1e-6 of an edge of some quad in
// (s, t) (either answer is right there). A quad with a NaN corner holds nothing (its roots are
// NaN). holders: how many quads hold p.
static std::int64_t first_holder(const baims::io::LatLon2D& g, double px, double py,
                                 size_t& holders) {
    auto cross = [](double ax, double ay, double bx, double by) { return ax * by - ay * bx; };
    const size_t H = g.height, W = g.width;
    holders = 0;
    std::int64_t first = -1;
    for (size_t r = 0; r + 1 < H; ++r) {
        for (size_t c = 0; c + 1 < W; ++c) {
            const size_t q = r * W + c;
            const double ax = g.lon[q], ay = g.lat[q];
            const double ex = g.lon[q + 1] - ax, ey = g.lat[q + 1] - ay;
            const double fx = g.lon[q + W] - ax, fy = g.lat[q + W] - ay;
            const double gx = ax - g.lon[q + 1] - g.lon[q + W] + g.lon[q + W + 1];
            const double gy = ay - g.lat[q + 1] - g.lat[q + W] + g.lat[q + W + 1];
            const double hx = px - ax, hy = py - ay;
            // h - s e = t (f + s g)  =>  cross(h - s e, f + s g) = 0
            const double A = -cross(ex, ey, gx, gy);
            const double B = cross(hx, hy, gx, gy) - cross(ex, ey, fx, fy);
            const double C = cross(hx, hy, fx, fy);
            // (a fixed array, not a vector: this runs for every quad of every output centre,
            // millions of times, and an allocation each costs seconds under ASan)
            double roots[2];
            size_t nroots = 0;
            if (std::abs(A) < 1e-15) {
                roots[nroots++] = -C / B;
            } else if (const double D = B * B - 4 * A * C; D >= 0) {
                roots[nroots++] = (-B + std::sqrt(D)) / (2 * A);
                roots[nroots++] = (-B - std::sqrt(D)) / (2 * A);
            }
            for (size_t i = 0; i < nroots; ++i) {
                const double s = roots[i];
                const double kx = fx + s * gx, ky = fy + s * gy;
                const double t =
                    std::abs(kx) > std::abs(ky) ? (hx - s * ex) / kx : (hy - s * ey) / ky;
                const double e =
                    std::min({std::abs(s), std::abs(1 - s), std::abs(t), std::abs(1 - t)});
                if (e < 1e-6) {
                    return -2;
                }
                if (s > 0 && s < 1 && t > 0 && t < 1) {
                    ++holders;
                    first = first < 0 ? static_cast<std::int64_t>(q) : first;
                }
            }
        }
    }
    return first;
}

TEST_CASE("swath: each output centre's quad is the first that holds it (closed-form inverse)",
          "[cube][swath]") {
    const size_t H = 9, W = 11;
    baims::io::LatLon2D g;
    g.height = H;
    g.width = W;
    for (size_t r = 0; r < H; ++r) {
        for (size_t c = 0; c < W; ++c) {
            const double x = static_cast<double>(c), y = static_cast<double>(r);
            const double fold = r >= 5 ? -0.8 * (y - 4.0) : 0.0; // rows 5, 6, ... fold back
            double lon = 10.0 + 0.1 * x + 0.004 * x * x + 0.03 * y;
            double lat = 50.0 + 0.1 * (y + 1.6 * fold) + 0.01 * std::sin(x);
            if (r == 2 && c == 7) {
                lon += 0.06;
                lat += 0.05;
            }
            g.lon.push_back(lon);
            g.lat.push_back(lat);
        }
    }
    const baims::grid::Grid out({9.9, 49.8, 11.8, 51.0}, 95, 60);
    const auto m = swath_map(g, out, Resampling::Bilinear);
    const auto n = swath_map(g, out, Resampling::Nearest);
    size_t holders = 0;
    auto reference = [&](double px, double py) { return first_holder(g, px, py, holders); };
    size_t inside = 0, twice = 0, checked = 0;
    for (size_t row = 0; row < out.height(); ++row) {
        for (size_t col = 0; col < out.width(); ++col) {
            const std::int64_t want = reference(out.x(col), out.y(row));
            if (want == -2) {
                continue;
            }
            ++checked;
            const size_t o = row * out.width() + col;
            INFO("output pixel row " << row << " col " << col);
            CHECK(m.lo[o] == want);
            CHECK((n.nearest[o] >= 0) == (want >= 0));
            inside += want >= 0;
            twice += holders > 1;
        }
    }
    // The case is what it says: most of the grid checked, centres inside and outside, and
    // centres of the fold that an earlier quad also holds.
    CHECK(checked > 5600);
    CHECK(inside > 1000);
    CHECK(checked - inside > 1000);
    CHECK(twice > 0);
}

namespace {

// A warped 40x50 swath (rotated, sheared, a little wavy) over about 10-12.5 E, 49.5-51.6 N, with
// the cell at row 20, column 25 without position (both coordinates NaN).
baims::io::LatLon2D warped_swath(size_t H, size_t W) {
    baims::io::LatLon2D g;
    g.height = H;
    g.width = W;
    for (size_t r = 0; r < H; ++r) {
        for (size_t c = 0; c < W; ++c) {
            const double x = static_cast<double>(c), y = static_cast<double>(r);
            g.lon.push_back(10.0 + 0.05 * x + 0.012 * y + 0.0003 * x * y);
            g.lat.push_back(50.0 + 0.04 * y - 0.01 * x + 0.002 * std::sin(x));
        }
    }
    const double NaN = std::numeric_limits<double>::quiet_NaN();
    g.lat[20 * W + 25] = NaN;
    g.lon[20 * W + 25] = NaN;
    return g;
}

} // namespace

// A swath larger than the output grid on every side (cells far beyond it in both directions),
// with one cell without position (NaN) and one far outside (1e200 degrees): pass 1's per-cell
// bounds are clamped to the grid and a quad with a corner without position holds nothing; the
// owners are those of the closed-form inverse.
TEST_CASE("swath: owners of a swath beyond the grid with cells without position", "[cube][swath]") {
    const size_t H = 40, W = 50;
    baims::io::LatLon2D g = warped_swath(H, W);
    const double NaN = std::numeric_limits<double>::quiet_NaN();
    g.lon[30 * W + 10] = NaN; // lat kept: still no position
    g.lat[5 * W + 40] = 1e200;
    const baims::grid::Grid out({10.6, 49.9, 11.9, 51.1}, 70, 60);
    const auto m = swath_map(g, out, Resampling::Bilinear);
    size_t holders = 0, checked = 0, inside = 0, near_nan = 0;
    for (size_t row = 0; row < out.height(); ++row) {
        for (size_t col = 0; col < out.width(); ++col) {
            const std::int64_t want = first_holder(g, out.x(col), out.y(row), holders);
            if (want == -2) {
                continue;
            }
            ++checked;
            const size_t o = row * out.width() + col;
            INFO("output pixel row " << row << " col " << col);
            CHECK(m.lo[o] == want);
            inside += want >= 0;
            // Inside the four quads around the NaN cell (20, 25) and no other quad: a hole.
            const double lon = out.x(col), lat = out.y(row);
            near_nan += want < 0 && std::abs(lon - (10.0 + 0.05 * 25 + 0.012 * 20 + 0.15)) < 0.05 &&
                        std::abs(lat - (50.0 + 0.8 - 0.25)) < 0.03;
        }
    }
    // The grid lies inside the swath's footprint but for the holes around the cells without
    // position: most centres are held, some of the hole's are not.
    CHECK(checked > 4000);
    CHECK(inside > 3500);
    CHECK(checked - inside > 5);
    CHECK(near_nan > 0);
}

// A regular swath of 0.5-degree cells across the antimeridian (longitudes 178 .. 183.5 stored in
// [-180, 180)) onto 0.25-degree pixels whose centres lie exactly on the cells' rows and columns:
// half the output centres are on an edge shared by two quads, a quarter on a corner shared by
// four, the rest inside one quad, two or three per quad and output row, and the grid's first
// column (-180) meets the swath 360 degrees away. Each is held once, by the first quad in swath
// order whose closed rectangle holds it (pass 1 scans the rows of a quad and leaves a row at its
// first Outside column: the edges and corners are not lost).
TEST_CASE("swath: centres on shared edges and corners across the antimeridian, first quad owns",
          "[cube][swath]") {
    const size_t H = 10, W = 12;
    baims::io::LatLon2D g;
    g.height = H;
    g.width = W;
    for (size_t r = 0; r < H; ++r) {
        for (size_t c = 0; c < W; ++c) {
            const double lon = 178.0 + 0.5 * static_cast<double>(c);
            g.lon.push_back(lon >= 180.0 ? lon - 360.0 : lon);
            g.lat.push_back(10.0 - 0.5 * static_cast<double>(r));
        }
    }
    // Centres at -180 + 0.25 col (col 0: -180, i.e. 180) and 11.5 - 0.25 row.
    const baims::grid::Grid out({-180.125, 4.125, 179.875, 11.625}, 1440, 30);
    const auto m = swath_map(g, out, Resampling::Bilinear);
    const auto n = swath_map(g, out, Resampling::Nearest);
    size_t inside = 0, on_edge = 0, on_corner = 0;
    for (size_t row = 0; row < out.height(); ++row) {
        for (size_t col = 0; col < out.width(); ++col) {
            double x = out.x(col);
            x = x < 0 ? x + 360.0 : x; // the swath's longitudes unwrapped: 178 .. 183.5
            const double y = out.y(row);
            // The first quad (r, c) with x in [178 + 0.5 c, 178 + 0.5 (c + 1)] and y in
            // [10 - 0.5 (r + 1), 10 - 0.5 r].
            std::int64_t want = -1;
            for (size_t r = 0; r + 1 < H && want < 0; ++r) {
                for (size_t c = 0; c + 1 < W && want < 0; ++c) {
                    const double x0 = 178.0 + 0.5 * static_cast<double>(c), x1 = x0 + 0.5;
                    const double y1 = 10.0 - 0.5 * static_cast<double>(r), y0 = y1 - 0.5;
                    if (x >= x0 && x <= x1 && y >= y0 && y <= y1) {
                        want = static_cast<std::int64_t>(r * W + c);
                    }
                }
            }
            const size_t o = row * out.width() + col;
            INFO("output pixel row " << row << " col " << col << " (" << x << ", " << y << ")");
            CHECK(m.lo[o] == want);
            CHECK((n.nearest[o] >= 0) == (want >= 0));
            if (want >= 0) {
                ++inside;
                const bool ex = std::fmod(x, 0.5) == 0, ey = std::fmod(y, 0.5) == 0;
                on_edge += ex != ey;
                on_corner += ex && ey;
            }
        }
    }
    // The footprint 178 .. 183.5 x 5.5 .. 10: 23 x 19 centres, of which 12 x 10 on corners.
    CHECK(inside == 23 * 19);
    CHECK(on_corner == 12 * 10);
    CHECK(on_edge == 11 * 10 + 12 * 9);
    CHECK(m.lo[14 * 1440] == 3 * 12 + 3); // (180, 8), column 0: held 360 degrees away
}

// A swath of 300 rows (5 bands of 64 rows in pass 1): pass 1 then claims in two rounds of bands
// (even, odd) with plain stores when their pixels are apart, else with atomic minima; either way
// each centre's owner is the first quad that holds it. Rows along the output rows, along its
// columns (both: two rounds), a swath that turns back over itself (rows 150..299 over rows
// 149..0: the guess sees the overlap, atomic minima), and one row of band 0 moved into band 2's
// pixels between band 0's corner cells (the guess misses it, the check after the first round
// finds it: pass 1 runs again with atomic minima).
namespace {

// The nearest map that the top of resample_swath.cpp describes, from the owner quads of the
// bilinear map bil (the same owners): for each owned pixel the first cell, in row-major order,
// of the 4x4 cells around its quad (r, c) (clamped to the swath) whose local equirectangular
// distance ((dlon cos(lat0), dlat), lat0 the latitude of the output pixel's centre, out.y(row))
// is the smallest; unwrap: longitudes below 0 taken + 360 (a swath across the antimeridian), and
// the output centre moved by 360 degrees next to the quad's corner (r, c).
std::vector<std::int32_t> nearest_of_owners(const baims::io::LatLon2D& g,
                                            const baims::grid::Grid& out, const PixelMap& bil,
                                            bool unwrap) {
    const size_t H = g.height, W = g.width;
    auto lon = [&](size_t i) { return unwrap && g.lon[i] < 0 ? g.lon[i] + 360.0 : g.lon[i]; };
    std::vector<std::int32_t> want(bil.lo.size(), -1);
    for (size_t row = 0; row < out.height(); ++row) {
        for (size_t col = 0; col < out.width(); ++col) {
            const size_t o = row * out.width() + col;
            if (bil.lo[o] < 0) {
                continue;
            }
            const auto q = static_cast<size_t>(bil.lo[o]);
            const size_t r = q / W, c = q % W;
            double px = out.x(col);
            while (px - lon(q) > 180.0) {
                px -= 360.0;
            }
            while (lon(q) - px > 180.0) {
                px += 360.0;
            }
            const double py = out.y(row);
            const double kx = std::cos(py * M_PI / 180.0);
            double best = std::numeric_limits<double>::infinity();
            for (size_t rr = r > 0 ? r - 1 : 0; rr <= std::min(H - 1, r + 2); ++rr) {
                for (size_t k = c > 0 ? c - 1 : 0; k <= std::min(W - 1, c + 2); ++k) {
                    const double ddx = (lon(rr * W + k) - px) * kx;
                    const double ddy = g.lat[rr * W + k] - py;
                    const double d = ddx * ddx + ddy * ddy;
                    if (d < best) {
                        best = d;
                        want[o] = static_cast<std::int32_t>(rr * W + k);
                    }
                }
            }
        }
    }
    return want;
}

} // namespace

// The nearest cell is searched when pass 1 claims a pixel (key q * 16 + n): it must be the one
// the description gives, with ties (centres equidistant from cells across the antimeridian),
// quads at the swath's edges (a clamped 4x4 window), cells without position and a folded swath.
TEST_CASE("swath: nearest is the first nearest of the 4x4 cells around the owner quad",
          "[cube][swath]") {
    const double NaN = std::numeric_limits<double>::quiet_NaN();
    baims::io::LatLon2D warped = warped_swath(40, 50);
    warped.lon[30 * 50 + 10] = NaN;
    warped.lat[0 * 50 + 7] = NaN; // an edge cell without position
    baims::io::LatLon2D anti, folded;
    anti.height = 10;
    anti.width = 12;
    for (size_t r = 0; r < anti.height; ++r) {
        for (size_t c = 0; c < anti.width; ++c) {
            const double lon = 178.0 + 0.5 * static_cast<double>(c);
            anti.lon.push_back(lon >= 180.0 ? lon - 360.0 : lon);
            anti.lat.push_back(10.0 - 0.5 * static_cast<double>(r));
        }
    }
    folded.height = 30;
    folded.width = 20;
    for (size_t r = 0; r < folded.height; ++r) {
        for (size_t c = 0; c < folded.width; ++c) {
            const double x = static_cast<double>(c), y = static_cast<double>(r);
            const double back = r >= 15 ? -1.3 * (y - 14.0) : 0.0; // rows 15.. fold back
            folded.lon.push_back(10.0 + 0.1 * x + 0.01 * y);
            folded.lat.push_back(50.0 + 0.08 * (y + back) + 0.003 * x * x);
        }
    }
    // Rows 1e160 degrees apart (a position no real swath has): most squared distances overflow to
    // +inf, so pass 1 finds no nearest cell for most claims and the map is built by pass 2 from
    // the claims' quads; the output rows 1, 4, 7, 10 lie on (or within rounding of) the cells'
    // rows and find theirs.
    baims::io::LatLon2D huge;
    huge.height = 4;
    huge.width = 5;
    for (size_t r = 0; r < huge.height; ++r) {
        for (size_t c = 0; c < huge.width; ++c) {
            huge.lon.push_back(10.0 + static_cast<double>(c));
            huge.lat.push_back(1e160 * static_cast<double>(r));
        }
    }
    struct Case {
        const baims::io::LatLon2D* g;
        baims::grid::Grid out;
        bool unwrap;
        size_t min_inside;
    };
    const std::vector<Case> cases{
        {&warped, baims::grid::Grid({9.8, 49.3, 13.2, 52.0}, 300, 200), false, 20000},
        {&warped, baims::grid::Grid({10.6, 49.9, 11.9, 51.1}, 70, 60), false, 3000},
        {&anti, baims::grid::Grid({-180.125, 4.125, 179.875, 11.625}, 1440, 30), true, 400},
        {&folded, baims::grid::Grid({9.9, 49.8, 12.2, 51.4}, 230, 160), false, 10000},
        {&huge, baims::grid::Grid({9.5, -0.5e160, 14.5, 3.5e160}, 10, 12), false, 20},
    };
    for (const Case& k : cases) {
        const auto bil = swath_map(*k.g, k.out, Resampling::Bilinear);
        const auto near = swath_map(*k.g, k.out, Resampling::Nearest);
        const auto want = nearest_of_owners(*k.g, k.out, bil, k.unwrap);
        REQUIRE(near.nearest.size() == want.size());
        size_t inside = 0, differ = 0, owned = 0;
        for (size_t o = 0; o < want.size(); ++o) {
            inside += want[o] >= 0;
            owned += bil.lo[o] >= 0;
            differ += near.nearest[o] != want[o];
        }
        INFO("swath " << k.g->height << "x" << k.g->width << " onto " << k.out.width() << "x"
                      << k.out.height());
        CHECK(differ == 0);
        CHECK(inside >= k.min_inside);
        if (k.g == &huge) {
            CHECK(owned > inside); // owned pixels without a nearest cell: pass 2 ran
        }
    }
}

TEST_CASE("swath: first holders with bands of pass 1 in two rounds", "[cube][swath]") {
    const size_t H = 300, W = 30;
    for (int layout = 0; layout < 4; ++layout) {
        baims::io::LatLon2D g;
        g.height = H;
        g.width = W;
        for (size_t r = 0; r < H; ++r) {
            for (size_t c = 0; c < W; ++c) {
                const double x = static_cast<double>(c);
                double y = static_cast<double>(r);
                if (layout == 2 && r >= 150) {
                    y = 299.0 - y + 0.37; // back over the first half, shifted by a part of a row
                }
                if (layout == 3 && r == 30) {
                    y += 130.0; // band 0 reaches into band 2's pixels between its corner cells
                }
                const double along = 0.01 * y, across = 0.02 * x + 0.0001 * x * x;
                if (layout == 1) { // rows along the output's columns
                    g.lon.push_back(10.0 + along + 0.001 * x);
                    g.lat.push_back(50.0 + across - 0.002 * y);
                } else {
                    g.lon.push_back(10.0 + across + 0.002 * y);
                    g.lat.push_back(53.0 - along + 0.001 * x);
                }
            }
        }
        const baims::grid::Grid out({10.05, 50.2, 10.65, 52.8}, 30, 65);
        const auto m = swath_map(g, out, Resampling::Bilinear);
        const auto n = swath_map(g, out, Resampling::Nearest);
        size_t holders = 0, checked = 0, inside = 0;
        for (size_t row = 0; row < out.height(); ++row) {
            for (size_t col = 0; col < out.width(); ++col) {
                const std::int64_t want = first_holder(g, out.x(col), out.y(row), holders);
                if (want == -2) {
                    continue;
                }
                ++checked;
                const size_t o = row * out.width() + col;
                INFO("layout " << layout << ", output pixel row " << row << " col " << col);
                CHECK(m.lo[o] == want);
                CHECK((n.nearest[o] >= 0) == (want >= 0));
                inside += want >= 0;
            }
        }
        CHECK(checked > 1500);
        CHECK(inside > 200);
    }
}

// A swath of 300 rows whose bands are apart (pass 1 claims in two rounds with plain stores and
// then stores each winning claim's bilinear weights itself, no pass 2): the weights must put the
// output centre where the owner quad's bilinear map does, the pixels without a quad must have
// zero weights, every step is +1 column, +1 row, and the map's window is that of its entries.
// Across the antimeridian (longitudes stored in [-180, 180), output grids on either side) and
// with cells without position (one inside, one on the swath's edge).
TEST_CASE("swath: bilinear weights stored by plain claims in pass 1", "[cube][swath]") {
    const size_t H = 300, W = 30;
    const double NaN = std::numeric_limits<double>::quiet_NaN();
    baims::io::LatLon2D g;
    g.height = H;
    g.width = W;
    for (size_t r = 0; r < H; ++r) {
        for (size_t c = 0; c < W; ++c) {
            const double x = static_cast<double>(c), y = static_cast<double>(r);
            const double lon = 179.75 + 0.02 * x + 0.0001 * x * x + 0.002 * y;
            g.lon.push_back(lon >= 180.0 ? lon - 360.0 : lon);
            g.lat.push_back(53.0 - 0.01 * y + 0.001 * x + 0.00002 * y * x);
        }
    }
    g.lon[100 * W + 12] = NaN;
    g.lat[200 * W + 0] = NaN;
    auto lon = [&](size_t i) { return g.lon[i] < 0 ? g.lon[i] + 360.0 : g.lon[i]; };
    const std::vector<baims::grid::Grid> grids{
        baims::grid::Grid({179.8, 50.2, 181.0, 52.8}, 60, 65),
        baims::grid::Grid({-180.0, 50.0, 180.0, 53.0}, 7200, 60),
    };
    for (const auto& out : grids) {
        INFO("grid " << out.width() << " x " << out.height());
        PixelMap m = swath_map(g, out, Resampling::Bilinear);
        size_t owned = 0, far = 0, bad = 0;
        for (size_t row = 0; row < out.height(); ++row) {
            for (size_t col = 0; col < out.width(); ++col) {
                const size_t o = row * out.width() + col;
                bad += m.step[o] != 8;
                if (m.lo[o] < 0) {
                    bad += m.wx[o] != 0.0f || m.wy[o] != 0.0f;
                    continue;
                }
                ++owned;
                const auto q = static_cast<size_t>(m.lo[o]);
                const double s = m.wx[o], t = m.wy[o];
                bad += !(s >= 0 && s <= 1 && t >= 0 && t <= 1);
                double px = out.x(col);
                while (px - lon(q) > 180.0) {
                    px -= 360.0;
                }
                while (lon(q) - px > 180.0) {
                    px += 360.0;
                }
                const size_t i[4] = {q, q + 1, q + W, q + W + 1};
                const double w[4] = {(1 - s) * (1 - t), s * (1 - t), (1 - s) * t, s * t};
                double x = 0, y = 0;
                for (int k = 0; k < 4; ++k) {
                    x += w[k] * lon(i[k]);
                    y += w[k] * g.lat[i[k]];
                }
                // float weights: within ~1e-7 of the quad's size (~0.02 degrees)
                far += std::abs(x - px) + std::abs(y - out.y(row)) > 1e-7;
            }
        }
        CHECK(bad == 0);
        CHECK(far == 0);
        CHECK(owned > 700);
        check_window(m, H, W);
    }
}

// map_swath finds used_window's window on the way (PixelMap::window); it must be the window
// that used_window computes from the map's entries without it (flat_window), for nearest and
// bilinear, with cells without position, the swath beyond the grid, a grid that misses it, and
// a swath across the antimeridian.
TEST_CASE("swath: the map's window equals the window of its entries", "[cube][swath]") {
    const size_t H = 40, W = 50;
    baims::io::LatLon2D g = warped_swath(H, W);
    const double NaN = std::numeric_limits<double>::quiet_NaN();
    g.lon[0] = NaN;             // a corner of the swath without position
    baims::io::LatLon2D am = g; // moved across the antimeridian, stored in [-180, 180)
    for (auto& x : am.lon) {
        x = x + 169.5 >= 180.0 ? x + 169.5 - 360.0 : x + 169.5;
    }
    const std::vector<std::pair<const baims::io::LatLon2D*, baims::grid::Grid>> cases{
        {&g, baims::grid::Grid({10.6, 49.9, 11.9, 51.1}, 70, 60)},  // inside the swath
        {&g, baims::grid::Grid({9.0, 48.0, 14.0, 53.0}, 200, 150)}, // all of it and more
        {&g, baims::grid::Grid({11.5, 50.5, 11.7, 50.7}, 3, 2)},    // a few pixels
        {&g, baims::grid::Grid({30.0, 10.0, 31.0, 11.0}, 20, 20)},  // none
        {&am, baims::grid::Grid({-180.0, 49.0, 180.0, 53.0}, 3600, 40)},
        {&am, baims::grid::Grid({179.0, 49.0, 182.0, 53.0}, 300, 400)},
    };
    for (const auto& [geo, out] : cases) {
        for (const Resampling method : {Resampling::Nearest, Resampling::Bilinear}) {
            INFO("grid " << out.width() << " x " << out.height() << ", method "
                         << static_cast<int>(method));
            PixelMap m = swath_map(*geo, out, method);
            check_window(m, H, W);
        }
    }
}

TEST_CASE("per-pixel average and mode over the listed cells, NaN left out, ties to the smaller",
          "[cube]") {
    PixelMap m;
    m.width = 4;
    m.height = 1;
    m.off = {0, 4, 6, 6, 8};
    m.idx = {0, 1, 2, 3, 4, 5, 6, 7};
    const float NaN = std::numeric_limits<float>::quiet_NaN();
    // pixel 0: 3, 1, 3, 1 (a tie); pixel 1: NaN, 2; pixel 2: no cells; pixel 3: NaN, NaN
    const std::vector<float> src{3, 1, 3, 1, NaN, 2, NaN, NaN};
    float out[4];
    resample_block(src.data(), 8, SourceMap{m}, Resampling::Mode, 0, 1, 0, 4, out, 4);
    CHECK(out[0] == 1.0f);
    CHECK(out[1] == 2.0f);
    CHECK(std::isnan(out[2]));
    CHECK(std::isnan(out[3]));
    resample_block(src.data(), 8, SourceMap{m}, Resampling::Average, 0, 1, 0, 4, out, 4);
    CHECK(out[0] == 2.0f);
    CHECK(out[1] == 2.0f);
    CHECK(std::isnan(out[2]));
    CHECK(std::isnan(out[3]));
    // columns 1..2 only, into a strided block
    float part[2] = {-1, -1};
    resample_block(src.data(), 8, SourceMap{m}, Resampling::Mode, 0, 1, 1, 2, part, 2);
    CHECK(part[0] == 2.0f);
    CHECK(std::isnan(part[1]));
}

// The per-pixel bilinear formula of PixelMap (resample.hpp), one pixel at a time: the four
// neighbours' weights; without a NaN or infinite neighbour all four summed in order, else the
// NaN neighbours and the zero weights left out and the rest renormalised (an exact hit on a
// valid lo still counts when all weighted neighbours are NaN).
static float bilinear_reference(const std::vector<float>& src, size_t src_w, const PixelMap& m,
                                size_t p) {
    const float NaN = std::numeric_limits<float>::quiet_NaN();
    const std::int32_t lo = m.lo[p];
    if (lo < 0) {
        return NaN;
    }
    const auto w = static_cast<std::ptrdiff_t>(src_w);
    const int st = m.step[p];
    const std::ptrdiff_t dc = (st % 3 - 1) * (st < 9 ? 1 : w - 1), dr = (st / 3 % 3 - 1) * w;
    const float v[4] = {src[static_cast<size_t>(lo)], src[static_cast<size_t>(lo + dc)],
                        src[static_cast<size_t>(lo + dr)], src[static_cast<size_t>(lo + dr + dc)]};
    const float wx = m.wx[p], wy = m.wy[p];
    const float k[4] = {(1 - wx) * (1 - wy), wx * (1 - wy), (1 - wx) * wy, wx * wy};
    if (std::all_of(v, v + 4, [](float x) { return std::isfinite(x); })) {
        return (((k[0] * v[0] + k[1] * v[1]) + k[2] * v[2]) + k[3] * v[3]) /
               (((k[0] + k[1]) + k[2]) + k[3]);
    }
    float sum = 0, wsum = 0;
    for (int q = 0; q < 4; ++q) {
        if (!std::isnan(v[q]) && k[q] > 0) {
            sum += k[q] * v[q];
            wsum += k[q];
        }
    }
    if (wsum == 0) {
        return (k[0] >= 0.999999f && !std::isnan(v[0])) ? v[0] : NaN;
    }
    return sum / wsum;
}

TEST_CASE("per-pixel bilinear gives the formula's bits with NaN, infinite and missing neighbours",
          "[cube][projected]") {
    // A 40 x 30 source with runs of NaN (land), single NaN and infinite cells, values of both
    // signs and zeros; a 37 x 23 map of random positions, runs of lo < 0 (outside the footprint)
    // and of valid pixels, exact hits (weights 0 and 1), every step incl. the seam's (>= 9).
    const size_t SW = 40, SH = 30;
    const float NaN = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    std::uint32_t seed = 12345;
    auto next = [&seed] {
        seed = seed * 1664525u + 1013904223u;
        return seed >> 8;
    };
    std::vector<float> src(SW * SH);
    for (size_t i = 0; i < src.size(); ++i) {
        const auto r = next() % 100;
        src[i] = r < 25   ? NaN
                 : r < 27 ? (r == 25 ? inf : -inf)
                 : r < 30 ? (r == 28 ? 0.0f : -0.0f)
                          : static_cast<float>(static_cast<int>(next() % 20001) - 10000) / 37.0f;
        if ((i / SW) % 7 == 3 && i % SW < 20) {
            src[i] = NaN; // a run
        }
    }
    // runs: steps in runs of 1..12 equal ones, mostly 2, 5 and 8 (dc = 1: the paired loads of
    // four pixels with one step), fewer pixels outside.
    for (const bool runs : {false, true}) {
        INFO("runs of equal steps: " << runs);
        PixelMap m;
        m.width = 37;
        m.height = 23;
        const size_t n = m.width * m.height;
        m.lo.resize(n);
        m.step.resize(n);
        m.wx.resize(n);
        m.wy.resize(n);
        std::uint8_t run_step = 0;
        size_t run_left = 0;
        for (size_t p = 0; p < n; ++p) {
            const size_t row = 1 + next() % (SH - 2);
            bool seam = next() % 10 == 0;
            if (runs) {
                if (run_left == 0) {
                    run_left = 1 + next() % 12;
                    const auto k = next() % 8;
                    run_step = static_cast<std::uint8_t>(k < 6    ? 2 + 3 * (k % 3)
                                                         : k == 6 ? next() % 9
                                                                  : 9 + next() % 9);
                }
                --run_left;
                seam = run_step >= 9;
            }
            const size_t col = seam ? SW - 1 : 1 + next() % (SW - 2);
            const bool outside = runs ? next() % 20 == 0 : ((p / 9) % 5 == 2 || next() % 6 == 0);
            m.lo[p] = outside ? -1 : static_cast<std::int32_t>(row * SW + col);
            m.step[p] =
                runs ? run_step : static_cast<std::uint8_t>(seam ? 9 + next() % 9 : next() % 9);
            const auto q = next() % 8;
            m.wx[p] = q == 0 ? 0.0f : q == 1 ? 1.0f : static_cast<float>(next() % 65536) / 65536.0f;
            m.wy[p] = q == 2 ? 0.0f : q == 3 ? 1.0f : static_cast<float>(next() % 65536) / 65536.0f;
        }
        const SourceMap map{m};
        // the whole map, and blocks at odd columns and widths (vector lanes and tails)
        for (const auto& [row0, nrows, col0, ncols] : std::vector<std::array<size_t, 4>>{
                 {0, 23, 0, 37}, {3, 7, 1, 5}, {5, 11, 6, 31}, {0, 2, 33, 4}}) {
            std::vector<float> out(nrows * 40, -7.0f);
            resample_block(src.data(), SW, map, Resampling::Bilinear, row0, nrows, col0, ncols,
                           out.data(), 40);
            size_t mismatches = 0;
            for (size_t r = 0; r < nrows; ++r) {
                for (size_t c = 0; c < ncols; ++c) {
                    const float want =
                        bilinear_reference(src, SW, m, (row0 + r) * m.width + col0 + c);
                    const float got = out[r * 40 + c];
                    mismatches += std::memcmp(&want, &got, sizeof want) != 0;
                }
                for (size_t c = ncols; c < 40; ++c) {
                    mismatches += out[r * 40 + c] != -7.0f; // nothing written beyond the block
                }
            }
            CHECK(mismatches == 0);
        }
    }
}

// The per-pixel maps of projected inputs locate points with AxisLocator; it must give what
// map_axis gives for the same points (non-periodic), on uniform (arithmetic first guess) and
// irregular (binary search) axes, ascending and descending, at edges, centres and outside.
TEST_CASE("AxisLocator agrees with map_axis point by point", "[cube]") {
    const std::vector<std::vector<double>> axes{
        {0.5, 1.5, 2.5, 3.5},              // uniform ascending: edges 0, 1, 2, 3, 4
        {3.5, 2.5, 1.5, 0.5},              // uniform descending
        {-778250.0, -777250.0, -776250.0}, // lcc_km x in metres
        {0.0, 1.0, 3.0, 7.0},              // irregular: edges -0.5, 0.5, 2, 5, 9
        {5.0}};                            // one cell (fallback step 2: [4, 6))
    for (const auto& src : axes) {
        std::vector<double> pts;
        const double lo = *std::min_element(src.begin(), src.end()) - 3.0;
        const double hi = *std::max_element(src.begin(), src.end()) + 3.0;
        for (double x = lo; x <= hi; x += 0.25) {
            pts.push_back(x);
        }
        for (double c : src) {
            pts.push_back(c);
            pts.push_back(std::nextafter(c, 1e300));
        }
        pts.push_back(std::nan(""));
        const AxisLocator loc(src, 2.0);
        const auto n = map_axis(src, pts, 2.0, Resampling::Nearest, false);
        const auto b = map_axis(src, pts, 2.0, Resampling::Bilinear, false);
        for (size_t k = 0; k < pts.size(); ++k) {
            INFO("axis " << src.front() << ".. point " << pts[k]);
            CHECK(loc.nearest(pts[k]) == n.nearest[k]);
            std::int32_t l = -1, h = -1;
            float w = 0.f;
            const bool inside = loc.bilinear(pts[k], l, h, w);
            CHECK(inside == (b.lo[k] >= 0));
            if (inside) {
                CHECK(l == b.lo[k]);
                CHECK(h == b.hi[k]);
                CHECK(w == b.w[k]);
            }
        }
    }
    // Edges of the uniform axis: x = 1 is the first point of cell 1; 4 is outside.
    const AxisLocator u({0.5, 1.5, 2.5, 3.5}, 1.0);
    CHECK(u.nearest(1.0) == 1);
    CHECK(u.nearest(std::nextafter(1.0, 0.0)) == 0);
    CHECK(u.nearest(4.0) == -1);
    CHECK(u.nearest(0.0) == 0);
    CHECK(u.edge_distance(1.25, true) == 0.25);
    CHECK(u.edge_distance(1.25, false) == 0.25); // nearest centre 1.5
}

// map_projected's bilinear rows look each point up once for the map entry and the edge check:
// AxisLocator::bilinear with edge_distance, one point or many, must give bilinear() and
// edge_distance(x, false) bit for bit, also at the edges between centres (the nearest centre
// changes there), at the footprint's ends, in the outer half pixels and outside.
TEST_CASE("AxisLocator's combined bilinear lookup equals bilinear and edge_distance",
          "[cube][projected]") {
    std::vector<double> lcc(2000);
    for (size_t i = 0; i < lcc.size(); ++i) {
        lcc[i] = -1099450.0 + 1100.0 * static_cast<double>(i); // x of a 1.1 km grid, metres
    }
    std::vector<double> lcc_down(lcc.rbegin(), lcc.rend());
    const std::vector<std::vector<double>> axes{{0.5, 1.5, 2.5, 3.5},
                                                {3.5, 2.5, 1.5, 0.5},
                                                {0.0, 1.0, 3.0, 7.0},
                                                {7.0, 3.0, 1.0, 0.0},
                                                {5.0},
                                                lcc,
                                                lcc_down,
                                                {0.1, 0.2, 0.3}};
    for (const auto& src : axes) {
        const AxisLocator loc(src, 2.0);
        std::vector<double> sorted = src, pts;
        std::sort(sorted.begin(), sorted.end());
        const double span = sorted.back() - sorted.front() + 2.0;
        for (int k = -40; k <= 1040; ++k) {
            pts.push_back(sorted.front() - 1.0 + span * k / 1000.0);
        }
        std::uint64_t state = 7;
        for (int k = 0; k < 2000; ++k) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            pts.push_back(sorted.front() - 1.0 + span * static_cast<double>(state >> 11) * 0x1p-53);
        }
        for (size_t k = 0; k < sorted.size(); ++k) {
            const double c = sorted[k];
            const double e = k + 1 < sorted.size() ? 0.5 * (c + sorted[k + 1]) : c + 1.0;
            for (const double x : {c, e, c - (e - c), e - (e - c) / 2}) {
                pts.push_back(x);
                pts.push_back(std::nextafter(x, 1e300));
                pts.push_back(std::nextafter(x, -1e300));
            }
        }
        pts.push_back(std::nan(""));
        pts.push_back(1e300);
        pts.push_back(-1e300);
        std::vector<AxisLocator::Hit> hits(pts.size());
        loc.bilinear(pts.data(), pts.size(), hits.data());
        size_t mismatches = 0;
        for (size_t k = 0; k < pts.size(); ++k) {
            std::int32_t l = -1, h = -1, l1 = -1, h1 = -1;
            float w = 0.f, w1 = 0.f;
            double d1 = 0;
            const bool inside = loc.bilinear(pts[k], l, h, w);
            const double d = loc.edge_distance(pts[k], false);
            const bool inside1 = loc.bilinear(pts[k], l1, h1, w1, d1);
            const auto& hit = hits[k];
            const bool same_d = std::memcmp(&d, &d1, sizeof d) == 0 &&
                                std::memcmp(&d, &hit.edge_distance, sizeof d) == 0;
            bool same = inside == inside1 && inside == hit.inside && same_d;
            if (same && inside) {
                same = l == l1 && h == h1 && std::memcmp(&w, &w1, sizeof w) == 0 && l == hit.lo &&
                       h == hit.hi && std::memcmp(&w, &hit.w, sizeof w) == 0;
            }
            if (!same) {
                ++mismatches;
                UNSCOPED_INFO("axis " << src.front() << ".. point " << pts[k]);
            }
        }
        CHECK(mismatches == 0);
    }
}

namespace {

// The nearest and bilinear maps of a projected source computed by projecting every output pixel
// centre through PROJ (no interpolation): what map_projected's lattice must reproduce.
struct ExactMaps {
    std::vector<std::int32_t> nearest, lo;
    std::vector<std::uint8_t> step;
    std::vector<float> wx, wy;
};

ExactMaps exact_maps(const baims::io::ProjectedAxes& src, const baims::grid::Grid& out) {
    const double xs = std::abs(src.x[1] - src.x[0]), ys = std::abs(src.y[1] - src.y[0]);
    const AxisLocator xa(src.x, xs), ya(src.y, ys);
    const baims::io::LonLatToCrs to_src(src.crs);
    const auto lons = out.x_centers(), lats = out.y_centers();
    const auto w = static_cast<std::int32_t>(src.x.size());
    ExactMaps e;
    for (double lat : lats) {
        std::vector<double> x = lons, y(lons.size(), lat);
        to_src.transform(x.data(), y.data(), x.size());
        for (size_t c = 0; c < x.size(); ++c) {
            const auto sx = xa.nearest(x[c]), sy = ya.nearest(y[c]);
            e.nearest.push_back(sx >= 0 && sy >= 0 ? sy * w + sx : -1);
            std::int32_t xl, xh, yl, yh;
            float wx = 0, wy = 0;
            if (xa.bilinear(x[c], xl, xh, wx) && ya.bilinear(y[c], yl, yh, wy)) {
                e.lo.push_back(yl * w + xl);
                e.step.push_back(static_cast<std::uint8_t>((xh - xl + 1) + 3 * (yh - yl + 1)));
            } else {
                e.lo.push_back(-1);
                e.step.push_back(4);
                wx = wy = 0;
            }
            e.wx.push_back(wx);
            e.wy.push_back(wy);
        }
    }
    return e;
}

} // namespace

TEST_CASE("projected maps equal those of projecting every output pixel exactly",
          "[cube][projected]") {
    struct Case {
        const char* crs;
        double step; // metres (degrees for the rotated pole)
        baims::grid::Box region;
        size_t w, h;
    };
    // Output grids of sizes that are not multiples of the lattice, each reaching beyond the
    // source; the orthographic one also beyond the projection's horizon (PROJ gives no
    // position there: those lattice cells are mapped exactly).
    const Case cases[] = {
        {"+proj=lcc +lat_1=55 +lat_2=64 +lat_0=59.5 +lon_0=20 +R=6371229 +type=crs",
         7300.0,
         {5.0, 50.0, 35.0, 68.0},
         613,
         389},
        {"+proj=stere +lat_0=90 +lat_ts=70 +lon_0=-45 +datum=WGS84 +type=crs",
         25000.0,
         {-180.0, 40.0, 180.0, 90.0},
         721,
         101},
        // rotated pole at 40 N 170 W, as the CF reader writes it (x/y in rotated degrees)
        {"+proj=ob_tran +o_proj=longlat +o_lon_p=0 +o_lat_p=40 +lon_0=10 +R=6371229 +no_defs "
         "+type=crs",
         0.11,
         {-20.0, 30.0, 45.0, 75.0},
         523,
         367},
        {"+proj=ortho +lat_0=60 +lon_0=20 +R=6371229 +type=crs",
         40000.0,
         {-180.0, -10.0, 180.0, 90.0},
         361,
         101},
    };
    for (const auto& k : cases) {
        INFO(k.crs);
        baims::io::ProjectedAxes src;
        src.crs = k.crs;
        const size_t n = 240;
        for (size_t i = 0; i < n; ++i) {
            const double v = (static_cast<double>(i) - (n - 1) / 2.0) * k.step;
            src.x.push_back(v);
            src.y.push_back(-v); // descending, as most files store y
        }
        const baims::grid::Grid out(k.region, k.w, k.h);
        const auto e = exact_maps(src, out);
        const auto mn = map_projected(src, out, Resampling::Nearest, serial);
        REQUIRE(mn.nearest.size() == e.nearest.size());
        size_t differ = 0, inside = 0;
        for (size_t p = 0; p < e.nearest.size(); ++p) {
            differ += mn.nearest[p] != e.nearest[p];
            inside += e.nearest[p] >= 0;
        }
        CHECK(differ == 0);
        CHECK(inside > 1000); // the source is really sampled
        CHECK(inside < e.nearest.size());
        const auto mb = map_projected(src, out, Resampling::Bilinear, serial);
        size_t lo_differ = 0;
        double wmax = 0;
        for (size_t p = 0; p < e.lo.size(); ++p) {
            lo_differ += mb.lo[p] != e.lo[p] || mb.step[p] != e.step[p];
            wmax = std::max({wmax, static_cast<double>(std::abs(mb.wx[p] - e.wx[p])),
                             static_cast<double>(std::abs(mb.wy[p] - e.wy[p]))});
        }
        CHECK(lo_differ == 0);
        // the rows' positions are within ROW_TOL source pixels; the float weights' rounding
        CHECK(wmax <= ROW_TOL + 1e-7);
    }
}

// project_row_positions (the bilinear maps' rows) against projecting every pixel: within ROW_TOL
// source pixels on both axes everywhere, NaN exactly where PROJ gives no position, and far fewer
// exact transforms where the projection is smooth.
TEST_CASE("projected rows' positions are within ROW_TOL of the exact ones", "[cube][projected]") {
    struct Case {
        const char* name;
        const char* crs;
        double step; // source cell (metres; degrees for the rotated pole)
        baims::grid::Box region;
        size_t w, h, row_step; // output grid; every row_step-th row tested
        double max_exact;      // largest share of pixels projected exactly
    };
    const Case cases[] = {
        // bench/projected.sh: 1.1 km LCC cells, the gen10 grid of 4400x2600
        {"LCC bench",
         "+proj=lcc +lat_0=59.5 +lon_0=20 +lat_1=55 +lat_2=64 +x_0=0 +y_0=0 +ellps=WGS84 "
         "+type=crs",
         1100.0,
         {9.0, 53.0, 31.0, 66.0},
         4400,
         2600,
         13,
         0.04},
        // lcc_km.nc (as the CF reader builds it), test_gen_grid_mapping's output grid
        {"LCC lcc_km",
         "+proj=lcc +lat_0=42.5 +lon_0=-100 +lat_1=25 +lat_2=60 +x_0=0 +y_0=0 +a=6378137 "
         "+rf=298.25722356300003 +no_defs +type=crs",
         1000.0,
         {-111.0, 34.5, -101.0, 42.5},
         300,
         240,
         1,
         0.15},
        // the whole northern hemisphere down to 40 N: the pole in the rows' middle
        {"polar stereographic",
         "+proj=stere +lat_0=90 +lat_ts=70 +lon_0=-45 +datum=WGS84 +type=crs",
         25000.0,
         {-180.0, 40.0, 180.0, 90.0},
         1441,
         201,
         1,
         1.0},
        // 0.11 degree rotated-pole cells (EURO-CORDEX-like)
        {"rotated pole",
         "+proj=ob_tran +o_proj=longlat +o_lon_p=0 +o_lat_p=40 +lon_0=10 +R=6371229 +no_defs "
         "+type=crs",
         0.11,
         {-20.0, 30.0, 45.0, 75.0},
         1300,
         367,
         1,
         1.0},
        // UTM 33 N, 5 km cells, far out of its zone
        {"transverse mercator",
         "+proj=tmerc +lat_0=0 +lon_0=15 +k=0.9996 +x_0=500000 +datum=WGS84 +type=crs",
         5000.0,
         {-30.0, 30.0, 60.0, 72.0},
         1800,
         421,
         1,
         1.0},
        // beyond the horizon PROJ gives no position (NaN)
        {"orthographic",
         "+proj=ortho +lat_0=60 +lon_0=20 +R=6371229 +type=crs",
         40000.0,
         {-180.0, -10.0, 180.0, 90.0},
         1441,
         201,
         1,
         1.0},
    };
    for (const auto& k : cases) {
        INFO(k.name);
        const baims::grid::Grid out(k.region, k.w, k.h);
        const auto lons = out.x_centers(), lats = out.y_centers();
        const baims::io::LonLatToCrs to_src(k.crs);
        RowPositions r;
        double dmax = 0;
        size_t nan_differ = 0, nan = 0, exact = 0, all = 0;
        for (size_t row = 0; row < k.h; row += k.row_step) {
            std::vector<double> x = lons, y(lons.size(), lats[row]);
            to_src.transform(x.data(), y.data(), x.size());
            project_row_positions(to_src, lons, lats[row], k.step, k.step, ROW_TOL, r);
            REQUIRE(r.x.size() == k.w);
            for (size_t c = 0; c < k.w; ++c) {
                const bool na = std::isnan(x[c]);
                nan += na;
                nan_differ += na != std::isnan(r.x[c]) || na != std::isnan(r.y[c]);
                if (!na) {
                    dmax = std::max(
                        {dmax, std::abs(r.x[c] - x[c]) / k.step, std::abs(r.y[c] - y[c]) / k.step});
                }
                if (r.exact[c]) {
                    exact += 1;
                    // exact means PROJ's own position (NaN where it has none)
                    nan_differ += !(r.x[c] == x[c] && r.y[c] == y[c]) && !na;
                }
            }
            all += k.w;
        }
        INFO("max error " << dmax << " source pixels; exact " << exact << " of " << all << "; NaN "
                          << nan);
        CHECK(nan_differ == 0);
        CHECK(dmax <= ROW_TOL);
        CHECK(static_cast<double>(exact) <= k.max_exact * static_cast<double>(all));
        if (std::string(k.name) == "orthographic") {
            CHECK(nan > all / 10); // the horizon is inside the rows
        }
        WARN(k.name << ": max error " << dmax << " source pixels, exact " << exact << " of " << all
                    << ", NaN " << nan);
    }
    // tol 0: every pixel exact
    const baims::io::LonLatToCrs to_src(cases[0].crs);
    const baims::grid::Grid out(cases[0].region, 200, 10);
    RowPositions r;
    project_row_positions(to_src, out.x_centers(), 60.0, 1100.0, 1100.0, 0.0, r);
    CHECK(std::count(r.exact.begin(), r.exact.end(), 1) == 200);
}

TEST_CASE("used_window bounds exactly the source cells a map reads", "[cube][projected]") {
    // A 300 x 200 LCC source of 7.3 km whose middle part the output covers.
    baims::io::ProjectedAxes src;
    src.crs = "+proj=lcc +lat_1=55 +lat_2=64 +lat_0=59.5 +lon_0=20 +R=6371229 +type=crs";
    const size_t W = 300, H = 200;
    for (size_t i = 0; i < W; ++i) {
        src.x.push_back((static_cast<double>(i) - (W - 1) / 2.0) * 7300.0);
    }
    for (size_t i = 0; i < H; ++i) {
        src.y.push_back(-(static_cast<double>(i) - (H - 1) / 2.0) * 7300.0);
    }
    const baims::grid::Grid out({14.0, 56.0, 26.0, 62.0}, 240, 120);
    // The brute-force window of flat indices, grown by `grow` cells on every side.
    auto brute = [&](const auto& flat, size_t grow) {
        size_t r0 = H, r1 = 0, c0 = W, c1 = 0;
        for (const auto i : flat) {
            if (i >= 0) {
                const auto r = static_cast<size_t>(i) / W, c = static_cast<size_t>(i) % W;
                r0 = std::min(r0, r);
                r1 = std::max(r1, r + 1);
                c0 = std::min(c0, c);
                c1 = std::max(c1, c + 1);
            }
        }
        return baims::io::Window{r0 - grow, std::min(H, r1 + grow), c0 - grow,
                                 std::min(W, c1 + grow)};
    };
    auto same = [](const baims::io::Window& a, const baims::io::Window& b) {
        return a.row0 == b.row0 && a.row1 == b.row1 && a.col0 == b.col0 && a.col1 == b.col1;
    };
    const SourceMap mn = map_projected(src, out, Resampling::Nearest, serial);
    const auto wn = used_window(mn, H, W, serial);
    const auto bn = brute(std::get<PixelMap>(mn).nearest, 0);
    CHECK(same(wn, bn));
    // The output lies well inside the source: the window is a real part of it.
    CHECK(wn.row0 > 20);
    CHECK(wn.row1 < H - 20);
    CHECK(wn.col0 > 40);
    CHECK(wn.col1 < W - 40);
    const SourceMap mb = map_projected(src, out, Resampling::Bilinear, serial);
    CHECK(same(used_window(mb, H, W, serial), brute(std::get<PixelMap>(mb).lo, 1)));
    const SourceMap ma = map_projected(src, out, Resampling::Average, serial);
    CHECK(same(used_window(ma, H, W, serial), brute(std::get<PixelMap>(ma).idx, 0)));

    // A map that reads nothing: an empty window.
    const baims::grid::Grid far({-80.0, -40.0, -70.0, -30.0}, 10, 10);
    CHECK(used_window(map_projected(src, far, Resampling::Nearest, serial), H, W, serial).empty());

    // Separable: rows 10..29 (descending latitudes), columns 5..14 of a 1-degree grid.
    baims::io::LatLonAxes ll;
    for (int i = 0; i < 40; ++i) {
        ll.lat.push_back(69.5 - i);
    }
    for (int i = 0; i < 30; ++i) {
        ll.lon.push_back(-9.5 + i);
    }
    const baims::grid::Grid sub({-5.0, 40.0, 5.0, 60.0}, 20, 40);
    const auto ws = used_window(
        map_source(baims::io::Geometry{ll}, sub, Resampling::Nearest, serial), 40, 30, serial);
    CHECK(same(ws, baims::io::Window{10, 30, 5, 15}));
}

// A swath of one quad folded into a dart (as cells can be at a swath's folded edge): corners
// (0,0) at (0, 0), (0,1) at (1, 0), (1,0) at (0, 1) and (1,1) pushed in to (0.3, 0.3), onto
// 0.01-degree pixels over [0, 1]^2. The quad is not convex, its bilinear map has two roots near
// the unit square, and Newton's method from the quad's centre ends at the one outside [0, 1]^2 for
// 374 of the 2990 centres inside the dart by more than 1e-3 (counted with numpy): those were
// left without a value. Now each of them is held, and its bilinear weights map back onto it.
TEST_CASE("swath: every centre inside a folded (non-convex) quad is held", "[cube][swath]") {
    baims::io::LatLon2D g;
    g.height = 2;
    g.width = 2;
    g.lon = {0.0, 1.0, 0.0, 0.3};
    g.lat = {0.0, 0.0, 1.0, 0.3};
    const baims::grid::Grid out({0.0, 0.0, 1.0, 1.0}, 100, 100);
    const auto bl = swath_map(g, out, Resampling::Bilinear);
    const auto nn = swath_map(g, out, Resampling::Nearest);
    using P = std::array<double, 2>;
    const std::array<P, 4> poly{P{0, 0}, P{1, 0}, P{0.3, 0.3}, P{0, 1}}; // around the dart
    auto seg_dist = [](const P& p, const P& u, const P& v) {
        const double wx = v[0] - u[0], wy = v[1] - u[1];
        const double t =
            std::clamp(((p[0] - u[0]) * wx + (p[1] - u[1]) * wy) / (wx * wx + wy * wy), 0.0, 1.0);
        return std::hypot(p[0] - u[0] - t * wx, p[1] - u[1] - t * wy);
    };
    auto inside = [&](const P& p) { // even-odd rule, and more than 1e-3 from every edge
        bool in = false;
        double dmin = 1e9;
        for (size_t i = 0; i < 4; ++i) {
            const P& u = poly[i];
            const P& v = poly[(i + 1) % 4];
            if ((u[1] > p[1]) != (v[1] > p[1]) &&
                u[0] + (p[1] - u[1]) * (v[0] - u[0]) / (v[1] - u[1]) > p[0]) {
                in = !in;
            }
            dmin = std::min(dmin, seg_dist(p, u, v));
        }
        return in && dmin > 1e-3;
    };
    size_t n_inside = 0, held_bl = 0, held_nn = 0, weights_ok = 0;
    for (size_t row = 0; row < 100; ++row) {
        for (size_t col = 0; col < 100; ++col) {
            const P p{0.005 + 0.01 * static_cast<double>(col),
                      0.995 - 0.01 * static_cast<double>(row)};
            if (!inside(p)) {
                continue;
            }
            ++n_inside;
            const size_t o = row * 100 + col;
            held_nn += nn.nearest[o] >= 0;
            if (bl.lo[o] != 0) {
                continue;
            }
            ++held_bl;
            const double s = bl.wx[o], t = bl.wy[o];
            // P(s, t) = a + s (b - a) + t (c - a) + s t (a - b - c + d)
            const double x = s * 1.0 + t * 0.0 + s * t * (0.0 - 1.0 - 0.0 + 0.3);
            const double y = s * 0.0 + t * 1.0 + s * t * (0.0 - 0.0 - 1.0 + 0.3);
            weights_ok += std::abs(x - p[0]) < 1e-6 && std::abs(y - p[1]) < 1e-6 && s >= 0 &&
                          s <= 1 && t >= 0 && t <= 1;
        }
    }
    CHECK(n_inside == 2990);
    CHECK(held_bl == 2990);
    CHECK(held_nn == 2990);
    CHECK(weights_ok == 2990);
}

// Where all four neighbours of a pixel are NaN, the vector path gives the NaN of its column
// neighbour (v01), quieted: the NaN its formula propagates as main's build compiled it, kept
// whatever the payloads (signalling, negative, with bits set) and whichever way the group of four
// is computed (all four such lanes, or mixed with valid ones).
TEST_CASE("per-pixel bilinear keeps the column neighbour's NaN where all four are NaN",
          "[cube][projected]") {
    const size_t SW = 16, SH = 6;
    std::vector<float> src(SW * SH);
    for (size_t i = 0; i < src.size(); ++i) {
        // payloads: quiet and signalling, both signs, distinct low bits
        const std::uint32_t sign = (i % 3 == 0) ? 0x80000000u : 0u;
        const std::uint32_t quiet = (i % 4 == 1) ? 0u : 0x00400000u;
        const auto bits = sign | 0x7f800000u | quiet | static_cast<std::uint32_t>(i + 1);
        std::memcpy(&src[i], &bits, sizeof bits);
    }
    // row 4: valid values in its right half (mixed groups)
    for (size_t c = 8; c < SW; ++c) {
        src[4 * SW + c] = static_cast<float>(c);
        src[5 * SW + c] = static_cast<float>(c) + 0.5f;
    }
    PixelMap m;
    m.width = 12;
    m.height = 4;
    const size_t n = m.width * m.height;
    m.lo.resize(n);
    m.step.resize(n);
    m.wx.resize(n);
    m.wy.resize(n);
    for (size_t p = 0; p < n; ++p) {
        const size_t r = p / m.width, c = p % m.width;
        const size_t row = r + 1 + (r == 3 ? 1 : 0), col = c + (r == 3 ? 1 : 0);
        m.lo[p] = static_cast<std::int32_t>(row * SW + col);
        m.step[p] = static_cast<std::uint8_t>(r == 3 ? 2 : r % 2 == 0 ? 8 : (c % 5 == 0 ? 2 : 8));
        m.wx[p] = 0.25f + 0.05f * static_cast<float>(c % 3);
        m.wy[p] = 0.5f;
    }
    std::vector<float> out(n);
    resample_block(src.data(), SW, SourceMap{m}, Resampling::Bilinear, 0, m.height, 0, m.width,
                   out.data(), m.width);
    size_t checked = 0;
    for (size_t p = 0; p < n; ++p) {
        const auto lo = static_cast<size_t>(m.lo[p]);
        const std::ptrdiff_t dr = m.step[p] / 3 % 3 == 0 ? -16 : 16;
        const float v[4] = {src[lo], src[lo + 1], src[static_cast<size_t>(lo + dr)],
                            src[static_cast<size_t>(lo + dr + 1)]};
        if (!std::all_of(v, v + 4, [](float x) { return std::isnan(x); })) {
            continue;
        }
        std::uint32_t want, got;
        std::memcpy(&want, &v[1], sizeof want);
        want |= 0x00400000u;
        std::memcpy(&got, &out[p], sizeof got);
        INFO("pixel " << p);
        CHECK(got == want);
        ++checked;
    }
    CHECK(checked > 30);
}

// Pass 1's bilinear weights four at a time with AVX2 (when the CPU has it) against the scalar
// code on the same inputs: every (s, t) must be the same double (the bits), in the common case
// (a point inside a convex quad: the kernel's own answer) and in the cases the kernel leaves to
// the scalar code or must get right itself: points on corners and edges (0 and 1 exactly),
// just inside and just outside the 1e-9 margin, parallelograms (the linear closed form),
// degenerate quads (Newton's method fails), folded quads, NaN and huge corners, NaN points,
// symmetric quads (ties of the two roots' distances from 0.5), and counts that are not a
// multiple of 4 (the last group padded).
TEST_CASE("swath: AVX2 bilinear weights equal the scalar code's", "[cube][swath]") {
    const double NaN = std::numeric_limits<double>::quiet_NaN();
    std::vector<double> corners, points;
    auto quad = [&](std::array<double, 8> c, double px, double py) {
        corners.insert(corners.end(), c.begin(), c.end());
        points.push_back(px);
        points.push_back(py);
    };
    std::uint64_t seed = 12345;
    auto rnd = [&seed] { // [0, 1)
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<double>(seed >> 11) * 0x1.0p-53;
    };
    // Common case: slightly warped quads of ~0.003 degrees near (20, 60), points inside.
    for (int i = 0; i < 4000; ++i) {
        const double x0 = 20 + rnd(), y0 = 60 + rnd(), h = 0.003;
        std::array<double, 8> c{x0,
                                y0,
                                x0 + h * (1 + 0.2 * rnd()),
                                y0 + h * 0.1 * rnd(),
                                x0 + h * 0.1 * rnd(),
                                y0 - h * (1 + 0.2 * rnd()),
                                x0 + h * (1 + 0.2 * rnd()),
                                y0 - h * (1 + 0.2 * rnd())};
        const double s = rnd(), t = rnd();
        const double px =
            (1 - s) * (1 - t) * c[0] + s * (1 - t) * c[2] + (1 - s) * t * c[4] + s * t * c[6];
        const double py =
            (1 - s) * (1 - t) * c[1] + s * (1 - t) * c[3] + (1 - s) * t * c[5] + s * t * c[7];
        quad(c, px, py);
    }
    const size_t common = points.size() / 2;
    const std::array<double, 8> sq{0, 1, 1, 1, 0, 0, 1, 0};      // unit square, y down
    const std::array<double, 8> par{0, 0, 2, 0.5, 1, 1, 3, 1.5}; // parallelogram
    const std::array<double, 8> warped{0, 0, 1.1, 0.1, -0.1, 1, 1.2, 1.3};
    // Corners and edges, exactly and by 1e-9 +- a little either side.
    for (const auto& c : {sq, par, warped}) {
        for (const double s :
             {0.0, -0.0, 1.0, 0.5, 1e-10, -1e-10, -2e-9, 1 + 1e-10, 1 + 2e-9, -0.3, 1.4}) {
            for (const double t : {0.0, 1.0, 0.25, -1e-10, -2e-9, 1 + 2e-9, 2.0}) {
                const double px = (1 - s) * (1 - t) * c[0] + s * (1 - t) * c[2] +
                                  (1 - s) * t * c[4] + s * t * c[6];
                const double py = (1 - s) * (1 - t) * c[1] + s * (1 - t) * c[3] +
                                  (1 - s) * t * c[5] + s * t * c[7];
                quad(c, px, py);
            }
        }
        for (int k = 0; k < 4; ++k) {
            quad(c, c[2 * k], c[2 * k + 1]); // the corners themselves
        }
    }
    // Degenerate: a point, a segment, a triangle (two corners equal).
    quad({1, 1, 1, 1, 1, 1, 1, 1}, 1, 1);
    quad({0, 0, 1, 1, 2, 2, 3, 3}, 1.5, 1.5);
    quad({0, 0, 1, 0, 0, 1, 0, 1}, 0.2, 0.2);
    // Folded (bow-tie) quads: the two roots, one of them inside.
    quad({0, 0, 1, 0, 1, 1, 0, 1}, 0.5, 0.25);
    quad({0, 0, 1, 0, 1, 1, 0, 1}, 0.5, 0.5);
    quad({0, 0, 2, 0, 0, 1, 0.5, 0.2}, 0.3, 0.1);
    // Symmetric quad (trapezoid): the two roots' distances from 0.5 may tie.
    quad({0, 0, 1, 0, -1, 1, 2, 1}, 0.5, 0.5);
    quad({0, 0, 1, 0, -1, 1, 2, 1}, 0.5, 0.0);
    // NaN and huge corners, NaN and infinite points.
    quad({NaN, 0, 1, 0, 0, 1, 1, 1}, 0.5, 0.5);
    quad({0, 0, 1, NaN, 0, 1, 1, 1}, 0.5, 0.5);
    quad({0, 0, 1e300, 0, 0, 1e300, 1e300, 1e300}, 1e299, 1e299);
    quad({0, 0, 1e-300, 0, 0, 1e-300, 1e-300, 1e-300}, 5e-301, 5e-301);
    quad(sq, NaN, 0.5);
    quad(sq, 0.5, std::numeric_limits<double>::infinity());
    quad({-0.0, -0.0, 1, -0.0, -0.0, 1, 1, 1}, -0.0, -0.0);
    const size_t n_all = points.size() / 2;
    // Every count 1..9 (padded groups) and the whole set.
    for (const size_t n :
         {size_t{1}, size_t{2}, size_t{3}, size_t{5}, size_t{7}, size_t{9}, common, n_all}) {
        for (const size_t from : {size_t{0}, common - 1}) {
            if (from + n > n_all) {
                continue;
            }
            INFO("n " << n << " from " << from);
            std::vector<double> s0(n), t0(n), s1(n), t1(n);
            CHECK(detail::swath_weights(corners.data() + 8 * from, points.data() + 2 * from, n,
                                        false, s0.data(), t0.data()) == 0);
            const size_t answered = detail::swath_weights(
                corners.data() + 8 * from, points.data() + 2 * from, n, true, s1.data(), t1.data());
            size_t differ = 0;
            for (size_t i = 0; i < n; ++i) {
                differ += std::memcmp(&s0[i], &s1[i], sizeof(double)) != 0 ||
                          std::memcmp(&t0[i], &t1[i], sizeof(double)) != 0;
            }
            CHECK(differ == 0);
            if (__builtin_cpu_supports("avx2")) {
                // The kernel answers the common case itself (not all by the fallback).
                if (from == 0 && n == common) {
                    CHECK(answered > common * 9 / 10);
                }
                if (from == common - 1 && n == n_all - from) {
                    CHECK(answered < n); // the odd cases are left to the scalar code
                }
            } else {
                CHECK(answered == 0);
            }
        }
    }
    // The scalar weights of the common case put the point back where it was (the kernel's are
    // the same doubles, checked above).
    std::vector<double> s(common), t(common);
    detail::swath_weights(corners.data(), points.data(), common, true, s.data(), t.data());
    size_t far = 0;
    for (size_t i = 0; i < common; ++i) {
        const double* c = corners.data() + 8 * i;
        const double px = (1 - s[i]) * (1 - t[i]) * c[0] + s[i] * (1 - t[i]) * c[2] +
                          (1 - s[i]) * t[i] * c[4] + s[i] * t[i] * c[6];
        const double py = (1 - s[i]) * (1 - t[i]) * c[1] + s[i] * (1 - t[i]) * c[3] +
                          (1 - s[i]) * t[i] * c[5] + s[i] * t[i] * c[7];
        far += std::abs(px - points[2 * i]) + std::abs(py - points[2 * i + 1]) > 1e-12;
    }
    CHECK(far == 0);
}

// Pass 1's pre-scan of a row of quads four at a time with AVX2 (when the CPU has it) against the
// SSE2 and scalar code on the same rounded bounds: the same bounds (bits) and candidates, for
// rows of every length 1..70 (the AVX2 loop's tails), with and without 360-degree shifts,
// with bounds on the grid's edges (0, oh1, ow1), just beyond them, empty boxes (ceil > floor),
// and signed zeros.
TEST_CASE("swath: AVX2 pre-scan of a row of quads equals the SSE2 and scalar code's",
          "[cube][swath]") {
    std::uint64_t seed = 987;
    auto pick = [&seed](std::initializer_list<double> v) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        return *(v.begin() + static_cast<size_t>((seed >> 33) % v.size()));
    };
    const double oh1 = 9, ow1 = 12;
    size_t total_cand = 0, total_quads = 0;
    for (size_t nq = 1; nq <= 70; ++nq) {
        const size_t nc = nq + 1;
        for (const bool shifts : {false, true}) {
            for (int rep = 0; rep < 20; ++rep) {
                // Per cell ceil(u), floor(u), ceil(v), floor(v) (two rows of nc cells). Even
                // reps: spread values, floor at or one below ceil (most boxes hold a centre);
                // odd reps: cells close together as in a swath finer than the grid (floor one
                // below ceil: a box without a centre unless its corners differ), near the edges.
                std::vector<double> cu(2 * nc), fu(2 * nc), cv(2 * nc), fv(2 * nc);
                const double bu = pick({-1, 0, 5, 9, 10}), bv = pick({-1, 0, 6, 12, 13});
                for (size_t k = 0; k < 2 * nc; ++k) {
                    if (rep % 2 == 0) {
                        const double u = pick({-2, -1, -0.0, 0, 1, 4, 8, 9, 10, 11});
                        const double v = pick({-3, -1, 0, -0.0, 2, 11, 12, 13, 20});
                        cu[k] = u;
                        fu[k] = u - pick({0, 1});
                        cv[k] = v;
                        fv[k] = v - pick({0, 1});
                    } else {
                        cu[k] = bu + pick({0, 0, 0, 1});
                        fu[k] = cu[k] - 1;
                        cv[k] = bv + pick({0, 0, 0, 1});
                        fv[k] = cv[k] - 1;
                    }
                }
                std::vector<double> qb0(4 * nq), qb1(4 * nq);
                std::vector<std::uint32_t> c0(nq), c1(nq);
                const size_t n0 =
                    detail::swath_quad_boxes(cu.data(), fu.data(), cv.data(), fv.data(), nc, nq,
                                             shifts, oh1, ow1, false, qb0.data(), c0.data());
                const size_t n1 =
                    detail::swath_quad_boxes(cu.data(), fu.data(), cv.data(), fv.data(), nc, nq,
                                             shifts, oh1, ow1, true, qb1.data(), c1.data());
                INFO("nq " << nq << " shifts " << shifts << " rep " << rep);
                REQUIRE(n0 == n1);
                CHECK(std::memcmp(qb0.data(), qb1.data(), qb0.size() * sizeof(double)) == 0);
                CHECK(std::equal(c0.begin(), c0.begin() + static_cast<std::ptrdiff_t>(n0),
                                 c1.begin()));
                // The candidates against the box test written out (scalar, per quad).
                size_t expect = 0;
                for (size_t j = 0; j < nq; ++j) {
                    const double r0 = std::min({cu[j], cu[j + 1], cu[nc + j], cu[nc + j + 1]});
                    const double r1 = std::max({fu[j], fu[j + 1], fu[nc + j], fu[nc + j + 1]});
                    const double cl = std::min({cv[j], cv[j + 1], cv[nc + j], cv[nc + j + 1]});
                    const double ch = std::max({fv[j], fv[j + 1], fv[nc + j], fv[nc + j + 1]});
                    const bool in = r1 >= 0 && r0 <= oh1 && r0 <= r1 &&
                                    ((ch >= 0 && cl <= ow1 && cl <= ch) || shifts);
                    if (in) {
                        CHECK(expect < n0);
                        if (expect < n0) {
                            CHECK(c0[expect] == j);
                        }
                        ++expect;
                    }
                    CHECK(qb0[4 * j] == r0);
                    CHECK(qb0[4 * j + 3] == ch);
                }
                CHECK(expect == n0);
                total_cand += n0;
                total_quads += nq;
            }
        }
    }
    // Both kinds of quads occur.
    CHECK(total_cand > total_quads / 10);
    CHECK(total_cand < total_quads * 9 / 10);
}

// The per-claim kernels of the walk's AVX2 copy (resample_swath_avx2.cpp: dist16 and
// first_smallest four-wide, Hull with its four edges in one register, unpack_run four at a time)
// against the baseline copy's SSE2 code and against the answers written out here: the same n,
// the same hull answers, the same doubles.
TEST_CASE("swath: the walk's AVX2 kernels equal the baseline's", "[cube][swath]") {
    const double NaN = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    std::uint64_t seed = 4242;
    auto pick = [&seed](std::initializer_list<double> v) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        return *(v.begin() + static_cast<size_t>((seed >> 33) % v.size()));
    };
    const bool copy = detail::swath_avx2_copy();
    SECTION("nearest of 4x4 cells: the first smallest distance, NaN never, -1 when none") {
        const size_t stride = 6; // the window is wider than the 4 columns
        size_t found = 0, none = 0, ties = 0;
        for (int rep = 0; rep < 4000; ++rep) {
            std::vector<double> x(4 * stride, 99.0), y(4 * stride, 99.0);
            // Few distinct values: ties between cells, signed zeros, NaN and far cells.
            for (size_t j = 0; j < 4; ++j) {
                for (size_t k = 0; k < 4; ++k) {
                    x[j * stride + k] = pick({0.0, -0.0, 1.0, 2.0, -1.0, NaN, 1e300, 0.5});
                    y[j * stride + k] = pick({0.0, -0.0, 1.0, -1.0, NaN, 1e300, 0.25});
                }
            }
            if (rep % 97 == 0) { // every cell NaN or far: none
                for (double& v : x) {
                    v = pick({NaN, 1e300});
                }
            }
            const double px = pick({0.0, -0.0, 0.5, 1.0}), py = pick({0.0, 0.25, -0.0});
            const double kx = pick({1.0, 0.5, 0.7});
            // The loop the kernels stand for.
            double best = inf;
            int expect = -1, at_best = 0;
            for (int n = 0; n < 16; ++n) {
                const size_t w = static_cast<size_t>(n / 4) * stride + static_cast<size_t>(n % 4);
                const double ddx = (x[w] - px) * kx, ddy = y[w] - py;
                const double d = ddx * ddx + ddy * ddy;
                if (d < best) {
                    best = d;
                    expect = n;
                }
            }
            for (int n = 0; n < 16; ++n) {
                const size_t w = static_cast<size_t>(n / 4) * stride + static_cast<size_t>(n % 4);
                const double ddx = (x[w] - px) * kx, ddy = y[w] - py;
                at_best += ddx * ddx + ddy * ddy == best;
            }
            INFO("rep " << rep);
            const int base = detail::swath_nearest16(x.data(), y.data(), stride, px, py, kx, false);
            CHECK(base == expect);
            if (copy) {
                CHECK(detail::swath_nearest16(x.data(), y.data(), stride, px, py, kx, true) ==
                      expect);
            }
            found += expect >= 0;
            none += expect < 0;
            ties += expect >= 0 && at_best > 1;
        }
        // The cases above occur: found, none, and ties (the first of them must be chosen).
        CHECK(found > 3000);
        CHECK(none > 20);
        CHECK(ties > 500);
    }
    SECTION("hull pre-test of the quad's corners") {
        // The unit square (corners a, b, c, d = (r, c), (r, c+1), (r+1, c), (r+1, c+1)).
        const std::vector<double> sq{0, 0, 1, 0, 0, 1, 1, 1};
        for (const bool avx2 : {false, true}) {
            CHECK(detail::swath_hull(sq.data(), 2, 0.5, 0.5, avx2) == 2);  // inside
            CHECK(detail::swath_hull(sq.data(), 2, 1.5, 0.5, avx2) == 0);  // outside
            CHECK(detail::swath_hull(sq.data(), 2, 0.5, -0.5, avx2) == 0); // outside
            CHECK(detail::swath_hull(sq.data(), 2, 1.0, 0.5, avx2) == 1);  // on an edge
            // Within the margin (1e-6 of the size) outside an edge: maybe.
            CHECK(detail::swath_hull(sq.data(), 2, 0.5, 1 + 1e-7, avx2) == 1);
            // A bow-tie (not convex): always maybe.
            const std::vector<double> bow{0, 0, 1, 0, 1, 1, 0, 1};
            CHECK(detail::swath_hull(bow.data(), 2, 5, 5, avx2) == 1);
        }
        std::array<size_t, 3> answers{};
        for (int rep = 0; rep < 20000; ++rep) {
            // Quads of a few corner values (convex either way round, folded, degenerate, NaN)
            // and points on, near and across their edges.
            std::vector<double> c(8);
            for (double& v : c) {
                v = pick({0.0, 1.0, 2.0, 3.0, 0.5, -1.0, 1e-7});
            }
            if (rep % 211 == 0) {
                c[static_cast<size_t>(rep) % 8] = NaN;
            }
            const double size = pick({1.0, 4.0, 0.0});
            const double px = pick({0.0, 0.5, 1.0, 1.5, 2.0, 1 + 1e-7, -1e-7, 1e-6});
            const double py = pick({0.0, 0.5, 1.0, 1.5, 2.0, 1 - 1e-7, 2 + 1e-9});
            INFO("rep " << rep);
            const int base = detail::swath_hull(c.data(), size, px, py, false);
            REQUIRE((base >= 0 && base <= 2));
            ++answers[static_cast<size_t>(base)];
            if (copy) {
                CHECK(detail::swath_hull(c.data(), size, px, py, true) == base);
            }
        }
        CHECK(answers[0] > 1000); // each answer occurs
        CHECK(answers[1] > 1000);
        CHECK(answers[2] > 100);
    }
    SECTION("decoding packed positions") {
        for (size_t n = 0; n <= 13; ++n) {
            std::vector<std::int32_t> p(n);
            for (size_t i = 0; i < n; ++i) {
                p[i] =
                    static_cast<std::int32_t>(pick({0, 1, -1, 53123456, -179999999, 2147483647}));
                if (pick({0, 0, 1}) == 1) {
                    p[i] = baims::io::LatLon2D::PACKED_NONE;
                }
            }
            for (const bool avx2 : {false, true}) {
                std::vector<double> out(n + 1, -7.0);
                detail::swath_unpack(p.data(), n, 1e-6, 0.5, avx2, out.data());
                INFO("n " << n << " avx2 " << avx2);
                for (size_t i = 0; i < n; ++i) {
                    if (p[i] == baims::io::LatLon2D::PACKED_NONE) {
                        CHECK(std::isnan(out[i]));
                    } else {
                        const double expect = static_cast<double>(p[i]) * 1e-6 + 0.5;
                        CHECK(std::memcmp(&out[i], &expect, sizeof(double)) == 0);
                    }
                }
                CHECK(out[n] == -7.0); // nothing written beyond n
            }
        }
    }
    SECTION("per-cell set-up of a row: positions, rounded u and v, odd, x bounds") {
        // Output extent ymax 10, xmin -4, pixels 0.5 x 0.25: u = (10 - y) / 0.5 - 0.5,
        // v = (x + 4) / 0.25 - 0.5. Positions on centres (u, v whole numbers), between them,
        // around u = 0 (a ceiling of -0 or +0), around 2^31 (the truncation to int32 no longer
        // exact: floor_ceil's own path), beyond 1e15 (std::floor), beyond 1e300, inf and NaN
        // (odd), signed zeros in x (the bounds).
        const double ymax = 10, xmin = -4, dy = 0.5, dx = 0.25;
        const double y_big = ymax - (2147483647.0 + 0.5) * dy; // u = 2^31 - 1
        size_t odd_rows = 0, fine_rows = 0, far_cells = 0, cells = 0;
        for (size_t nc = 1; nc <= 70; ++nc) {
            for (int rep = 0; rep < 12; ++rep) {
                std::vector<double> x(nc), y(nc);
                for (size_t j = 0; j < nc; ++j) {
                    // Most rows of ordinary cells; some with a far (rep 3, 7) or odd (rep 5,
                    // 11) cell among them.
                    x[j] = pick({-4.0, -3.875, -3.9, 0.0, -0.0, 1.3, 2.125, 7.0, -5.5});
                    y[j] = pick({9.75, 9.8, 10.0, 9.5, 3.3, 0.0, -2.25, 12.0});
                    if (rep % 4 == 3 && pick({0, 0, 0, 1}) == 1) {
                        y[j] = pick({y_big, y_big - 1, y_big + 1, -y_big, -1e16, 3e15});
                        x[j] = pick({x[j], 1e9, -1e9 + 0.1});
                    }
                    if (rep % 6 == 5 && pick({0, 0, 0, 0, 1}) == 1) {
                        x[j] = pick({NaN, inf, -inf, 1e301, x[j]});
                        y[j] = pick({NaN, y[j], -1e305});
                    }
                }
                bool odd_expect = false;
                double lo_expect = 1.5, hi_expect = -2.5; // the bounds given, lowered and raised
                for (size_t j = 0; j < nc; ++j) {
                    const double u = (ymax - y[j]) / dy - 0.5, v = (x[j] - xmin) / dx - 0.5;
                    odd_expect = odd_expect || !(std::abs(u) < 1e300) || !(std::abs(v) < 1e300);
                    far_cells += std::abs(u) >= 2147483647.0 && std::abs(u) < 1e300;
                    if (x[j] < lo_expect) {
                        lo_expect = x[j];
                    }
                    if (x[j] > hi_expect) {
                        hi_expect = x[j];
                    }
                }
                odd_rows += odd_expect;
                fine_rows += !odd_expect;
                cells += nc;
                std::array<std::vector<double>, 2> ps, fu, cu, fv, cv;
                std::array<bool, 2> odd{};
                std::array<double, 2> lo{}, hi{};
                for (size_t a = 0; a < 2; ++a) {
                    const bool avx2 = a == 1;
                    // One element more than the row: nothing may be written there.
                    ps[a].assign(2 * nc + 1, -7.0);
                    fu[a].assign(nc + 1, -7.0);
                    cu[a].assign(nc + 1, -7.0);
                    fv[a].assign(nc + 1, -7.0);
                    cv[a].assign(nc + 1, -7.0);
                    odd[a] = false;
                    lo[a] = 1.5;
                    hi[a] = -2.5;
                    detail::swath_cell_row(x.data(), y.data(), nc, ymax, xmin, dy, dx, avx2,
                                           ps[a].data(), fu[a].data(), cu[a].data(), fv[a].data(),
                                           cv[a].data(), odd[a], lo[a], hi[a]);
                    INFO("nc " << nc << " rep " << rep << " avx2 " << avx2);
                    CHECK(odd[a] == odd_expect);
                    CHECK(lo[a] == lo_expect);
                    CHECK(hi[a] == hi_expect);
                    for (size_t j = 0; j < nc; ++j) {
                        INFO("j " << j << " x " << x[j] << " y " << y[j]);
                        CHECK(std::memcmp(&ps[a][2 * j], &x[j], sizeof(double)) == 0);
                        CHECK(std::memcmp(&ps[a][2 * j + 1], &y[j], sizeof(double)) == 0);
                        const double u = (ymax - y[j]) / dy - 0.5, v = (x[j] - xmin) / dx - 0.5;
                        // std::floor and std::ceil up to the sign of a zero (NaN for NaN).
                        const auto same = [](double got, double want) {
                            return got == want || (std::isnan(got) && std::isnan(want));
                        };
                        CHECK(same(fu[a][j], std::floor(u)));
                        CHECK(same(cu[a][j], std::ceil(u)));
                        CHECK(same(fv[a][j], std::floor(v)));
                        CHECK(same(cv[a][j], std::ceil(v)));
                    }
                    CHECK(ps[a][2 * nc] == -7.0);
                    CHECK(fu[a][nc] == -7.0);
                    CHECK(cu[a][nc] == -7.0);
                    CHECK(fv[a][nc] == -7.0);
                    CHECK(cv[a][nc] == -7.0);
                }
                if (copy) {
                    // The AVX2 copy gives the same doubles, bit for bit (signed zeros too).
                    INFO("nc " << nc << " rep " << rep);
                    CHECK(std::memcmp(fu[0].data(), fu[1].data(), nc * sizeof(double)) == 0);
                    CHECK(std::memcmp(cu[0].data(), cu[1].data(), nc * sizeof(double)) == 0);
                    CHECK(std::memcmp(fv[0].data(), fv[1].data(), nc * sizeof(double)) == 0);
                    CHECK(std::memcmp(cv[0].data(), cv[1].data(), nc * sizeof(double)) == 0);
                }
            }
        }
        // The cases above occur: rows with and without an odd cell, cells beyond int32.
        CHECK(odd_rows > 50);
        CHECK(fine_rows > 500);
        CHECK(far_cells > 200);
        CHECK(cells > 20000);
    }
}

TEST_CASE("compact_nearest: the map reads the cells it uses, in flat order, and resamples the "
          "same values from them",
          "[cube][swath]") {
    // A 6 x 11 source (66 cells) and an output of 5 x 7 pixels: cells taken by several pixels
    // (12), pixels outside the footprint (-1), the first and the last cell, a word boundary (64).
    const size_t SH = 6, SW = 11, OH = 5, OW = 7;
    PixelMap m;
    m.width = OW;
    m.height = OH;
    const std::vector<std::int32_t> full = {12, 12, -1, 0,  65, 64, 63, //
                                            3,  4,  5,  -1, -1, 12, 40, //
                                            40, 41, 42, 43, 44, 45, 46, //
                                            -1, -1, -1, -1, -1, -1, -1, //
                                            7,  7,  7,  30, 31, 63, 64};
    m.nearest.assign(full.begin(), full.end());
    std::vector<float> src(SH * SW);
    for (size_t i = 0; i < src.size(); ++i) {
        src[i] = static_cast<float>(i) * 0.5f - 3.0f;
    }
    src[41] = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> want(OH * OW, -7.0f);
    resample_block(src.data(), SW, SourceMap{m}, Resampling::Nearest, 0, OH, 0, OW, want.data(),
                   OW);
    const auto window = used_window(SourceMap{m}, SH, SW, serial);

    compact_nearest(m, SH, SW, serial);
    REQUIRE(m.cells);
    // the distinct cells, ascending: 0 3 4 5 7 12 30 31 40 .. 46 63 64 65
    const std::vector<std::int32_t> used = {0,  3,  4,  5,  7,  12, 30, 31, 40,
                                            41, 42, 43, 44, 45, 46, 63, 64, 65};
    CHECK(m.cells->size == SH * SW);
    REQUIRE(m.cells->count == used.size());
    for (size_t i = 0; i < SH * SW; ++i) {
        const auto it = std::find(used.begin(), used.end(), static_cast<std::int32_t>(i));
        CHECK(m.cells->has(i) == (it != used.end()));
    }
    for (size_t k = 0; k < full.size(); ++k) {
        const std::int32_t want_k =
            full[k] < 0 ? -1
                        : static_cast<std::int32_t>(std::find(used.begin(), used.end(), full[k]) -
                                                    used.begin());
        CHECK(m.nearest[k] == want_k);
    }
    // the window of the cells in use, as before
    REQUIRE(m.window.has_value());
    CHECK(m.window->row0 == window.row0);
    CHECK(m.window->row1 == window.row1);
    CHECK(m.window->col0 == window.col0);
    CHECK(m.window->col1 == window.col1);
    // the values of those cells only (what read_cells gives), resampled: the same bits
    std::vector<float> compact;
    m.cells->for_each_in(0, SH * SW, [&](size_t i, size_t k) {
        CHECK(k == compact.size());
        compact.push_back(src[i]);
    });
    REQUIRE(compact.size() == used.size());
    std::vector<float> got(OH * OW, -8.0f);
    resample_block(compact.data(), SW, SourceMap{m}, Resampling::Nearest, 0, OH, 0, OW, got.data(),
                   OW);
    CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
    // for_each_in over a part of the cells: ranks continue from the part's first cell
    std::vector<std::pair<size_t, size_t>> part;
    m.cells->for_each_in(5, 44, [&](size_t i, size_t k) { part.emplace_back(i, k); });
    REQUIRE(part.size() == 9); // 5 7 12 30 31 40 41 42 43
    CHECK(part.front() == std::make_pair(size_t{5}, size_t{3}));
    CHECK(part.back() == std::make_pair(size_t{43}, size_t{11}));
    // empty ranges, a range inside one word, one ending at a word boundary, one across it
    const auto list = [&](size_t a, size_t b) {
        std::vector<std::pair<size_t, size_t>> l;
        m.cells->for_each_in(a, b, [&](size_t i, size_t k) { l.emplace_back(i, k); });
        return l;
    };
    CHECK(list(12, 12).empty());
    CHECK(list(8, 12).empty());
    CHECK(list(12, 13) == std::vector<std::pair<size_t, size_t>>{{12, 5}});
    CHECK(list(46, 64) == std::vector<std::pair<size_t, size_t>>{{46, 14}, {63, 15}});
    CHECK(list(63, 66) == std::vector<std::pair<size_t, size_t>>{{63, 15}, {64, 16}, {65, 17}});
}
