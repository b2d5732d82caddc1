// bench/rasterize_masks.cpp: zonal::rasterize alone (no database) on N parcels of the benchmark
// law (jittered quadrilaterals in 200 m cells, ~216 pixels at 10 m), at 10 and 20 m, both rules.
// Built and run by bench/rasterize.sh; prints one Markdown row per (res, rule).
#include "baims/zonal/mask.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

using namespace baims::zonal;

int main(int argc, char** argv) {
    const int n = argc > 1 ? std::atoi(argv[1]) : 100000;
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> u(0, 1);
    const double cell = 200, x0 = 520000, y0 = 6180000;
    const int side = static_cast<int>(std::ceil(std::sqrt(n)));
    std::vector<MultiPolygon> parcels;
    for (int k = 0; k < n; ++k) {
        const double cx = x0 + (k % side) * cell, cy = y0 - (k / side) * cell;
        const double w = (0.5 + 0.47 * u(rng)) * cell, h = (0.5 + 0.47 * u(rng)) * cell;
        const double ox = u(rng) * (cell - w), oy = u(rng) * (cell - h);
        auto j = [&] { return (u(rng) * 0.16 - 0.08) * cell * 0.5; };
        Ring r;
        r.x = {cx + ox + j(), cx + ox + w + j(), cx + ox + w + j(), cx + ox + j()};
        r.y = {cy - oy + j(), cy - oy + j(), cy - oy - h + j(), cy - oy - h + j()};
        r.x.push_back(r.x[0]);
        r.y.push_back(r.y[0]);
        parcels.push_back({Polygon{{r}}});
    }
    std::printf("| res | rule | parcels | pixels | seconds | parcels/s "
                "|\n|---:|---|---:|---:|---:|---:|\n");
    for (double res : {10.0, 20.0})
        for (PixelRule rule : {PixelRule::Centre, PixelRule::AllTouched}) {
            const auto t0 = std::chrono::steady_clock::now();
            long long px = 0;
            for (const auto& p : parcels)
                px += rasterize(p, PixelGrid{0, 0, res, res}, rule).count();
            const double s =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::printf("| %.0f | %s | %d | %lld | %.3f | %.0f |\n", res,
                        rule == PixelRule::Centre ? "centre" : "all touched", n, px, s, n / s);
        }
}
