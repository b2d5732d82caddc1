// The curvilinear reader's derived field (io::LatLon2D::lon_row_jump), found while
// the chunks are decoded, and map_swath with and without them: swaths written here as NetCDF-4
// with int32 lat/lon in deflated chunks of 4 x 5 cells (the reader's direct path), one that
// crosses the antimeridian between two chunk columns and one between two chunk rows.

#include "baims/cube/resample.hpp"
#include "baims/io/input.hpp"

#include <catch2/catch.hpp>
#include <netcdf.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <unistd.h>
#include <utility>
#include <vector>

using namespace baims;

namespace {

void serial(size_t n, const std::function<void(size_t)>& task) {
    for (size_t i = 0; i < n; ++i) {
        task(i);
    }
}

void ok(int status) {
    if (status != NC_NOERR) {
        FAIL(nc_strerror(status));
    }
}

constexpr size_t H = 10, W = 13;
constexpr std::int32_t FILL = -999999999;

// A swath file of h x w cells: lat/lon(y, x) stored as int32 * 1e-6 (packed) or as the doubles
// they decode to, in chunks of 4 x 5 (or `chunk`; {0, 0}: contiguous), deflated; FILL is lat's
// and lon's _FillValue. One float variable v.
void write_swath(const std::filesystem::path& path, const std::vector<std::int32_t>& lat,
                 const std::vector<std::int32_t>& lon, bool packed, double scale, size_t h = H,
                 size_t w = W, std::array<size_t, 2> chunk = {4, 5}) {
    int id = 0, dims[2], vlat = 0, vlon = 0, vv = 0;
    ok(nc_create(path.c_str(), NC_NETCDF4 | NC_CLOBBER, &id));
    ok(nc_def_dim(id, "y", h, &dims[0]));
    ok(nc_def_dim(id, "x", w, &dims[1]));
    const std::string start = "01-APR-2017 10:27:29.454657", stop = "01-APR-2017 10:30:29.454657";
    ok(nc_put_att_text(id, NC_GLOBAL, "start_date", start.size(), start.c_str()));
    ok(nc_put_att_text(id, NC_GLOBAL, "stop_date", stop.size(), stop.c_str()));
    for (auto [name, units, var] :
         {std::tuple{"lat", "degrees_north", &vlat}, std::tuple{"lon", "degrees_east", &vlon}}) {
        ok(nc_def_var(id, name, packed ? NC_INT : NC_DOUBLE, 2, dims, var));
        if (chunk[0] > 0) {
            ok(nc_def_var_chunking(id, *var, NC_CHUNKED, chunk.data()));
            ok(nc_def_var_deflate(id, *var, 1, 1, 1));
        } else {
            ok(nc_def_var_chunking(id, *var, NC_CONTIGUOUS, nullptr));
        }
        ok(nc_put_att_text(id, *var, "units", std::string(units).size(), units));
        if (packed) {
            ok(nc_put_att_double(id, *var, "scale_factor", NC_DOUBLE, 1, &scale));
            ok(nc_put_att_int(id, *var, "_FillValue", NC_INT, 1, &FILL));
        }
    }
    ok(nc_def_var(id, "v", NC_FLOAT, 2, dims, &vv));
    ok(nc_enddef(id));
    if (packed) {
        ok(nc_put_var_int(id, vlat, lat.data()));
        ok(nc_put_var_int(id, vlon, lon.data()));
    } else {
        // NaN where lat or lon is FILL (no position, as the packed file's)
        std::vector<double> a(h * w), b(h * w);
        for (size_t i = 0; i < h * w; ++i) {
            a[i] = lat[i] == FILL ? std::nan("") : static_cast<double>(lat[i]) * scale;
            b[i] = lon[i] == FILL ? std::nan("") : static_cast<double>(lon[i]) * scale;
        }
        ok(nc_put_var_double(id, vlat, a.data()));
        ok(nc_put_var_double(id, vlon, b.data()));
    }
    std::vector<float> v(h * w, 1.0f);
    ok(nc_put_var_float(id, vv, v.data()));
    ok(nc_close(id));
}

io::LatLon2D read_swath(const std::filesystem::path& path) {
    auto in = io::open_input("curvilinear", path);
    return std::get<io::LatLon2D>(in->take_geometry());
}

// The largest |difference| of row r's cells with their right and lower neighbours, as
// LatLon2D::lon_row_jump defines it (the integers as stored, PACKED_NONE included).
std::vector<std::uint32_t> want_jumps(const io::LatLon2D& g) {
    std::vector<std::uint32_t> j(H, 0);
    const auto d = [](std::int64_t a, std::int64_t b) {
        return static_cast<std::uint32_t>(std::llabs(a - b));
    };
    for (size_t r = 0; r < H; ++r) {
        for (size_t c = 0; c < W; ++c) {
            const std::int32_t x = g.lon_packed[r * W + c];
            if (c + 1 < W) {
                j[r] = std::max(j[r], d(x, g.lon_packed[r * W + c + 1]));
            }
            if (r + 1 < H) {
                j[r] = std::max(j[r], d(x, g.lon_packed[(r + 1) * W + c]));
            }
        }
    }
    return j;
}

// Every entry of two maps equal (nearest: the cell; bilinear: corner, step and weights).
void same_map(const cube::PixelMap& a, const cube::PixelMap& b) {
    CHECK(a.nearest == b.nearest);
    CHECK(a.lo == b.lo);
    CHECK(a.step == b.step);
    CHECK(a.wx == b.wx);
    CHECK(a.wy == b.wy);
}

cube::PixelMap map(const io::LatLon2D& g, const grid::Grid& out, cube::Resampling m) {
    return cube::map_swath(g, out, m, serial);
}

// The output pixels east of `x0` that the nearest map gives a cell.
size_t east_of(const cube::PixelMap& m, const grid::Grid& out, double x0) {
    size_t n = 0;
    for (size_t row = 0; row < out.height(); ++row) {
        for (size_t col = 0; col < out.width(); ++col) {
            n += out.x(col) > x0 && m.nearest[row * out.width() + col] >= 0;
        }
    }
    return n;
}

// far_rows: the rows whose largest jump is above 180 degrees; the nearest map on `out` must give
// more than 100 pixels east of x0 a cell.
void check_case(const std::vector<std::int32_t>& lat, const std::vector<std::int32_t>& lon,
                size_t far_rows, const grid::Grid& out, double x0, double scale = 1e-6) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("baims-swath-read-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    write_swath(dir / "packed.nc", lat, lon, true, scale);
    write_swath(dir / "double.nc", lat, lon, false, scale);
    const auto g = read_swath(dir / "packed.nc");
    const auto d = read_swath(dir / "double.nc");
    std::filesystem::remove_all(dir);

    // The reader's fields, found chunk by chunk, equal those of the whole arrays.
    REQUIRE(g.packed());
    REQUIRE(g.lon_row_jump.size() == H);
    CHECK(g.lon_row_jump == want_jumps(g));
    size_t far = 0;
    for (const auto j : g.lon_row_jump) {
        far += j > 180.0 / scale;
    }
    CHECK(far == far_rows);
    REQUIRE_FALSE(d.packed());
    CHECK(d.lon_row_jump.empty());

    // map_swath with the reader's fields, without them (it looks at the arrays) and on the
    // doubles (not packed): the same maps (unwrapped across the antimeridian, or not, alike).
    auto plain = g;
    plain.lon_row_jump.clear();
    for (const auto m : {cube::Resampling::Nearest, cube::Resampling::Bilinear}) {
        const auto a = map(g, out, m), b = map(plain, out, m), c = map(d, out, m);
        same_map(a, b);
        same_map(a, c);
    }
    const auto n = map(g, out, cube::Resampling::Nearest);
    CHECK(east_of(n, out, x0) > 100);
}

std::int32_t wrap(double lon, double scale = 1e-6) { // degrees in [-180, 180) as stored
    return static_cast<std::int32_t>(std::lround((lon >= 180.0 ? lon - 360.0 : lon) / scale));
}

} // namespace

TEST_CASE("swath reader: antimeridian jumps across a chunk column boundary", "[cube][swath]") {
    // longitude 178.9 + 0.25 c: 179.9 at column 4, 180.15 (-179.85) at 5, the first column of the
    // second chunk column; every row crosses there
    std::vector<std::int32_t> lat, lon;
    for (size_t r = 0; r < H; ++r) {
        for (size_t c = 0; c < W; ++c) {
            lat.push_back(static_cast<std::int32_t>(10'000'000 - 250'000 * r + 1'000 * c));
            lon.push_back(wrap(178.9 + 0.25 * static_cast<double>(c) + 0.01 * r));
        }
    }
    lat[2 * W + 2] = FILL;
    // output longitudes 178.5 .. 181.5: the part east of 180 only when the swath is unwrapped
    check_case(lat, lon, H, grid::Grid({178.5, 7.0, 181.5, 10.5}, 120, 70), 180.05);
}

TEST_CASE("swath reader: antimeridian jumps across a chunk row boundary", "[cube][swath]") {
    // longitude 179.05 + 0.25 r: 179.8 in row 3, 180.05 (-179.95) in row 4, the first row of the
    // second chunk row; only row 3 holds a far pair (with the row below it)
    std::vector<std::int32_t> lat, lon;
    for (size_t r = 0; r < H; ++r) {
        for (size_t c = 0; c < W; ++c) {
            lat.push_back(static_cast<std::int32_t>(10'000'000 - 250'000 * c - 3'000 * r));
            lon.push_back(wrap(179.05 + 0.25 * static_cast<double>(r) + 0.005 * c));
        }
    }
    lat[7 * W + 11] = FILL;
    check_case(lat, lon, 1, grid::Grid({178.5, 7.0, 181.5, 10.5}, 120, 70), 180.05);
}

TEST_CASE("swath reader: far jumps without a crossing (a longitude without position)",
          "[cube][swath]") {
    // longitude -11.5 + 0.25 c, one cell (row 5, column 6) FILL: as integers (PACKED_NONE) its
    // pairs with the cells around it are far, so rows 4 and 5 are not clear and go to the exact
    // test on the decoded longitudes, where a pair without position does not cross (NaN compares
    // false); the maps equal those without the reader's fields and those on the doubles.
    std::vector<std::int32_t> lat, lon;
    for (size_t r = 0; r < H; ++r) {
        for (size_t c = 0; c < W; ++c) {
            lat.push_back(static_cast<std::int32_t>(10'000'000 - 250'000 * r + 1'000 * c));
            lon.push_back(wrap(-11.5 + 0.25 * static_cast<double>(c) + 0.01 * r));
        }
    }
    lat[2 * W + 2] = FILL;
    lon[5 * W + 6] = FILL;
    check_case(lat, lon, 2, grid::Grid({-12.0, 7.0, -7.0, 10.5}, 200, 70), -12.0);
}

TEST_CASE("swath reader: antimeridian jumps above 2^31 inside a chunk (scale 1e-7)",
          "[cube][swath]") {
    // longitude 179.4 + 0.25 c in units of 1e-7 degrees: 179.9 (1 799 000 000) at column 2,
    // 180.15 (-1 798 500 000) at 3, inside the first chunk column (the four-lane loop's pairs):
    // the difference, 3 597 500 000, is above 2^31 (an unsigned one, not a negative int32)
    std::vector<std::int32_t> lat, lon;
    for (size_t r = 0; r < H; ++r) {
        for (size_t c = 0; c < W; ++c) {
            lat.push_back(static_cast<std::int32_t>(100'000'000 - 2'500'000 * r + 10'000 * c));
            lon.push_back(wrap(179.4 + 0.25 * static_cast<double>(c) + 0.01 * r, 1e-7));
        }
    }
    lat[2 * W + 2] = FILL;
    check_case(lat, lon, H, grid::Grid({178.5, 7.0, 181.5, 10.5}, 120, 70), 180.05, 1e-7);
}

namespace {

// for_each on two threads (tasks taken in turn from a shared counter): the plain rounds of the
// banded walk really run side by side.
void two_threads(size_t n, const std::function<void(size_t)>& task) {
    std::atomic<size_t> next{0};
    auto work = [&] {
        for (size_t i = next++; i < n; i = next++) {
            task(i);
        }
    };
    std::thread t(work);
    work();
    t.join();
}

// A swath of h x w cells over ~[10, 16] x [54, 60] degrees, rotated and warped; fold > 0: from
// row `fold` on the rows run back south three times as fast (over the rows before them). Some
// cells without position (FILL).
void bent_swath(size_t h, size_t w, size_t fold, std::vector<std::int32_t>& lat,
                std::vector<std::int32_t>& lon) {
    lat.clear();
    lon.clear();
    for (size_t r = 0; r < h; ++r) {
        for (size_t c = 0; c < w; ++c) {
            double y = static_cast<double>(r);
            if (fold > 0 && r >= fold) {
                y = static_cast<double>(fold) - 3.0 * static_cast<double>(r - fold);
            }
            const double x = static_cast<double>(c);
            const double la = 54.0 + 0.02 * y + 0.004 * x + 1e-5 * x * x;
            const double lo = 10.0 + 0.06 * x - 0.01 * y + 2e-5 * y * y;
            lat.push_back(static_cast<std::int32_t>(std::lround(la * 1e6)));
            lon.push_back(static_cast<std::int32_t>(std::lround(lo * 1e6)));
        }
    }
    lat[37 * w + 5] = FILL;
    lon[130 * w + 60] = FILL;
}

// The banded map (map_swath_rows through the reader's swath_rows) of the swath file `path`, or
// nullopt; and the whole-array map.
std::optional<cube::PixelMap> banded_map(const std::filesystem::path& path, const grid::Grid& out,
                                         cube::Resampling m, size_t* block_rows = nullptr) {
    const auto in = io::open_input("curvilinear", path);
    const auto rows = in->swath_rows();
    REQUIRE(rows);
    if (block_rows) {
        *block_rows = rows->block_rows;
    }
    return cube::map_swath_rows(*rows, out, m, two_threads);
}

void same_window(const cube::PixelMap& a, const cube::PixelMap& b) {
    REQUIRE(a.window.has_value() == b.window.has_value());
    if (a.window) {
        CHECK(a.window->row0 == b.window->row0);
        CHECK(a.window->row1 == b.window->row1);
        CHECK(a.window->col0 == b.window->col0);
        CHECK(a.window->col1 == b.window->col1);
    }
}

// How many output pixels a map gives a cell (nearest) or a quad (bilinear).
size_t mapped(const cube::PixelMap& m) {
    size_t n = 0;
    for (const auto i : m.nearest.empty() ? m.lo : m.nearest) {
        n += i >= 0;
    }
    return n;
}

} // namespace

TEST_CASE("swath rows: the banded map equals the whole-array map", "[cube][swath]") {
    const auto dir =
        std::filesystem::temp_directory_path() / ("baims-swath-rows-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const size_t h = 300, w = 90;
    std::vector<std::int32_t> lat, lon;
    bent_swath(h, w, 0, lat, lon);
    // ~2-3 output pixels per swath cell: claims of neighbouring quads (and bands) meet
    const grid::Grid out({9.5, 53.8, 16.5, 60.5}, 700, 670);
    // chunk rows of 37 (not a divisor of the walk's 64-row bands: bands across blocks, one band
    // per group), 256 (several bands per group: two plain rounds), contiguous (blocks of 512
    // rows read through netCDF: one group)
    for (const auto& [chunk, want_rows] : {std::pair{std::array<size_t, 2>{37, 40}, size_t{37}},
                                           std::pair{std::array<size_t, 2>{256, 90}, size_t{256}},
                                           std::pair{std::array<size_t, 2>{0, 0}, size_t{512}}}) {
        const auto path = dir / ("s" + std::to_string(chunk[0]) + ".nc");
        write_swath(path, lat, lon, true, 1e-6, h, w, chunk);
        const auto g = read_swath(path);
        REQUIRE(g.packed());
        for (const auto m : {cube::Resampling::Nearest, cube::Resampling::Bilinear}) {
            size_t block_rows = 0;
            const auto b = banded_map(path, out, m, &block_rows);
            CHECK(block_rows == want_rows);
            REQUIRE(b);
            const auto a = map(g, out, m);
            same_map(*b, a);
            same_window(*b, a);
            CHECK(mapped(a) > 200000);
        }
    }
    // Not banded: average and mode, a projected output, coordinates in double.
    {
        const auto path = dir / "s37.nc";
        const auto in = io::open_input("curvilinear", path);
        for (const auto m : {cube::Resampling::Average, cube::Resampling::Mode}) {
            const auto rows = in->swath_rows();
            REQUIRE(rows);
            CHECK_FALSE(cube::map_swath_rows(*rows, out, m, serial));
        }
        const auto rows = in->swath_rows();
        CHECK_FALSE(
            cube::map_swath_rows(*rows, out, cube::Resampling::Nearest, serial, "EPSG:3035"));
        write_swath(dir / "double.nc", lat, lon, false, 1e-6, h, w, {37, 40});
        CHECK_FALSE(io::open_input("curvilinear", dir / "double.nc")->swath_rows());
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("swath rows: overlapping bands and the antimeridian", "[cube][swath]") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("baims-swath-rows2-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const size_t h = 300, w = 90;
    const grid::Grid out({9.5, 50.0, 16.5, 60.5}, 700, 1050);
    std::vector<std::int32_t> lat, lon;
    // Folded at row 150: band 2 (rows 128..191) runs back over bands 0 and 1 within one block of
    // 256 rows, so the bands of a round meet the same pixels: nearest claims them again with
    // atomic minima (the banded map is still the whole-array map); bilinear's weights would need
    // pass 2 and its positions: not banded.
    bent_swath(h, w, 150, lat, lon);
    const auto path = dir / "fold.nc";
    write_swath(path, lat, lon, true, 1e-6, h, w, {256, 90});
    const auto g = read_swath(path);
    const auto b = banded_map(path, out, cube::Resampling::Nearest);
    REQUIRE(b);
    const auto a = map(g, out, cube::Resampling::Nearest);
    same_map(*b, a);
    same_window(*b, a);
    CHECK(mapped(a) > 200000);
    CHECK_FALSE(banded_map(path, out, cube::Resampling::Bilinear));
    // The same swath moved to 179.5 .. 186 degrees east, stored in [-180, 180): rows across the
    // antimeridian (the whole-array path walks it unwrapped): not banded.
    bent_swath(h, w, 0, lat, lon);
    for (auto& x : lon) {
        if (x != FILL) {
            x = wrap(static_cast<double>(x) * 1e-6 + 169.5);
        }
    }
    const auto anti = dir / "anti.nc";
    write_swath(anti, lat, lon, true, 1e-6, h, w, {37, 40});
    for (const auto m : {cube::Resampling::Nearest, cube::Resampling::Bilinear}) {
        CHECK_FALSE(banded_map(anti, out, m));
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("swath rows: each block's integers and longitude jump", "[cube][swath]") {
    // The reader's blocks against the whole-array reader's integers, and each block's jump
    // against a scan of those integers: the largest |difference| of horizontal neighbours in the
    // block and of vertical neighbours in it or across its top edge. The longitudes of columns
    // 40.. are moved by X (pairs across a chunk column boundary only: the reader's pass after
    // the chunk tasks) and those of rows 37.. by Y (pairs across the first block boundary of
    // the 37-row chunking only: the row kept from the block before).
    const auto dir = std::filesystem::temp_directory_path() /
                     ("baims-swath-rows3-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const size_t w = 90;
    constexpr std::int32_t X = 3000000, Y = 5000000;
    for (const auto& [chunk, h] : {std::pair{std::array<size_t, 2>{37, 40}, size_t{300}},
                                   std::pair{std::array<size_t, 2>{256, 90}, size_t{300}},
                                   std::pair{std::array<size_t, 2>{0, 0}, size_t{600}}}) {
        std::vector<std::int32_t> lat, lon;
        bent_swath(h, w, 0, lat, lon);
        for (size_t r = 0; r < h; ++r) {
            for (size_t c = 0; c < w; ++c) {
                if (lon[r * w + c] != FILL) {
                    lon[r * w + c] += (c >= 40 ? X : 0) + (r >= 37 ? Y : 0);
                }
            }
        }
        const auto path = dir / ("j" + std::to_string(chunk[0]) + ".nc");
        write_swath(path, lat, lon, true, 1e-6, h, w, chunk);
        const auto g = read_swath(path);
        REQUIRE(g.packed());
        const auto in = io::open_input("curvilinear", path);
        const auto rows = in->swath_rows();
        REQUIRE(rows);
        const size_t R = rows->block_rows;
        CHECK(R == (chunk[0] > 0 ? chunk[0] : 512));
        const auto d = [](std::int32_t a, std::int32_t b) {
            return static_cast<std::uint32_t>(
                std::llabs(static_cast<std::int64_t>(a) - static_cast<std::int64_t>(b)));
        };
        std::vector<std::uint32_t> got, want;
        for (size_t k = 0; k * R < h; ++k) {
            const size_t r0 = k * R, r1 = std::min(h, r0 + R);
            std::vector<std::int32_t> bl((r1 - r0) * w), bx((r1 - r0) * w);
            std::uint32_t jump = 0;
            REQUIRE(rows->read(k, bl.data(), bx.data(), jump));
            CHECK(std::equal(bl.begin(), bl.end(), g.lat_packed.begin() + r0 * w));
            CHECK(std::equal(bx.begin(), bx.end(), g.lon_packed.begin() + r0 * w));
            std::uint32_t j = 0;
            for (size_t r = r0; r < r1; ++r) {
                for (size_t c = 0; c < w; ++c) {
                    const std::int32_t x = g.lon_packed[r * w + c];
                    if (c + 1 < w) {
                        j = std::max(j, d(x, g.lon_packed[r * w + c + 1]));
                    }
                    if (r > 0 && (r > r0 || k > 0)) {
                        j = std::max(j, d(x, g.lon_packed[(r - 1) * w + c]));
                    }
                }
            }
            got.push_back(jump);
            want.push_back(j);
        }
        CHECK(got == want);
        if (chunk[0] == 37) {
            // the moves are what blocks 0 and 1 show (the FILL cell of row 130 is further down;
            // the rows' own slope takes ~1e4 off Y)
            REQUIRE(want.size() > 2);
            CHECK(want[0] > static_cast<std::uint32_t>(X));
            CHECK(want[0] < static_cast<std::uint32_t>(X + 200000));
            CHECK(want[1] > static_cast<std::uint32_t>(Y - 20000));
            CHECK(want[1] < static_cast<std::uint32_t>(Y + 200000));
        }
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("swath rows: the digest read a block at a time equals the whole-array digest",
          "[cube][swath]") {
    // io::digest of the reader's blocks (SwathDigest through io::digest(SwathRows&) and through
    // DigestingRows under map_swath_rows) against io::digest of the whole LatLon2D; swaths of
    // 1100 x 1920 cells: 8.4 MB per coordinate, so two parts of 8 MiB each, the first part
    // ending inside a block whatever the chunking.
    const auto dir = std::filesystem::temp_directory_path() /
                     ("baims-swath-digest-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const size_t h = 1100, w = 1920;
    std::vector<std::int32_t> lat(h * w), lon(h * w);
    for (size_t r = 0; r < h; ++r) {
        for (size_t c = 0; c < w; ++c) {
            lat[r * w + c] = static_cast<std::int32_t>(54000000 + 500 * r + 10 * c + (r * c) % 7);
            lon[r * w + c] = static_cast<std::int32_t>(10000000 + 300 * c - 100 * r + (r + c) % 5);
        }
    }
    lat[3 * w + 17] = FILL;
    lon[900 * w + 1000] = FILL;
    const auto whole = [](const std::filesystem::path& p) {
        return io::digest(io::Geometry(read_swath(p)));
    };
    const auto streamed = [](const std::filesystem::path& p) {
        const auto in = io::open_input("curvilinear", p);
        const auto rows = in->swath_rows();
        REQUIRE(rows);
        return io::digest(*rows);
    };
    const auto head = [](const std::filesystem::path& p) {
        const auto in = io::open_input("curvilinear", p);
        const auto rows = in->swath_rows();
        REQUIRE(rows);
        return io::HeadRows(*rows).key();
    };
    // the digest of the blocks given back by HeadRows (the first ones kept from its key's read)
    const auto headed_digest = [](const std::filesystem::path& p) {
        const auto in = io::open_input("curvilinear", p);
        const auto rows = in->swath_rows();
        REQUIRE(rows);
        io::HeadRows headed(*rows);
        return io::digest(headed);
    };
    std::string first, first_head;
    // (chunk rows of 5: the key's 8 rows span two blocks)
    for (const auto& chunk : {std::array<size_t, 2>{37, 500}, std::array<size_t, 2>{256, 1920},
                              std::array<size_t, 2>{5, 1920}, std::array<size_t, 2>{0, 0}}) {
        const auto path = dir / ("d" + std::to_string(chunk[0]) + ".nc");
        write_swath(path, lat, lon, true, 1e-6, h, w, chunk);
        const std::string a = whole(path), b = streamed(path), k = head(path);
        CHECK(a.size() == 64);
        CHECK(b == a);
        CHECK(headed_digest(path) == a);
        CHECK(k.size() == 64);
        // the digest and the head key are of the values, not of how the file stores them
        if (first.empty()) {
            first = a;
            first_head = k;
        }
        CHECK(a == first);
        CHECK(k == first_head);
    }
    // A change below the first 8 rows: the head key stays, the digest changes (both ways); in
    // row 3 or in the longitudes' scale: the head key changes.
    {
        auto lat2 = lat;
        lat2[1000 * w + 3] += 1;
        const auto path = dir / "row1000.nc";
        write_swath(path, lat2, lon, true, 1e-6, h, w, {37, 500});
        CHECK(head(path) == first_head);
        CHECK(streamed(path) == whole(path));
        CHECK(streamed(path) != first);
        auto lon3 = lon;
        lon3[3 * w + 1919] -= 1;
        write_swath(dir / "row3.nc", lat, lon3, true, 1e-6, h, w, {37, 500});
        CHECK(head(dir / "row3.nc") != first_head);
        write_swath(dir / "scale.nc", lat, lon, true, 1e-7, h, w, {37, 500});
        CHECK(head(dir / "scale.nc") != first_head);
        CHECK(streamed(dir / "scale.nc") == whole(dir / "scale.nc"));
    }
    // Through HeadRows and DigestingRows under the banded map (a smaller swath): the same map
    // and the whole digest; blocks read out of order give no digest.
    {
        std::vector<std::int32_t> blat, blon;
        bent_swath(300, 90, 0, blat, blon);
        const auto path = dir / "bent.nc";
        write_swath(path, blat, blon, true, 1e-6, 300, 90, {37, 40});
        const grid::Grid out({9.5, 53.8, 16.5, 60.5}, 700, 670);
        const auto in = io::open_input("curvilinear", path);
        const auto rows = in->swath_rows();
        REQUIRE(rows);
        io::HeadRows headed(*rows);
        io::DigestingRows digesting(headed);
        CHECK(digesting.block_rows == 37);
        const auto m = cube::map_swath_rows(digesting, out, cube::Resampling::Nearest, serial);
        REQUIRE(m);
        same_map(*m, map(read_swath(path), out, cube::Resampling::Nearest));
        CHECK(digesting.digest() == whole(path));
        const auto rows2 = in->swath_rows();
        io::DigestingRows skipping(*rows2);
        std::vector<std::int32_t> a(37 * 90), b(37 * 90);
        std::uint32_t jump = 0;
        for (size_t k = 0; k * 37 < 300; k += k == 2 ? 2 : 1) {
            REQUIRE(skipping.read(k, a.data(), b.data(), jump));
        }
        CHECK(skipping.digest().empty());
    }
    std::filesystem::remove_all(dir);
}
