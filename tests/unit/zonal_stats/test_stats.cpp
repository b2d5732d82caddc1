// Statistics and hist text against numpy 1.24.2 (Debian bookworm). The golden numbers were made
// with /usr/bin/python3 by this script (repr() of float64 results):
//
//   import numpy as np
//   def lcg(n, seed=12345):
//       x = seed; out = []
//       for _ in range(n):
//           x = (x * 1103515245 + 12345) % 2**31
//           out.append(1 + x % 9999)
//       return out
//   for n in (129, 1000):
//       a = np.array(lcg(n), dtype=np.uint16)
//       print(n, repr(a.mean()), repr(a.std()), a.min(), a.max(),
//             *[repr(x) for x in np.percentile(a, [25, 50, 75])])
//       b = a.astype("f8") / 7.0
//       print(n, repr(b.mean()), repr(b.std()), repr(b.min()), repr(b.max()),
//             *[repr(x) for x in np.percentile(b, [25, 50, 75])])
//   for a in ([1234], [3, 10], [1021, 987, 1500, 1500, 233, 4095, 812, 990, 1001, 1002, 65535, 17],
//             [0.1, -2.5, 3.25, 1e-3, 7.0, 7.0, -0.3]):
//       a = np.array(a, dtype="f8")
//       print(len(a), repr(a.mean()), repr(a.std()), repr(a.min()), repr(a.max()),
//             *[repr(x) for x in np.percentile(a, [25, 50, 75])])
//
// mean and std are compared for equality: stats.cpp uses numpy's pairwise summation.

#include "baims/zonal/stats.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

using namespace baims::zonal;

namespace {

std::vector<double> lcg(int n) {
    std::uint64_t x = 12345;
    std::vector<double> out;
    for (int i = 0; i < n; ++i) {
        x = (x * 1103515245ULL + 12345ULL) % (1ULL << 31);
        out.push_back(static_cast<double>(1 + x % 9999));
    }
    return out;
}

void check(std::vector<double> values, std::int64_t count, double mean, double std, double min,
           double max, double p25, double p50, double p75) {
    StatsAccumulator acc;
    for (double v : values) {
        acc.add(v);
    }
    auto s = acc.finish();
    REQUIRE(s);
    CHECK(s->count == count);
    CHECK(s->mean == mean);
    CHECK(s->std == std);
    CHECK(s->min == min);
    CHECK(s->max == max);
    CHECK(s->p25 == p25);
    CHECK(s->p50 == p50);
    CHECK(s->p75 == p75);
}

} // namespace

TEST_CASE("stats equal numpy on small hand-written samples", "[zonal][stats]") {
    check({1234}, 1, 1234.0, 0.0, 1234.0, 1234.0, 1234.0, 1234.0, 1234.0);
    check({3, 10}, 2, 6.5, 3.5, 3.0, 10.0, 4.75, 6.5, 8.25);
    check({1021, 987, 1500, 1500, 233, 4095, 812, 990, 1001, 1002, 65535, 17}, 12, 6557.75,
          17808.642251844096, 17.0, 65535.0, 943.25, 1001.5, 1500.0);
    check({0.1, -2.5, 3.25, 1e-3, 7.0, 7.0, -0.3}, 7, 2.0787142857142853, 3.4777893107254094, -2.5,
          7.0, -0.1495, 0.1, 5.125);
}

TEST_CASE("stats equal numpy bit for bit over the pairwise-summation sizes", "[zonal][stats]") {
    check(lcg(129), 129, 4317.542635658915, 2853.419001850269, 44, 9966, 2037.0, 3915.0, 6541.0);
    check(lcg(1000), 1000, 4941.609, 2911.4605554805307, 8, 9997, 2422.25, 4990.0, 7474.25);
    auto div7 = [](std::vector<double> v) {
        for (auto& x : v) {
            x /= 7.0;
        }
        return v;
    };
    check(div7(lcg(129)), 129, 616.7918050941306, 407.63128597860987, 6.285714285714286,
          1423.7142857142858, 291.0, 559.2857142857143, 934.4285714285714);
    check(div7(lcg(1000)), 1000, 705.9441428571429, 415.92293649721864, 1.1428571428571428,
          1428.142857142857, 346.0357142857143, 712.8571428571429, 1067.75);
}

TEST_CASE("no valid pixel gives no statistics", "[zonal][stats]") {
    StatsAccumulator acc;
    CHECK_FALSE(acc.finish());
}

TEST_CASE("hist text is Python json.dumps of ascending keys", "[zonal][hist]") {
    HistAccumulator h;
    for (int i = 0; i < 14; ++i) {
        h.add(9);
    }
    for (int i = 0; i < 15; ++i) {
        h.add(3);
    }
    h.add(4);
    h.add(4);
    CHECK(h.total() == 31);
    CHECK(h.finish_json() == std::optional<std::string>("{\"3\": 15, \"4\": 2, \"9\": 14}"));

    HistAccumulator mixed; // class 0 kept when mixed; 10 sorts after 9 numerically
    mixed.add(10);
    mixed.add(0);
    mixed.add(9);
    mixed.add(0);
    CHECK(mixed.finish_json() == std::optional<std::string>("{\"0\": 2, \"9\": 1, \"10\": 1}"));

    HistAccumulator only_zero;
    only_zero.add(0);
    only_zero.add(0);
    CHECK_FALSE(only_zero.finish_json());

    HistAccumulator empty;
    CHECK_FALSE(empty.finish_json());

    HistAccumulator wide; // classes outside 0..255 (e.g. int16 bands) in numeric order too
    wide.add(1000);
    wide.add(-5);
    wide.add(7);
    wide.add(300);
    wide.add(-5);
    CHECK(wide.finish_json(-9999) ==
          std::optional<std::string>("{\"-5\": 2, \"7\": 1, \"300\": 1, \"1000\": 1}"));
}

TEST_CASE("min, max and quantiles by partial sorts equal those of the fully sorted values",
          "[zonal][stats]") {
    // compute_stats reads the order statistics with nth_element; every n from 1 to 300 (each
    // position of the quantile ranks, repeated ranks for small n) and many tied values.
    std::uint64_t x = 987654321;
    for (std::size_t n = 1; n <= 300; ++n) {
        for (std::uint64_t spread : {3ULL, 10000ULL}) {
            std::vector<double> v;
            for (std::size_t i = 0; i < n; ++i) {
                x = (x * 6364136223846793005ULL + 1442695040888963407ULL);
                v.push_back(static_cast<double>((x >> 33) % spread));
            }
            std::vector<double> sorted = v;
            std::sort(sorted.begin(), sorted.end());
            auto s = compute_stats(v);
            REQUIRE(s);
            INFO("n = " << n << ", spread " << spread);
            CHECK(s->min == sorted.front());
            CHECK(s->max == sorted.back());
            CHECK(s->p25 == quantile_linear(sorted, 0.25));
            CHECK(s->p50 == quantile_linear(sorted, 0.50));
            CHECK(s->p75 == quantile_linear(sorted, 0.75));
        }
    }
}
