#pragma once
// Internal to the expression evaluator (expr.cpp, expr_eval.cpp): the operations and the loop
// that runs one instruction over a block of pixels. expr_eval.cpp is compiled with -O3 so that
// these loops are vectorised; it holds no std::string (GCC 12's -O3 false positives).

#include "baims/cube/expr.hpp"

namespace baims::cube::expr::ops {

enum Op : int {
    ADD,
    SUB,
    MUL,
    DIV,
    POW,
    MOD,
    FLOORDIV,
    NEG,
    LT,
    LE,
    GT,
    GE,
    EQ,
    NE,
    AND,
    OR,
    XOR,
    NOT,
    BITAND,
    BITOR,
    BITNOT,
    FLAG,
    ABS,
    SQRT,
    EXP,
    EXPM1,
    LOG,
    LOG10,
    LOG2,
    LOG1P,
    SIN,
    COS,
    TAN,
    ASIN,
    ACOS,
    ATAN,
    ATAN2,
    SINH,
    COSH,
    TANH,
    FLOOR,
    CEIL,
    TRUNC,
    RINT,
    SIGN,
    ISNAN,
    ISINF,
    ISFINITE,
    WHERE,
    FMIN,
    FMAX,
    MINIMUM,
    MAXIMUM,
    CLIP,
    HYPOT,
};

// d[i] = op(a[i], b[i], c[i]) for i < m. d may not alias a, b or c.
void run(const Program::Instr& in, float* __restrict d, const float* __restrict a,
         const float* __restrict b, const float* __restrict c, size_t m);

// A FLAG instruction over exact flag words (integers modulo 2^64, or 32-bit words of a variable
// of at most 32 bits; valid 0: missing, no flag set) instead of its float32 operand.
void flag_exact(const Program::Instr& in, float* __restrict d, const uint64_t* __restrict words,
                const uint8_t* __restrict valid, size_t m);
void flag_exact(const Program::Instr& in, float* __restrict d, const uint32_t* __restrict words,
                const uint8_t* __restrict valid, size_t m);

} // namespace baims::cube::expr::ops
