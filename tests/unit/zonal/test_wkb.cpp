// WKB / EWKB / ISO WKB decoding, with hand-built byte strings.
#include "baims/core/error.hpp"
#include "baims/zonal/mask.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

using namespace baims::zonal;

namespace {

struct W {
    std::vector<std::uint8_t> b;
    bool le = true;
    void u8(std::uint8_t v) { b.push_back(v); }
    void u32(std::uint32_t v) {
        for (int i = 0; i < 4; ++i)
            b.push_back(static_cast<std::uint8_t>(le ? v >> (8 * i) : v >> (8 * (3 - i))));
    }
    void f64(double d) {
        std::uint64_t v = 0;
        std::memcpy(&v, &d, 8);
        for (int i = 0; i < 8; ++i)
            b.push_back(static_cast<std::uint8_t>(le ? v >> (8 * i) : v >> (8 * (7 - i))));
    }
    // A square ring 0..s with `extra` ordinates per point (Z/M values 99).
    void square(double s, int extra) {
        u32(5);
        const double xs[] = {0, s, s, 0, 0}, ys[] = {0, 0, s, s, 0};
        for (int i = 0; i < 5; ++i) {
            f64(xs[i]);
            f64(ys[i]);
            for (int k = 0; k < extra; ++k)
                f64(99);
        }
    }
};

} // namespace

TEST_CASE("WKB polygon, both byte orders", "[wkb]") {
    for (bool le : {true, false}) {
        W w;
        w.le = le;
        w.u8(le ? 1 : 0);
        w.u32(3);
        w.u32(1);
        w.square(2.5, 0);
        const MultiPolygon g = from_wkb(w.b);
        REQUIRE(g.size() == 1);
        REQUIRE(g[0].rings.size() == 1);
        CHECK(g[0].rings[0].x == std::vector<double>{0, 2.5, 2.5, 0, 0});
        CHECK(g[0].rings[0].y == std::vector<double>{0, 0, 2.5, 2.5, 0});
    }
}

TEST_CASE("EWKB MultiPolygon with SRID and Z, ISO PolygonZM", "[wkb]") {
    W w;
    w.u8(1);
    w.u32(6 | 0x20000000u | 0x80000000u);
    w.u32(32632);
    w.u32(2);
    for (double s : {1.0, 3.0}) {
        w.u8(1);
        w.u32(3 | 0x80000000u);
        w.u32(2); // two rings: the second one a hole
        w.square(s, 1);
        w.square(s / 2, 1);
    }
    const MultiPolygon g = from_wkb(w.b);
    REQUIRE(g.size() == 2);
    CHECK(g[1].rings.size() == 2);
    CHECK(g[1].rings[0].x[1] == 3.0);
    CHECK(g[1].rings[1].y[2] == 1.5);

    W iso;
    iso.u8(1);
    iso.u32(3003);
    iso.u32(1);
    iso.square(7, 2);
    CHECK(from_wkb(iso.b)[0].rings[0].x[2] == 7.0);
}

TEST_CASE("WKB errors: wrong type, truncated, absurd counts, trailing bytes", "[wkb]") {
    W pt;
    pt.u8(1);
    pt.u32(1);
    pt.f64(1);
    pt.f64(2);
    CHECK_THROWS_WITH(from_wkb(pt.b),
                      "WKB geometry type 1 is not a Polygon (3) or MultiPolygon (6)");

    W w;
    w.u8(1);
    w.u32(3);
    w.u32(1);
    w.square(1, 0);
    std::vector<std::uint8_t> cut(w.b.begin(), w.b.end() - 3);
    CHECK_THROWS_AS(from_wkb(cut), baims::InputError);
    std::vector<std::uint8_t> extra = w.b;
    extra.push_back(0);
    CHECK_THROWS_WITH(from_wkb(extra), "malformed WKB at byte 93: 1 trailing bytes");

    W huge;
    huge.u8(1);
    huge.u32(3);
    huge.u32(0xffffffffu);
    CHECK_THROWS_WITH(from_wkb(huge.b), "malformed WKB at byte 9: 4294967295 rings cannot fit");
    CHECK_THROWS_AS(from_wkb(std::vector<std::uint8_t>{}), baims::InputError);
    CHECK_THROWS_AS(from_wkb(std::vector<std::uint8_t>{7, 0, 0, 0, 3}), baims::InputError);

    W bad_member;
    bad_member.u8(1);
    bad_member.u32(6);
    bad_member.u32(1);
    bad_member.u8(1);
    bad_member.u32(2); // a LineString inside a MultiPolygon
    bad_member.u32(0);
    CHECK_THROWS_AS(from_wkb(bad_member.b), baims::InputError);
}
