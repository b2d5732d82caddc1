// `selection: jrc`, each quirk on hand-made parcels. The golden numbers come from golden.py in
// this folder: numpy doing what the JRC numba extractor does (np.frombuffer from WKB byte 62,
// np.where(ind == 1), floor offsets against the window corner, truncation to the window, the
// band-1 nodata check), independent of the C++ code.
//
// The parcels, south-up as ST_AsRaster stores them (row 0 = south), nodata byte 0:
//   3x2 at ipX 500050, ipY 6199980:  row 0: 1 1 1   row 1: 1 1 0
//   5x4 at ipX 500020, ipY 6199960:  0 1 1 1 0 / 1 1 1 1 1 / 1 1 0 1 1 / 0 1 1 1 1
// The window: corner (500003.7, 6200000.0) (not on the 10 m grid), 6 rows x 8 columns, band 1
// value 100 * row + col + 1.

#include "baims/core/error.hpp"
#include "baims/zonal/jrc.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <vector>

using namespace baims::zonal;

namespace {

std::vector<std::uint8_t> wkb(int w, int h, double ipx, double ipy,
                              const std::vector<std::vector<int>>& rows) {
    std::vector<std::uint8_t> b;
    auto put = [&](const void* p, std::size_t n) {
        auto* c = static_cast<const std::uint8_t*>(p);
        b.insert(b.end(), c, c + n);
    };
    std::uint8_t endian = 1;
    std::uint16_t version = 0, nbands = 1, width = std::uint16_t(w), height = std::uint16_t(h);
    put(&endian, 1);
    put(&version, 2);
    put(&nbands, 2);
    for (double d : {10.0, 10.0, ipx, ipy, 0.0, 0.0}) {
        put(&d, 8);
    }
    std::int32_t srid = 32632;
    put(&srid, 4);
    put(&width, 2);
    put(&height, 2);
    b.push_back(0x44); // 8BUI, has nodata
    b.push_back(0);    // nodata 0
    for (const auto& r : rows) {
        for (int v : r) {
            b.push_back(std::uint8_t(v));
        }
    }
    return b;
}

const std::vector<std::vector<int>> P3X2 = {{1, 1, 1}, {1, 1, 0}};
const std::vector<std::vector<int>> P5X4 = {
    {0, 1, 1, 1, 0}, {1, 1, 1, 1, 1}, {1, 1, 0, 1, 1}, {0, 1, 1, 1, 1}};

std::vector<std::pair<int, int>> pairs(const std::vector<jrc::Index>& v) {
    std::vector<std::pair<int, int>> out;
    for (auto i : v) {
        out.emplace_back(i.row, i.col);
    }
    return out;
}

std::vector<double> values(const std::vector<jrc::Index>& v) {
    std::vector<double> out;
    for (auto i : v) {
        out.push_back(100.0 * i.row + i.col + 1);
    }
    return out;
}

} // namespace

TEST_CASE("jrc: the mask is read from byte 62, shifted one pixel along the rows") {
    auto m = jrc::read_raster_wkb(wkb(3, 2, 500050, 6199980, P3X2));
    CHECK(m.width == 3);
    CHECK(m.height == 2);
    CHECK(m.ip_x == 500050.0);
    CHECK(m.ip_y == 6199980.0);
    // stored 1 1 1 / 1 1 0: the nodata byte comes first, the row-1 start wraps to row 0's end,
    // the last stored pixel is lost.
    CHECK(m.pixels == std::vector<std::uint8_t>{0, 1, 1, 1, 1, 1});
    auto m5 = jrc::read_raster_wkb(wkb(5, 4, 500020, 6199960, P5X4));
    CHECK(m5.pixels ==
          std::vector<std::uint8_t>{0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1});
}

TEST_CASE("jrc: south-up rows, floor offsets against the window corner, truncation") {
    auto m = jrc::read_raster_wkb(wkb(3, 2, 500050, 6199980, P3X2));
    // drow = floor((6200000 - 6199980) / 10) = 2, dcol = floor((500050 - 500003.7) / 10) = 4:
    // mask row 0 (south) -> window row 2, row 1 -> window row 1.
    CHECK(pairs(jrc::indices(m, 500003.7, 6200000.0, 10, 6, 8)) ==
          std::vector<std::pair<int, int>>{{2, 5}, {2, 6}, {1, 4}, {1, 5}, {1, 6}});
    // A window of 2 rows: row 2 is dropped (truncate to [0, rows - 1]).
    CHECK(pairs(jrc::indices(m, 500003.7, 6200000.0, 10, 2, 8)) ==
          std::vector<std::pair<int, int>>{{1, 4}, {1, 5}, {1, 6}});
    // And 5 columns: columns 5 and 6 are dropped too.
    CHECK(pairs(jrc::indices(m, 500003.7, 6200000.0, 10, 2, 5)) ==
          std::vector<std::pair<int, int>>{{1, 4}});
    auto m5 = jrc::read_raster_wkb(wkb(5, 4, 500020, 6199960, P5X4));
    CHECK(pairs(jrc::indices(m5, 500003.7, 6200000.0, 10, 6, 8)) ==
          std::vector<std::pair<int, int>>{{4, 3},
                                           {4, 4},
                                           {4, 5},
                                           {3, 2},
                                           {3, 3},
                                           {3, 4},
                                           {3, 5},
                                           {2, 1},
                                           {2, 2},
                                           {2, 3},
                                           {2, 5},
                                           {1, 1},
                                           {1, 3},
                                           {1, 4},
                                           {1, 5}});
}

TEST_CASE("jrc: the window is the floor of the AOI-clipped corner, the corner stays unrounded") {
    // AOI extent (519718.59, 6180000, 609000, 6180754.37) on T32UNG (UL 499980, 6200040, 10980 px
    // at 10 m): clipped east to the tile edge.
    auto w = jrc::aoi_window(519718.59, 6180000.0, 609000.0, 6180754.37, 499980, 6200040, 10980,
                             10980, 10);
    CHECK(w.col0 == 1973);
    CHECK(w.row0 == 1928);
    CHECK(w.width == 8929);
    CHECK(w.height == 76);
    CHECK(w.ulx == 519718.59);
    CHECK(w.uly == 6180754.37);
    auto w20 = jrc::aoi_window(519718.59, 6180000.0, 609000.0, 6180754.37, 499980, 6200040, 5490,
                               5490, 20);
    CHECK(w20.col0 == 986);
    CHECK(w20.row0 == 964);
    CHECK(w20.width == 4465);
    CHECK(w20.height == 38);
}

TEST_CASE("jrc: statistics as numba computes them, stored as real") {
    auto m = jrc::read_raster_wkb(wkb(3, 2, 500050, 6199980, P3X2));
    auto v = values(jrc::indices(m, 500003.7, 6200000.0, 10, 6, 8));
    REQUIRE(v == std::vector<double>{206, 207, 105, 106, 107});
    auto s = jrc::stats(v, true);
    REQUIRE(s);
    CHECK(s->count == 5);
    CHECK(s->mean == 146.19999999999999);
    CHECK(s->std == 49.239821283185016);
    CHECK(float(s->std) == 49.2398224f);
    CHECK(s->min == 105);
    CHECK(s->max == 207);
    CHECK(s->p25 == 106);
    CHECK(s->p50 == 107);
    CHECK(s->p75 == 206);

    auto m5 = jrc::read_raster_wkb(wkb(5, 4, 500020, 6199960, P5X4));
    auto v5 = values(jrc::indices(m5, 500003.7, 6200000.0, 10, 6, 8));
    auto s5 = jrc::stats(v5, true);
    REQUIRE(s5);
    CHECK(s5->count == 15);
    CHECK(s5->mean == 244.33333333333334);
    CHECK(float(s5->mean) == 244.333328f);
    CHECK(s5->std == 108.63619204584734);
    CHECK(s5->min == 102);
    CHECK(s5->max == 406);
    CHECK(s5->p25 == 154);
    CHECK(s5->p50 == 206);
    CHECK(s5->p75 == 305.5);
}

TEST_CASE("jrc: band 1 with any 0 drops the parcel; later bands keep their 0s") {
    CHECK_FALSE(jrc::stats(std::vector<double>{206, 0, 105}, true));
    CHECK_FALSE(jrc::stats(std::vector<double>{0}, true));
    CHECK_FALSE(jrc::stats(std::vector<double>{}, false));
    auto s = jrc::stats(std::vector<double>{206, 0, 105}, false);
    REQUIRE(s);
    CHECK(s->count == 3);
    CHECK(s->min == 0);
    CHECK(s->mean == 311.0 / 3);
}

TEST_CASE("jrc: hist keeps class 0 when mixed, none when only 0") {
    CHECK(jrc::hist(std::vector<std::int64_t>{4, 0, 3, 4, 10}) ==
          std::string("{\"0\": 1, \"3\": 1, \"4\": 2, \"10\": 1}"));
    CHECK_FALSE(jrc::hist(std::vector<std::int64_t>{0, 0}));
    CHECK_FALSE(jrc::hist(std::vector<std::int64_t>{}));
}

TEST_CASE("jrc: malformed mask WKB is refused") {
    auto b = wkb(3, 2, 0, 0, P3X2);
    CHECK_THROWS_AS(jrc::read_raster_wkb(std::span(b.data(), 40)), baims::InputError);
    auto big = b;
    big[0] = 0;
    CHECK_THROWS_AS(jrc::read_raster_wkb(big), baims::InputError);
    auto f32 = b;
    f32[61] = 0x4A; // 32BF
    CHECK_THROWS_AS(jrc::read_raster_wkb(f32), baims::InputError);
    // 62 + 6 bytes suffice for the JRC reader (it never reads the last pixel).
    CHECK_NOTHROW(jrc::read_raster_wkb(std::span(b.data(), 68)));
    CHECK_THROWS_AS(jrc::read_raster_wkb(std::span(b.data(), 67)), baims::InputError);
}
