#!/usr/bin/env bash
# Runs the whole test suite: format check, the dev build with every label (unit, integration,
# db, cli, conformance) against a throwaway PostgreSQL/PostGIS, then the ASan/UBSan build.
# Usage: scripts/test.sh [--no-asan]
set -euo pipefail
cd "$(dirname "$0")/.."
export GDAL_PAM_ENABLED=NO
asan=1
[ "${1:-}" = "--no-asan" ] && asan=0

echo "== format check"
git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror

echo "== dev build"
scripts/build.sh dev
echo "== dev tests"
tests/scripts/pg_tmp.sh ctest --test-dir build -j2 --output-on-failure

if [ "$asan" = 1 ]; then
    echo "== asan build"
    scripts/build.sh asan
    echo "== asan tests (unit, integration, db, cli)"
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
    export UBSAN_OPTIONS=print_stacktrace=1
    tests/scripts/pg_tmp.sh ctest --test-dir build-asan -j2 --output-on-failure -L 'unit|integration|db|cli'
fi
