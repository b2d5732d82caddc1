// Pixel expressions (baims/cube/expr.hpp): values against numpy's float32 semantics worked out by
// hand, precedence, NaN, CF flag tests, and every error with its position.

#include "baims/cube/expr.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace baims::cube::expr;

namespace {

const float NaN = std::numeric_limits<float>::quiet_NaN();

// a, b, c: three pixels each; flags: int32 flag word with masks (c2rcc-like, unsigned); cls:
// class values with flag_values only; sflags: int16 masks with flag_values.
std::vector<Symbol> symbols() {
    Symbol a{"a"}, b{"b"}, c{"c"}, flags{"flags"}, cls{"cls"}, sflags{"sflags"};
    flags.attrs = {{"flag_meanings", "Rtosa_OOS Cloud_risk Valid_PE"},
                   {"flag_masks", {1, 256, -2147483648LL}}};
    flags.bits = 32;
    cls.attrs = {{"flag_meanings", "water land cloud"}, {"flag_values", {1, 2, 4}}};
    cls.bits = 8;
    sflags.attrs = {{"flag_meanings", "low high"},
                    {"flag_masks", "3, 12"},
                    {"flag_values", nlohmann::json::array({1, 12})}};
    sflags.bits = 16;
    return {a, b, c, flags, cls, sflags};
}

struct Data {
    std::vector<float> a = {1.0f, -2.5f, NaN, 4.0f};
    std::vector<float> b = {2.0f, 0.0f, 3.0f, -1.0f};
    std::vector<float> c = {0.5f, 10.0f, 1.0f, NaN};
    // 2^31 + 2^8 (Valid_PE, Cloud_risk) is exact in float32; 1; 0; NaN
    std::vector<float> flags = {2147483904.0f, 1.0f, 0.0f, NaN};
    std::vector<float> cls = {1.0f, 2.0f, 4.0f, 5.0f};
    std::vector<float> sflags = {1.0f, 13.0f, 12.0f, 2.0f};
};

std::vector<float> eval(const std::string& text) {
    static const auto syms = symbols();
    auto p = Program::compile(text, syms);
    Data d;
    const float* vars[] = {d.a.data(),     d.b.data(),   d.c.data(),
                           d.flags.data(), d.cls.data(), d.sflags.data()};
    std::vector<float> out(4, -999.0f);
    p.eval(vars, 4, out.data());
    return out;
}

// Exact equality, NaN == NaN.
bool same(const std::vector<float>& got, const std::vector<float>& want) {
    if (got.size() != want.size()) {
        return false;
    }
    for (size_t i = 0; i < got.size(); ++i) {
        if (std::isnan(want[i]) ? !std::isnan(got[i]) : got[i] != want[i]) {
            return false;
        }
    }
    return true;
}

// Within 2 float32 ulps (infinities and NaN exactly).
bool close(const std::vector<float>& got, const std::vector<float>& want) {
    if (got.size() != want.size()) {
        return false;
    }
    for (size_t i = 0; i < got.size(); ++i) {
        if (std::isnan(want[i]) || std::isinf(want[i])) {
            if (!same({got[i]}, {want[i]})) {
                return false;
            }
        } else if (std::abs(got[i] - want[i]) > 2.4e-7f * std::max(1.0f, std::abs(want[i]))) {
            return false;
        }
    }
    return true;
}

std::string error_of(const std::string& text) {
    static const auto syms = symbols();
    try {
        Program::compile(text, syms);
    } catch (const ExprError& e) {
        return describe(text, e);
    }
    return "no error";
}

} // namespace

TEST_CASE("arithmetic, precedence and NaN follow numpy float32", "[expr]") {
    CHECK(same(eval("a + b * 2"), {5.0f, -2.5f, NaN, 2.0f}));
    CHECK(same(eval("(a + b) * 2"), {6.0f, -5.0f, NaN, 6.0f}));
    CHECK(same(eval("-a ** 2"), {-1.0f, -6.25f, NaN, -16.0f})); // -(a**2)
    CHECK(same(eval("2 ** -1 + 0 * a"), {0.5f, 0.5f, NaN, 0.5f}));
    CHECK(same(eval("2 ** 3 ** 2 + 0 * b"), {512.0f, 512.0f, 512.0f, 512.0f})); // right-assoc
    CHECK(same(eval("a / b"), {0.5f, -INFINITY, NaN, -4.0f}));
    CHECK(same(eval("a - b - c"), {-1.5f, -12.5f, NaN, NaN}));
    CHECK(same(eval("7 % b"), {1.0f, NaN, 1.0f, -0.0f}));
    CHECK(same(eval("a % 3"), {1.0f, 0.5f, NaN, 1.0f})); // sign of the divisor
    CHECK(same(eval("a // b"), {0.0f, -INFINITY, NaN, -4.0f}));
    CHECK(same(eval("-7 // (b + 0 * b)"), {-4.0f, -INFINITY, -3.0f, 7.0f}));
    CHECK(same(eval("1.5e1 + .5 + 2. + 0 * a"), {17.5f, 17.5f, NaN, 17.5f}));
    CHECK(same(eval("a * 0.1"),
               {1.0f * 0.1f, -2.5f * 0.1f, NaN, 4.0f * 0.1f})); // literal rounded to float32
}

TEST_CASE("comparisons and logic: NaN compares false, NaN is true", "[expr]") {
    CHECK(same(eval("a < b"), {1, 1, 0, 0}));
    CHECK(same(eval("a >= b"), {0, 0, 0, 1}));
    CHECK(same(eval("a != b"), {1, 1, 1, 1}));
    CHECK(same(eval("a == a"), {1, 1, 0, 1}));
    CHECK(same(eval("a == NaN"), {0, 0, 1, 0})); // xcube: isnan
    CHECK(same(eval("nan != c"), {1, 1, 1, 0}));
    CHECK(same(eval("a > 0 and b > 0"), {1, 0, 0, 0}));
    CHECK(same(eval("a > 0 && b > 0 || c > 5"), {1, 1, 0, 0}));
    CHECK(same(eval("not a > 0"), {0, 1, 1, 0})); // not binds looser than >
    CHECK(same(eval("!(a > 0)"), {0, 1, 1, 0}));
    CHECK(same(eval("a > 0 or b > 0 and c > 5"), {1, 0, 0, 1})); // and before or
    CHECK(same(eval("(a > 0) & (b > 0) | (c > 5)"), {1, 1, 0, 0}));
    CHECK(same(eval("~(a > 0)"), {0, 1, 1, 0}));
    CHECK(same(eval("a and b"), {1, 0, 1, 1})); // NaN is true, 0 is false
    CHECK(same(eval("not c"), {0, 0, 0, 0}));
    CHECK(same(eval("True and a > 3 or False"), {0, 0, 0, 1}));
    CHECK(same(eval("a if b > 0 else c"), {1.0f, 10.0f, NaN, NaN}));
    CHECK(same(eval("where(a > 0, a, -1)"), {1.0f, -1.0f, -1.0f, 4.0f}));
}

TEST_CASE("functions", "[expr]") {
    CHECK(same(eval("abs(a)"), {1.0f, 2.5f, NaN, 4.0f}));
    CHECK(same(eval("sqrt(a)"), {1.0f, NaN, NaN, 2.0f}));
    CHECK(same(eval("np.sqrt(b) + 0"), {std::sqrt(2.0f), 0.0f, std::sqrt(3.0f), NaN}));
    // libm float functions (numpy's own float32 kernels may differ in the last bit)
    CHECK(close(eval("log10(c)"), {std::log10(0.5f), 1.0f, 0.0f, NaN}));
    CHECK(close(eval("log(b)"), {std::log(2.0f), -INFINITY, std::log(3.0f), NaN}));
    CHECK(close(eval("exp(b)"), {std::exp(2.0f), 1.0f, std::exp(3.0f), std::exp(-1.0f)}));
    CHECK(close(eval("sin(b) + cos(b) - tan(b)"),
                {std::sin(2.0f) + std::cos(2.0f) - std::tan(2.0f), 1.0f,
                 std::sin(3.0f) + std::cos(3.0f) - std::tan(3.0f),
                 std::sin(-1.0f) + std::cos(-1.0f) - std::tan(-1.0f)}));
    CHECK(same(eval("arctan(b) - atan(b)"), {0, 0, 0, 0}));
    CHECK(same(eval("min(a, c)"), {0.5f, -2.5f, 1.0f, 4.0f})); // fmin, as xcube maps min
    CHECK(same(eval("max(a, c)"), {1.0f, 10.0f, 1.0f, 4.0f}));
    CHECK(same(eval("minimum(a, c)"), {0.5f, -2.5f, NaN, NaN})); // propagates NaN
    CHECK(same(eval("isnan(a) + isnan(c) * 2"), {0, 0, 1, 2}));
    CHECK(same(eval("clip(a, 0, 2)"), {1.0f, 0.0f, NaN, 2.0f}));
    CHECK(same(eval("floor(a) + ceil(c)"), {2.0f, 7.0f, NaN, NaN}));
    CHECK(same(eval("round(c) + sign(a)"), {1.0f, 9.0f, NaN, NaN})); // half to even: 0.5 -> 0
}

TEST_CASE("constants fold; variables shadow constant names", "[expr]") {
    auto syms = symbols();
    CHECK(Program::compile("a * (2 + 3) * sqrt(4)", syms).instructions() == 2);
    CHECK(Program::compile("a > 1", syms).boolean());
    CHECK(!Program::compile("a + 1", syms).boolean());
    CHECK(Program::compile("c + a * b", syms).slots() == std::vector<size_t>{0, 1, 2});
    CHECK(same(eval("PI * 0 + pi - np.pi + 2"), {2, 2, 2, 2}));
    syms.push_back(Symbol{"pi"});
    CHECK(Program::compile("pi + 1", syms).slots() == std::vector<size_t>{6});
}

TEST_CASE("CF flag tests from flag_masks and flag_values", "[expr]") {
    CHECK(same(eval("flags.Valid_PE"), {1, 0, 0, 0}));
    CHECK(same(eval("flags.Cloud_risk"), {1, 0, 0, 0}));
    CHECK(same(eval("flags.Rtosa_OOS"), {0, 1, 0, 0}));
    CHECK(same(eval("flags.Valid_PE and not flags.Rtosa_OOS"), {1, 0, 0, 0}));
    CHECK(same(eval("cls.land + 2 * cls.cloud"), {0, 1, 2, 0})); // flag_values: equality
    CHECK(same(eval("sflags.low"), {1, 1, 0, 0}));               // (v & 3) == 1
    CHECK(same(eval("sflags.high"), {0, 1, 1, 0}));              // (v & 12) == 12
}

TEST_CASE("errors name the position", "[expr]") {
    CHECK(error_of("log10(chl_x) * 2") ==
          "'log10(chl_x) * 2' at position 7: unknown variable 'chl_x'");
    CHECK(error_of("a + bb") ==
          "'a + bb' at position 5: unknown variable 'bb' (did you mean 'b'?)");
    CHECK(error_of("flags.Valid_P") ==
          "'flags.Valid_P' at position 7: 'flags' has no flag 'Valid_P' (did you mean "
          "'Valid_PE'?); its flags: Rtosa_OOS, Cloud_risk, Valid_PE");
    CHECK(error_of("a.Valid") ==
          "'a.Valid' at position 3: 'a.Valid' is not a flag test: 'a' has no flag_meanings "
          "attribute");
    CHECK(error_of("x.Valid") ==
          "'x.Valid' at position 1: unknown variable 'x' (did you mean 'a'?)");
    CHECK(error_of("a + (b * 2") ==
          "'a + (b * 2' at position 11: expected ')' to close the '(' at position 5, got the end "
          "of the expression");
    CHECK(error_of("a + ") ==
          "'a + ' at position 5: expected a number, a name or '(', got the end of the expression");
    CHECK(error_of("a b") == "'a b' at position 3: expected an operator, got 'b'");
    CHECK(error_of("a = 1") == "'a = 1' at position 3: '=' is not an operator; compare with '=='");
    CHECK(error_of("a ^ 2") ==
          "'a ^ 2' at position 3: '^' is not supported; write powers with '**'");
    CHECK(error_of("a $ 2") == "'a $ 2' at position 3: unexpected character '$'");
    CHECK(error_of("0 < a < 1") ==
          "'0 < a < 1' at position 7: chained comparisons are not supported; write (a < b) and "
          "(b < c)");
    CHECK(error_of("lg(a)") ==
          "'lg(a)' at position 1: unknown function 'lg' (did you mean 'log'?)");
    CHECK(error_of("where(a, b)") ==
          "'where(a, b)' at position 1: 'where' takes 3 arguments, got 2");
    CHECK(error_of("sqrt(a b)") ==
          "'sqrt(a b)' at position 8: expected ',' or ')' in the arguments of 'sqrt', got 'b'");
    CHECK(error_of("1.5e + a") == "'1.5e + a' at position 1: malformed number '1.5e'");
    CHECK(error_of("12abc") == "'12abc' at position 1: malformed number '12abc'");
    CHECK(error_of("a if b") == "'a if b' at position 7: expected 'else' after 'if', got the end "
                                "of the expression");
    CHECK(error_of("a is None") == "'a is None' at position 3: 'is' is not supported");
    CHECK(error_of("a[0]") == "'a[0]' at position 2: indexing with '[' is not supported");
    CHECK(error_of("a. + 1") == "'a. + 1' at position 4: expected a name after '.', got '+'");
    CHECK(error_of("np.foo + 1") == "'np.foo + 1' at position 4: unknown constant 'np.foo'");
    CHECK(error_of("a.b(1)") == "'a.b(1)' at position 1: unknown function 'a.b'");
    CHECK(error_of("") ==
          "'' at position 1: expected a number, a name or '(', got the end of the expression");
    CHECK(error_of("and") == "'and' at position 1: expected a number, a name or '(', got 'and'");
    // syntax is checked without names
    CHECK_NOTHROW(Program::check_syntax("unknown_var.Some_flag and other > 1"));
    CHECK_THROWS_AS(Program::check_syntax("a +"), ExprError);
}

TEST_CASE("flag attributes that do not make a flag test", "[expr]") {
    Symbol f{"f"};
    f.attrs = {{"flag_meanings", "x y"}};
    CHECK_THROWS_WITH(Program::compile("f.x", {f}),
                      "at position 3: 'f.x' is not a flag test: 'f' has flag_meanings but neither "
                      "flag_masks nor flag_values");
    f.attrs["flag_masks"] = {1};
    CHECK_THROWS_WITH(Program::compile("f.x", {f}),
                      "at position 3: 'f' has 2 flag_meanings but 1 flag_masks");
    f.attrs["flag_masks"] = "1 two";
    CHECK_THROWS_WITH(Program::compile("f.x", {f}),
                      "at position 3: 'f' has a flag_masks attribute that is not a list of whole "
                      "numbers");
}

TEST_CASE("evaluation over many blocks equals the pixel-wise result", "[expr]") {
    const size_t n = Program::BLOCK * 3 + 17;
    std::vector<float> x(n), y(n), out(n);
    for (size_t i = 0; i < n; ++i) {
        x[i] = static_cast<float>(i % 97) - 40.0f;
        y[i] = (i % 13 == 0) ? NaN : static_cast<float>(i % 7);
    }
    auto p = Program::compile("where(x > 0, x * y + 1, -y) / 2", {Symbol{"x"}, Symbol{"y"}});
    const float* vars[] = {x.data(), y.data()};
    p.eval(vars, n, out.data());
    size_t bad = 0;
    for (size_t i = 0; i < n; ++i) {
        const float want = (x[i] > 0 ? x[i] * y[i] + 1.0f : -y[i]) / 2.0f;
        bad += (std::isnan(want) ? !std::isnan(out[i]) : out[i] != want) ? 1 : 0;
    }
    CHECK(bad == 0);
}

TEST_CASE("flag tests of 64-bit words: masks past 2^63 as text, exact words", "[expr]") {
    Symbol q{"q"};
    q.attrs = {{"flag_meanings", "Low High Top Pair"},
               {"flag_masks", "1, 18014398509481984, 9223372036854775808, -9223372036854775807"},
               {"flag_values", "1 18014398509481984 9223372036854775808 1"}};
    q.bits = 64;
    const uint64_t top = uint64_t(1) << 63, high = uint64_t(1) << 54;
    // words a double cannot hold: 2^63 + 1, 2^63 + 2^54 + 1; a missing word; 2^54 + 1
    const std::vector<uint64_t> words = {top | 1, top | high | 1, top | high | 1, high | 1};
    const std::vector<uint8_t> valid = {1, 1, 0, 1};
    const std::vector<float> values = {static_cast<float>(top | 1), 0.0f, NaN, 0.0f};
    auto run = [&](const std::string& text) {
        auto p = Program::compile(text, {q});
        const float* vars[] = {values.data()};
        const Program::Words w[] = {{words.data(), valid.data()}};
        std::vector<float> out(4, -999.0f);
        p.eval(vars, 4, out.data(), w);
        return out;
    };
    CHECK(same(run("q.Low"), {1, 1, 0, 1}));
    CHECK(same(run("q.High"), {0, 1, 0, 1}));
    CHECK(same(run("q.Top and q.Low"), {1, 1, 0, 0}));
    // mask 2^63 + 1 (given as a negative number), value 1: bit 0 set and bit 63 clear
    CHECK(same(run("q.Pair"), {0, 0, 0, 1}));
}

TEST_CASE("reads_values: a slot only flag-tested is evaluated from its words alone", "[expr]") {
    Symbol q{"q"}, a{"a"};
    q.attrs = {{"flag_meanings", "Low Top"}, {"flag_masks", "1, 2147483648"}};
    q.bits = 32;
    const std::vector<Symbol> syms = {q, a};
    const auto only_flags = Program::compile("q.Top and not q.Low and a > 1", syms);
    CHECK_FALSE(only_flags.reads_values(0));
    CHECK(only_flags.reads_values(1));
    CHECK(Program::compile("q.Top and q > 0", syms).reads_values(0));
    CHECK(Program::compile("q", syms).reads_values(0));
    CHECK(Program::compile("where(q.Low, q, a)", syms).reads_values(0));
    CHECK_FALSE(Program::compile("a", syms).reads_values(0));
    // evaluated with no values of q at all (a null pointer), only its words
    const std::vector<uint64_t> words = {2147483648u, 2147483649u, 0, 2147483648u};
    const std::vector<uint8_t> valid = {1, 1, 1, 0};
    const std::vector<float> av = {2, 2, 2, 2};
    const float* vars[] = {nullptr, av.data()};
    const Program::Words w[] = {{words.data(), valid.data()}, {}};
    std::vector<float> out(4, -999.0f);
    only_flags.eval(vars, 4, out.data(), w);
    CHECK(same(out, {1, 0, 0, 0}));
    // the same words held as 32 bits (io::FlagWords::w32 of a variable of up to 32 bits)
    const std::vector<uint32_t> words32(words.begin(), words.end());
    const Program::Words w32[] = {{nullptr, valid.data(), words32.data()}, {}};
    std::fill(out.begin(), out.end(), -999.0f);
    only_flags.eval(vars, 4, out.data(), w32);
    CHECK(same(out, {1, 0, 0, 0}));
}
