#include "baims/core/error.hpp"
#include "baims/grid/grid.hpp"

#include <catch2/catch.hpp>

using baims::grid::Box;
using baims::grid::Grid;

TEST_CASE("the output region is honoured exactly, pixels need not be square", "[grid]") {
    // BalticAIMS: 12594 x 14040 over [9, 53, 31, 66] (xcube forced square pixels and reached 77.5N)
    auto g = Grid::from_size({9, 53, 31, 66}, 12594, 14040);
    // Coordinates to 1e-9 pixel (grid arithmetic in double is good to ~1e-13 pixel); Catch2's
    // default epsilon would accept 7.9e-4 degree here, most of a 9.3e-4 degree pixel.
    const double px = 13.0 / 14040;
    auto near = [px](double v) { return Approx(v).epsilon(0).margin(1e-9 * px); };
    CHECK(g.extent().ymax == 66.0);
    CHECK(g.dx() == near(22.0 / 12594));
    CHECK(g.dy() == near(13.0 / 14040));
    CHECK(g.y(0) == near(66.0 - 0.5 * 13.0 / 14040));
    CHECK(g.y(14039) == near(53.0 + 0.5 * 13.0 / 14040));
    CHECK(g.x(0) == near(9.0 + 0.5 * 22.0 / 12594));
    CHECK(g.x(12593) == near(31.0 - 0.5 * 22.0 / 12594));
    auto gt = g.geotransform();
    CHECK(gt[0] == 9.0);
    CHECK(gt[3] == 66.0);
    CHECK(gt[1] == near(22.0 / 12594));
    CHECK(gt[5] == near(-13.0 / 14040));
}

TEST_CASE("from_resolution rounds to whole pixels", "[grid]") {
    auto g = Grid::from_resolution({-16, 48, 10.666666666666666, 62.666666666666664}, 1.0 / 24,
                                   1.0 / 24);
    CHECK(g.width() == 640);
    CHECK(g.height() == 352);
    CHECK(
        g.compatible(Grid::from_size({-16, 48, 10.666666666666666, 62.666666666666664}, 640, 352)));
    CHECK_FALSE(
        g.compatible(Grid::from_size({-16, 48, 10.666666666666666, 62.666666666666664}, 320, 176)));
    CHECK_THROWS_AS(Grid::from_size({1, 0, 0, 1}, 1, 1), baims::ConfigError);
}
