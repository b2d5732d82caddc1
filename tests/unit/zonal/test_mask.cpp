// Masks of hand-made polygons; every expected pixel is arithmetic a reader can check.
#include "baims/core/error.hpp"
#include "baims/zonal/mask.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

using namespace baims::zonal;

namespace {

Polygon rect(double x0, double y0, double x1, double y1) {
    return Polygon{{Ring{{x0, x1, x1, x0, x0}, {y0, y0, y1, y1, y0}}}};
}

// The mask as text rows (north first), '#' selected, '.' not, for readable expectations.
std::string picture(const Mask& m) {
    std::string s;
    for (int r = 0; r < m.height; ++r) {
        for (int c = 0; c < m.width; ++c)
            s += m.pixels[static_cast<std::size_t>(r * m.width + c)] ? '#' : '.';
        s += '\n';
    }
    return s;
}

const PixelGrid S2_10{0, 0, 10, 10};

} // namespace

TEST_CASE("a square aligned to pixel edges selects exactly its pixels", "[mask]") {
    // x 100..130, y 200..220 on the 10 m grid: columns 10..12, rows -22..-21 (row = -y/10).
    for (const PixelRule rule : {PixelRule::Centre, PixelRule::AllTouched}) {
        const Mask m = rasterize({rect(100, 200, 130, 220)}, S2_10, rule);
        CHECK(m.col0 == 10);
        CHECK(m.row0 == -22);
        CHECK(m.width == 3);
        CHECK(m.height == 2);
        CHECK(m.count() == 6);
        CHECK(m.at(10, -22) == 1);
        CHECK(m.at(12, -21) == 1);
        CHECK(m.at(13, -21) == 0);
        CHECK(m.at(9, -22) == 0);
        CHECK(m.at(10, -20) == 0);
    }
}

TEST_CASE("a square shifted by a fraction of a pixel: centre vs all touched", "[mask]") {
    // x 103..127: centres 105, 115, 125 inside; y 204..226: centres 205, 215, 225 inside.
    const Mask c = rasterize({rect(103, 204, 127, 226)}, S2_10, PixelRule::Centre);
    CHECK(c.count() == 9);
    CHECK(c.col0 == 10);
    CHECK(c.row0 == -23);
    // All touched: columns 10..12 (x 100..130) and rows for y 200..230 -> 3 x 3 as well
    const Mask a = rasterize({rect(103, 204, 127, 226)}, S2_10, PixelRule::AllTouched);
    CHECK(a.count() == 9);
    // x 103..131 touches column 13 but its centre 135 is outside
    CHECK(rasterize({rect(103, 204, 131, 226)}, S2_10, PixelRule::Centre).count() == 9);
    CHECK(rasterize({rect(103, 204, 131, 226)}, S2_10, PixelRule::AllTouched).count() == 12);
}

TEST_CASE("centres exactly on the boundary follow GDAL's convention", "[mask]") {
    // Square with edges through pixel centres: x 105..125, y 205..225 (centre lines x = 105, 115,
    // 125 and y = 205, 215, 225). GDAL (checked with gdal_rasterize 3.6 on a north-up raster):
    // a centre on the west edge is out, on the east edge in; on the north and on the south edge
    // in (its scanline crossings are half-open, and the south edge, walked westward once GDAL has
    // made the ring clockwise, is filled on its own).
    const Mask m = rasterize({rect(105, 205, 125, 225)}, S2_10, PixelRule::Centre);
    CHECK(picture(m) == "##\n##\n##\n");
    CHECK(m.col0 == 11);
    CHECK(m.row0 == -23);
    // The same square in the other ring orientation gives the same mask.
    Polygon ccw = rect(105, 205, 125, 225);
    std::reverse(ccw.rings[0].x.begin(), ccw.rings[0].x.end());
    std::reverse(ccw.rings[0].y.begin(), ccw.rings[0].y.end());
    CHECK(rasterize({ccw}, S2_10, PixelRule::Centre).pixels == m.pixels);
    // A hole whose north edge lies on a centre line (pixel y 3.5 .. 5.8): rows 3, 4, 5 lose
    // columns 2..5 (GDAL 3.6, north-up: a centre on a hole's north edge is out).
    Polygon holed = rect(0, -90, 90, 0);
    holed.rings.push_back(rect(20, -58, 60, -35).rings[0]);
    const Mask h = rasterize({holed}, S2_10, PixelRule::Centre);
    CHECK(h.count() == 81 - 3 * 4);
    CHECK(h.at(3, 3) == 0);
    CHECK(h.at(3, 2) == 1);
    CHECK(h.at(1, 3) == 1);
    CHECK(h.at(3, 4) == 0);
}

TEST_CASE("a right triangle", "[mask]") {
    // Vertices (0,0) (40,0) (0,-40) on a grid with origin (0,0): rows 0..3 going south.
    // In pixel units the hypotenuse is x + y = 4. Row r: centres x = c + 0.5 with
    // c + 0.5 <= 4 - (r + 0.5) (the east boundary is inclusive, as in GDAL) -> c <= 3 - r:
    // the diagonal pixels, whose centres lie exactly on the hypotenuse, are in.
    Polygon tri{{Ring{{0, 40, 0}, {0, 0, -40}}}}; // not closed: allowed
    const Mask m = rasterize({tri}, S2_10, PixelRule::Centre);
    CHECK(picture(m) == "####\n###.\n##..\n#...\n");
    CHECK(m.count() == 10);
    CHECK(m.col0 == 0);
    CHECK(m.row0 == 0);
    // all touched: every pixel the hypotenuse crosses (open squares): diagonal pixels c + r == 3
    // have area > 0 inside; the pixels c + r = 4 are touched only at a corner -> not added.
    const Mask a = rasterize({tri}, S2_10, PixelRule::AllTouched);
    CHECK(picture(a) == "####\n###.\n##..\n#...\n");
}

TEST_CASE("a hole removes its pixels; a MultiPolygon adds its parts", "[mask]") {
    Polygon with_hole = rect(0, -50, 50, 0);
    with_hole.rings.push_back(rect(10, -40, 40, -10).rings[0]);
    const Mask m = rasterize({with_hole}, S2_10, PixelRule::Centre);
    CHECK(m.count() == 25 - 9);
    CHECK(picture(m) == "#####\n#...#\n#...#\n#...#\n#####\n");

    const Mask mp =
        rasterize({rect(0, -10, 20, 0), rect(40, -30, 50, -20)}, S2_10, PixelRule::Centre);
    CHECK(picture(mp) == "##...\n.....\n....#\n");
    CHECK(mp.count() == 3);
}

TEST_CASE("sub-pixel and empty parcels select nothing", "[mask]") {
    // 4 m x 4 m between centres: no centre inside
    const Mask m = rasterize({rect(101, 201, 104, 204)}, S2_10, PixelRule::Centre);
    CHECK(m.count() == 0);
    CHECK(m.empty());
    CHECK(m.width == 0);
    CHECK(m.height == 0);
    CHECK(m.pixels.empty());
    // all touched: the one pixel it lies in
    const Mask a = rasterize({rect(101, 201, 104, 204)}, S2_10, PixelRule::AllTouched);
    CHECK(a.count() == 1);
    CHECK(a.col0 == 10);
    CHECK(a.row0 == -21);
    CHECK(rasterize({}, S2_10, PixelRule::Centre).empty());
    CHECK(rasterize({Polygon{}}, S2_10, PixelRule::AllTouched).empty());
}

TEST_CASE("negative rows and columns, and a grid origin", "[mask]") {
    const Mask m = rasterize({rect(-30, 10, -10, 30)}, S2_10, PixelRule::Centre);
    CHECK(m.col0 == -3);
    CHECK(m.row0 == -3);
    CHECK(m.count() == 4);
    // Same polygon on a grid with origin (-100, 100), 20 m pixels: columns (x+100)/20 = 3.5..4.5
    // -> the centre of col 4 (4.5 * 20 - 100 = -10) is on the east edge: in; col 3's centre is on
    // the west edge: out. Rows (100-y)/20 = 3.5..4.5: both centres lie on the north and south
    // edges: both in (see "centres exactly on the boundary").
    const Mask g =
        rasterize({rect(-30, 10, -10, 30)}, PixelGrid{-100, 100, 20, 20}, PixelRule::Centre);
    CHECK(g.count() == 2);
    CHECK(g.col0 == 4);
    CHECK(g.row0 == 3);
    CHECK(g.height == 2);
}

TEST_CASE("concave polygon (U shape)", "[mask]") {
    // U: outer 0..30 x -30..0 minus the notch x 10..20, y -20..0
    Polygon u{{Ring{{0, 10, 10, 20, 20, 30, 30, 0, 0}, {0, 0, -20, -20, 0, 0, -30, -30, 0}}}};
    const Mask m = rasterize({u}, S2_10, PixelRule::Centre);
    CHECK(picture(m) == "#.#\n#.#\n###\n");
}

TEST_CASE("at() outside the window is 0", "[mask]") {
    Mask m;
    CHECK(m.at(0, 0) == 0);
    CHECK(m.count() == 0);
}

TEST_CASE("a bad grid or non-finite vertex is an input error", "[mask]") {
    CHECK_THROWS_AS(rasterize({rect(0, 0, 1, 1)}, PixelGrid{0, 0, 0, 10}, PixelRule::Centre),
                    baims::InputError);
    CHECK_THROWS_AS(rasterize({rect(0, 0, 1e300, 1)}, S2_10, PixelRule::Centre), baims::InputError);
}
