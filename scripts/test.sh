#!/usr/bin/env bash
# Runs the whole test suite: format check, the dev build with every label (unit, integration,
# db, conformance, s3) against a throwaway PostgreSQL/PostGIS, then the ASan/UBSan build with the
# same tests (the conformance tests run the sanitizer binary: gen's threaded code runs there),
# then a ThreadSanitizer build of the binary running short multi-threaded gens.
# In CI (CI set) the dev build leaves out the Catch2 executables (labels unit, integration, db and
# s3:vsi_store; the Python tests, conformance and s3 gen, stay): the ASan/UBSan build runs every one
# of them, with asserts on (it is a Debug build) besides the sanitizers, so on the dev build they
# only repeated that run (an estimated 2-3 min of CI: their -O2 compile, link and run; they were
# ~30% of the dev build's compile time in main's .ninja_log). What only the dev run of them
# checked: the test sources' -O2 warnings and the library code at -O2 with NDEBUG under them (the
# conformance tests still run the -O2 binary). Developers' runs (no CI) keep them on both builds.
# Tests labelled `slow` (full-size fixtures) run only with scripts/test-slow.sh.
# Usage: scripts/test.sh [--no-asan] [--no-tsan]
set -euo pipefail
cd "$(dirname "$0")/.."
export GDAL_PAM_ENABLED=NO
asan=1
tsan=1
for a in "$@"; do
    case "$a" in
        --no-asan) asan=0 ;;
        --no-tsan) tsan=0 ;;
        *) echo "test.sh: unknown option '$a' (--no-asan, --no-tsan)" >&2; exit 2 ;;
    esac
done

echo "== format check"
git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror

echo "== dev build"
dev_catch=ON
if [ -n "${CI:-}" ] && [ "$asan" = 1 ]; then
    dev_catch=OFF
fi
BAIMS_CATCH_TESTS=$dev_catch scripts/build.sh dev
echo "== dev tests"
tests/scripts/pg_tmp.sh ctest --test-dir build -j2 --output-on-failure -LE slow

if [ "$asan" = 1 ]; then
    echo "== asan build"
    scripts/build.sh asan
    # `heavy`: the kill-at-every-metadata-write tests (strace, one gen per kill point, ~2 min each
    # under ASan); they run on the dev build above. Their recovery code also runs here, in the
    # other crash tests.
    echo "== asan tests (all labels but slow and heavy; conformance runs the ASan/UBSan binary)"
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    tests/scripts/pg_tmp.sh ctest --test-dir build-asan -j2 --output-on-failure -LE 'slow|heavy'
    unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
fi

if [ "$tsan" = 1 ]; then
    echo "== tsan build (baims only)"
    scripts/build.sh tsan
    echo "== tsan: multi-threaded gen, insert, replace"
    tests/scripts/tsan_gen.sh build-tsan/apps/baims
fi
