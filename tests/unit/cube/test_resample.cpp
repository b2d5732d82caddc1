// Axis mapping and resampling arithmetic; expected values are worked out by hand in comments.

#include "baims/core/error.hpp"
#include "baims/cube/resample.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace baims::cube;

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
    CHECK(m.w[1] == Approx(0.5)); // 1.0 is halfway between 0.5 and 1.5
    CHECK(m.w[2] == Approx(0.5));
}

TEST_CASE("average overlaps carry area fractions", "[cube]") {
    // source cells [0,1) [1,2) [2,3) [3,4); output cells of 2 starting at -1: [-1,1) [1,3) [3,5)
    std::vector<double> src{0.5, 1.5, 2.5, 3.5};
    std::vector<double> out{0.0, 2.0, 4.0};
    auto m = map_axis(src, out, 2.0, Resampling::Average, false);
    REQUIRE(m.off == std::vector<std::uint32_t>{0, 1, 3, 4});
    CHECK(m.idx == std::vector<std::int32_t>{0, 1, 2, 3});
    CHECK(m.wts[0] == Approx(0.5)); // [0,1) covers half of [-1,1)
    CHECK(m.wts[1] == Approx(0.5));
    CHECK(m.wts[3] == Approx(0.5));
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
    CHECK(out == Approx(7.0f / 3.0f));

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
