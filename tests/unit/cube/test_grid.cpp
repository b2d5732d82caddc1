#include "baims/core/error.hpp"
#include "baims/grid/grid.hpp"

#include <catch2/catch.hpp>

using baims::grid::Box;
using baims::grid::Grid;

TEST_CASE("the output region is honoured exactly, pixels need not be square", "[grid]") {
    // BalticAIMS: 12594 x 14040 over [9, 53, 31, 66] (xcube forced square pixels and reached 77.5N)
    auto g = Grid::from_size({9, 53, 31, 66}, 12594, 14040);
    CHECK(g.extent().ymax == 66.0);
    CHECK(g.dx() == Approx(22.0 / 12594));
    CHECK(g.dy() == Approx(13.0 / 14040));
    CHECK(g.y(0) == Approx(66.0 - 0.5 * 13.0 / 14040));
    CHECK(g.y(14039) == Approx(53.0 + 0.5 * 13.0 / 14040));
    auto gt = g.geotransform();
    CHECK(gt[0] == 9.0);
    CHECK(gt[3] == 66.0);
    CHECK(gt[5] == Approx(-13.0 / 14040));
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
