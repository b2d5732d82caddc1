// The curvilinear reader's derived field (io::LatLon2D::lon_row_jump), found while
// the chunks are decoded, and map_swath with and without them: swaths written here as NetCDF-4
// with int32 lat/lon in deflated chunks of 4 x 5 cells (the reader's direct path), one that
// crosses the antimeridian between two chunk columns and one between two chunk rows.

#include "baims/cube/resample.hpp"
#include "baims/io/input.hpp"

#include <catch2/catch.hpp>
#include <netcdf.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <tuple>
#include <unistd.h>
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

// A swath file: lat/lon(y, x) stored as int32 * 1e-6 (packed) or as the doubles they decode to,
// in chunks of 4 x 5, deflated; FILL is lat's and lon's _FillValue. One float variable v.
void write_swath(const std::filesystem::path& path, const std::vector<std::int32_t>& lat,
                 const std::vector<std::int32_t>& lon, bool packed, double scale) {
    int id = 0, dims[2], vlat = 0, vlon = 0, vv = 0;
    ok(nc_create(path.c_str(), NC_NETCDF4 | NC_CLOBBER, &id));
    ok(nc_def_dim(id, "y", H, &dims[0]));
    ok(nc_def_dim(id, "x", W, &dims[1]));
    const std::string start = "01-APR-2017 10:27:29.454657", stop = "01-APR-2017 10:30:29.454657";
    ok(nc_put_att_text(id, NC_GLOBAL, "start_date", start.size(), start.c_str()));
    ok(nc_put_att_text(id, NC_GLOBAL, "stop_date", stop.size(), stop.c_str()));
    const size_t chunk[2] = {4, 5};
    for (auto [name, units, var] :
         {std::tuple{"lat", "degrees_north", &vlat}, std::tuple{"lon", "degrees_east", &vlon}}) {
        ok(nc_def_var(id, name, packed ? NC_INT : NC_DOUBLE, 2, dims, var));
        ok(nc_def_var_chunking(id, *var, NC_CHUNKED, chunk));
        ok(nc_def_var_deflate(id, *var, 1, 1, 1));
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
        std::vector<double> a(H * W), b(H * W);
        for (size_t i = 0; i < H * W; ++i) {
            a[i] = lat[i] == FILL ? std::nan("") : static_cast<double>(lat[i]) * scale;
            b[i] = lon[i] == FILL ? std::nan("") : static_cast<double>(lon[i]) * scale;
        }
        ok(nc_put_var_double(id, vlat, a.data()));
        ok(nc_put_var_double(id, vlon, b.data()));
    }
    std::vector<float> v(H * W, 1.0f);
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
