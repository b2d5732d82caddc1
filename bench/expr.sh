#!/usr/bin/env bash
# Speed of gen's expression evaluator (processed_variables, valid_pixel_expression): Mpixel/s on a
# 4400x2600 float32 slice on one thread, beside a hand-written loop of the same arithmetic.
# Usage: bash bench/expr.sh   (compiles bench/expr_bench.cpp with the sources it needs and the
# flags of the RelWithDebInfo build: -O2, and -O3 for src/cube/expr_eval.cpp)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
g++ -O2 -std=c++20 -Iinclude -O3 -Isrc -c src/cube/expr_eval.cpp -o "$work/expr_eval.o"
g++ -O2 -std=c++20 -Iinclude -Isrc bench/expr_bench.cpp src/cube/expr.cpp "$work/expr_eval.o" src/core/text.cpp \
    -o "$work/expr_bench"
echo "expr bench $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
"$work/expr_bench"
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
