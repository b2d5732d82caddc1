// Speed of the gen expression evaluator (baims/cube/expr.hpp) on a 4400x2600 float32 slice, one
// thread: Mpixel/s of a few expressions, against a hand-written C++ loop of the same arithmetic.
// Built and run by bench/expr.sh.

#include "baims/cube/expr.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

using namespace baims::cube::expr;

int main() {
    const size_t W = 4400, H = 2600, N = W * H;
    const int REPS = 5;
    std::vector<float> a(N), b(N), out(N), ref(N);
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(0.0f, 3.0f);
    for (size_t i = 0; i < N; ++i) {
        a[i] = (i % 17 == 0) ? NAN : u(rng);
        b[i] = static_cast<float>(static_cast<uint32_t>(rng()) & 0x80000F0Fu);
    }
    Symbol flags{"flags"};
    flags.attrs = {{"flag_meanings", "x cloud valid"}, {"flag_masks", {1, 8, -2147483648LL}}};
    flags.bits = 32;
    const std::vector<Symbol> syms = {Symbol{"chl"}, flags};
    const float* vars[] = {a.data(), b.data()};
    auto best_of = [&](auto&& fn) {
        double best = 1e9;
        for (int r = 0; r < REPS; ++r) {
            auto t0 = std::chrono::steady_clock::now();
            fn();
            double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            best = std::min(best, s);
        }
        return best;
    };
    std::printf("| expression | ops | baims expr (Mpixel/s) | hand-written loop (Mpixel/s) |\n");
    std::printf("|---|---:|---:|---:|\n");
    struct Case {
        const char* text;
        void (*loop)(const float*, const float*, float*, size_t);
    };
    const Case cases[] = {
        {"chl * 2.5 + 1 > 3",
         [](const float* x, const float*, float* o, size_t n) {
             for (size_t i = 0; i < n; ++i) {
                 o[i] = (x[i] * 2.5f + 1.0f > 3.0f) ? 1.0f : 0.0f;
             }
         }},
        {"(chl - 1) * (chl + 1) / 2",
         [](const float* x, const float*, float* o, size_t n) {
             for (size_t i = 0; i < n; ++i) {
                 o[i] = (x[i] - 1.0f) * (x[i] + 1.0f) / 2.0f;
             }
         }},
        {"flags.valid and not flags.cloud",
         [](const float*, const float* f, float* o, size_t n) {
             for (size_t i = 0; i < n; ++i) {
                 const auto v = static_cast<uint64_t>(f[i]);
                 o[i] = ((v & 0x80000000u) != 0 && (v & 8u) == 0) ? 1.0f : 0.0f;
             }
         }},
        {"where(chl > 1, log10(chl), chl)",
         [](const float* x, const float*, float* o, size_t n) {
             for (size_t i = 0; i < n; ++i) {
                 o[i] = x[i] > 1.0f ? std::log10(x[i]) : x[i];
             }
         }},
    };
    for (const auto& c : cases) {
        auto p = Program::compile(c.text, syms);
        const double te = best_of([&] { p.eval(vars, N, out.data()); });
        const double tl = best_of([&] { c.loop(a.data(), b.data(), ref.data(), N); });
        size_t diff = 0;
        for (size_t i = 0; i < N; ++i) {
            diff += (out[i] == ref[i] || (std::isnan(out[i]) && std::isnan(ref[i]))) ? 0 : 1;
        }
        std::printf("| `%s` | %zu | %.0f | %.0f |%s\n", c.text, p.instructions(), N / te / 1e6,
                    N / tl / 1e6, diff ? " (results differ!)" : "");
    }
    return 0;
}
