// The loops of the expression evaluator (see expr_ops.hpp), one per operation.

#include "expr_ops.hpp"

#include <cmath>
#include <cstdint>
#include <limits>

namespace baims::cube::expr::ops {
namespace {

constexpr float NaNf = std::numeric_limits<float>::quiet_NaN();

inline bool truth(float x) {
    return x != 0.0f; // NaN is true (numpy)
}
inline float b2f(bool b) {
    return static_cast<float>(b);
}
// x and y, x or y without a jump per element (bitwise, on ints: `&&` and `||` halved the speed of
// `a and b` in bench/expr.sh, and Clang warns on bitwise operators between bools)
inline bool both(bool x, bool y) {
    return (static_cast<unsigned>(x) & static_cast<unsigned>(y)) != 0;
}
inline bool either(bool x, bool y) {
    return (static_cast<unsigned>(x) | static_cast<unsigned>(y)) != 0;
}
inline float np_mod(float a, float b) {
    float mod = std::fmod(a, b);
    if (mod != 0.0f) {
        if ((b < 0) != (mod < 0)) {
            mod += b;
        }
    } else {
        mod = std::copysign(0.0f, b);
    }
    return mod;
}
inline float np_floordiv(float a, float b) {
    if (b == 0.0f) {
        return a / b;
    }
    const float mod = std::fmod(a, b);
    float div = (a - mod) / b;
    if (mod != 0.0f && ((b < 0) != (mod < 0))) {
        div -= 1.0f;
    }
    if (div == 0.0f) {
        return std::copysign(0.0f, a / b);
    }
    float fl = std::floor(div);
    if (div - fl > 0.5f) {
        fl += 1.0f;
    }
    return fl;
}
inline bool integral_ok(float x) {
    return std::abs(x) < 9.2e18f; // false for NaN and inf
}
inline float bitwise(float a, float b, bool is_and) {
    if (!integral_ok(a) || !integral_ok(b)) {
        return NaNf;
    }
    const auto x = static_cast<int64_t>(a), y = static_cast<int64_t>(b);
    return static_cast<float>(is_and ? (x & y) : (x | y));
}
inline float np_minimum(float a, float b) {
    return a != a ? a : b != b ? b : (a < b ? a : b);
}
inline float np_maximum(float a, float b) {
    return a != a ? a : b != b ? b : (a > b ? a : b);
}
inline float np_sign(float a) {
    return a > 0 ? 1.0f : a < 0 ? -1.0f : a; // 0 -> 0, NaN -> NaN
}

template <class F> inline void each(float* __restrict d, size_t m, F f) {
    for (size_t i = 0; i < m; ++i) {
        d[i] = f(i);
    }
}

} // namespace

void run(const Program::Instr& in, float* __restrict d, const float* __restrict a,
         const float* __restrict b, const float* __restrict c, size_t m) {
    switch (static_cast<Op>(in.op)) {
    case ADD:
        return each(d, m, [&](size_t i) { return a[i] + b[i]; });
    case SUB:
        return each(d, m, [&](size_t i) { return a[i] - b[i]; });
    case MUL:
        return each(d, m, [&](size_t i) { return a[i] * b[i]; });
    case DIV:
        return each(d, m, [&](size_t i) { return a[i] / b[i]; });
    case POW:
        return each(d, m, [&](size_t i) { return std::pow(a[i], b[i]); });
    case MOD:
        return each(d, m, [&](size_t i) { return np_mod(a[i], b[i]); });
    case FLOORDIV:
        return each(d, m, [&](size_t i) { return np_floordiv(a[i], b[i]); });
    case NEG:
        return each(d, m, [&](size_t i) { return -a[i]; });
    case LT:
        return each(d, m, [&](size_t i) { return b2f(a[i] < b[i]); });
    case LE:
        return each(d, m, [&](size_t i) { return b2f(a[i] <= b[i]); });
    case GT:
        return each(d, m, [&](size_t i) { return b2f(a[i] > b[i]); });
    case GE:
        return each(d, m, [&](size_t i) { return b2f(a[i] >= b[i]); });
    case EQ:
        return each(d, m, [&](size_t i) { return b2f(a[i] == b[i]); });
    case NE:
        return each(d, m, [&](size_t i) { return b2f(a[i] != b[i]); });
    case AND:
        return each(d, m, [&](size_t i) { return b2f(both(truth(a[i]), truth(b[i]))); });
    case OR:
        return each(d, m, [&](size_t i) { return b2f(either(truth(a[i]), truth(b[i]))); });
    case XOR:
        return each(d, m, [&](size_t i) { return b2f(truth(a[i]) != truth(b[i])); });
    case NOT:
        return each(d, m, [&](size_t i) { return b2f(!truth(a[i])); });
    case BITAND:
        return each(d, m, [&](size_t i) { return bitwise(a[i], b[i], true); });
    case BITOR:
        return each(d, m, [&](size_t i) { return bitwise(a[i], b[i], false); });
    case BITNOT:
        return each(d, m, [&](size_t i) {
            return integral_ok(a[i]) ? static_cast<float>(~static_cast<int64_t>(a[i])) : NaNf;
        });
    case FLAG: {
        const uint64_t mask = in.mask, value = in.value, width = in.width;
        const bool eq = in.has_value;
        if (width <= 0xFFFFFFFFu) {
            // Flag words of up to 32 bits: uint32 arithmetic, values >= 2^31 wrapped into int32
            // first (exact: such floats are multiples of 256), so the loop vectorises. NaN: no
            // flag set.
            const auto mask32 = static_cast<uint32_t>(mask), value32 = static_cast<uint32_t>(value),
                       width32 = static_cast<uint32_t>(width);
            // Branch-free (random flag words would defeat branch prediction).
            auto word = [](float x) {
                const float adj = static_cast<float>(x >= 2147483648.0f) * 4294967296.0f;
                const float y = x == x ? x - adj : 0.0f;
                return static_cast<uint32_t>(static_cast<int32_t>(y));
            };
            if (eq) {
                return each(d, m, [&](size_t i) {
                    const uint32_t v = word(a[i]) & width32;
                    return b2f((a[i] == a[i]) & ((v & mask32) == value32));
                });
            }
            return each(d, m, [&](size_t i) {
                const uint32_t v = word(a[i]) & width32;
                return b2f((a[i] == a[i]) & ((v & mask32) != 0));
            });
        }
        return each(d, m, [&](size_t i) {
            const float x = a[i];
            if (!integral_ok(x) && !(x >= 0 && x < 1.9e19f)) {
                return 0.0f; // NaN (missing) or out of range: no flag set
            }
            const uint64_t v = (x < 0 ? static_cast<uint64_t>(static_cast<int64_t>(x))
                                      : static_cast<uint64_t>(x)) &
                               width;
            return b2f(eq ? (v & mask) == value : (v & mask) != 0);
        });
    }
    case ABS:
        return each(d, m, [&](size_t i) { return std::abs(a[i]); });
    case SQRT:
        return each(d, m, [&](size_t i) { return std::sqrt(a[i]); });
    case EXP:
        return each(d, m, [&](size_t i) { return std::exp(a[i]); });
    case EXPM1:
        return each(d, m, [&](size_t i) { return std::expm1(a[i]); });
    case LOG:
        return each(d, m, [&](size_t i) { return std::log(a[i]); });
    case LOG10:
        return each(d, m, [&](size_t i) { return std::log10(a[i]); });
    case LOG2:
        return each(d, m, [&](size_t i) { return std::log2(a[i]); });
    case LOG1P:
        return each(d, m, [&](size_t i) { return std::log1p(a[i]); });
    case SIN:
        return each(d, m, [&](size_t i) { return std::sin(a[i]); });
    case COS:
        return each(d, m, [&](size_t i) { return std::cos(a[i]); });
    case TAN:
        return each(d, m, [&](size_t i) { return std::tan(a[i]); });
    case ASIN:
        return each(d, m, [&](size_t i) { return std::asin(a[i]); });
    case ACOS:
        return each(d, m, [&](size_t i) { return std::acos(a[i]); });
    case ATAN:
        return each(d, m, [&](size_t i) { return std::atan(a[i]); });
    case ATAN2:
        return each(d, m, [&](size_t i) { return std::atan2(a[i], b[i]); });
    case SINH:
        return each(d, m, [&](size_t i) { return std::sinh(a[i]); });
    case COSH:
        return each(d, m, [&](size_t i) { return std::cosh(a[i]); });
    case TANH:
        return each(d, m, [&](size_t i) { return std::tanh(a[i]); });
    case FLOOR:
        return each(d, m, [&](size_t i) { return std::floor(a[i]); });
    case CEIL:
        return each(d, m, [&](size_t i) { return std::ceil(a[i]); });
    case TRUNC:
        return each(d, m, [&](size_t i) { return std::trunc(a[i]); });
    case RINT:
        return each(d, m, [&](size_t i) { return std::nearbyint(a[i]); });
    case SIGN:
        return each(d, m, [&](size_t i) { return np_sign(a[i]); });
    case ISNAN:
        return each(d, m, [&](size_t i) { return b2f(a[i] != a[i]); });
    case ISINF:
        return each(d, m, [&](size_t i) { return b2f(std::isinf(a[i])); });
    case ISFINITE:
        return each(d, m, [&](size_t i) { return b2f(std::isfinite(a[i])); });
    case WHERE:
        return each(d, m, [&](size_t i) { return truth(a[i]) ? b[i] : c[i]; });
    case FMIN:
        return each(d, m, [&](size_t i) { return std::fmin(a[i], b[i]); });
    case FMAX:
        return each(d, m, [&](size_t i) { return std::fmax(a[i], b[i]); });
    case MINIMUM:
        return each(d, m, [&](size_t i) { return np_minimum(a[i], b[i]); });
    case MAXIMUM:
        return each(d, m, [&](size_t i) { return np_maximum(a[i], b[i]); });
    case CLIP:
        return each(d, m, [&](size_t i) { return np_minimum(np_maximum(a[i], b[i]), c[i]); });
    case HYPOT:
        return each(d, m, [&](size_t i) { return std::hypot(a[i], b[i]); });
    }
}

namespace {
template <typename W>
void flag_words(const Program::Instr& in, float* __restrict d, const W* __restrict words,
                const uint8_t* __restrict valid, size_t m) {
    const uint64_t mask = in.mask, value = in.value, width = in.width;
    const bool eq = in.has_value;
    each(d, m, [&](size_t i) {
        const uint64_t v = static_cast<uint64_t>(words[i]) & width;
        return b2f(valid[i] != 0 && (eq ? (v & mask) == value : (v & mask) != 0));
    });
}
} // namespace

void flag_exact(const Program::Instr& in, float* __restrict d, const uint64_t* __restrict words,
                const uint8_t* __restrict valid, size_t m) {
    flag_words(in, d, words, valid, m);
}

void flag_exact(const Program::Instr& in, float* __restrict d, const uint32_t* __restrict words,
                const uint8_t* __restrict valid, size_t m) {
    flag_words(in, d, words, valid, m);
}

} // namespace baims::cube::expr::ops
