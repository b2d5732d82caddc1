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
#
# Overlap on 2 cores: the ASan/UBSan build runs at nice 19 while the dev tests run, and the TSan
# build at nice 19 while the ASan tests run (output in build-asan/build.log and
# build-tsan/build.log, whose end is printed if they fail). The tests spend part of their time
# waiting (on baims child processes, PostgreSQL, the S3 server, kill points); the low-priority
# build takes only that idle CPU, so the tests run about as fast as alone and most of the builds
# happen in their shadow.
#
# What runs where (dev = -O2 NDEBUG binary, the one packaged; asan = Debug -O1 ASan/UBSan):
#   format check                                   once
#   conformance (Python, real binary)              dev and asan
#   conformance `heavy` (strace kill classes)      dev only (their recovery code runs on asan in
#                                                  the other crash tests)
#   s3: test_gen_s3 (gen on /vsis3/)               dev and asan
#   s3: test_ops_s3 (optimise, prune, lease)       dev only: the same optimise/prune code runs on
#                                                  asan on local disk (test_prune_optimise), the
#                                                  object-store layer under asan in s3:vsi_store
#                                                  and test_gen_s3 (~1 min of CI)
#   s3: test_partition_s3 Create/Update (kills)    dev only: ~2-3 min under ASan; the S3
#                                                  partition code runs on asan in
#                                                  S3PartitionLease, the commit in test_gen_s3
#   Catch2 (unit, integration, db, s3:vsi_store)   asan; dev too outside CI (see above)
#   TSan gen (tests/scripts/tsan_gen.sh)           tsan build
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

start=$(date +%s)
phase() { echo "== $1 ($(( $(date +%s) - start )) s since start)"; }

# bg_build PRESET DIR: scripts/build.sh PRESET at nice 19 in the background, in its own process
# group (killed with the script), output in DIR/build.log; bg_wait waits for it and shows the
# log's tail on failure.
bg_pid=
bg_build() {
    mkdir -p "$2"
    bg_log=$2/build.log
    setsid -w nice -n 19 scripts/build.sh "$1" >"$bg_log" 2>&1 &
    bg_pid=$!
}
bg_wait() {
    local rc=0
    wait "$bg_pid" || rc=$?
    bg_pid=
    if [ "$rc" != 0 ]; then
        tail -n 60 "$bg_log" >&2
        echo "test.sh: error: background build failed (exit $rc), log in $bg_log" >&2
        exit "$rc"
    fi
    tail -n 1 "$bg_log"
}
trap '[ -z "$bg_pid" ] || kill -- -"$bg_pid" 2>/dev/null || true' EXIT

phase "format check"
git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror

phase "dev build"
dev_catch=ON
if [ -n "${CI:-}" ] && [ "$asan" = 1 ]; then
    dev_catch=OFF
fi
BAIMS_CATCH_TESTS=$dev_catch scripts/build.sh dev
if [ "$asan" = 1 ]; then
    phase "asan build started in the background (nice 19, build-asan/build.log)"
    bg_build asan build-asan
fi
phase "dev tests"
tests/scripts/pg_tmp.sh ctest --test-dir build -j2 --output-on-failure -LE slow

if [ "$asan" = 1 ]; then
    phase "asan build: waiting for it to finish"
    bg_wait
    if [ "$tsan" = 1 ]; then
        phase "tsan build started in the background (nice 19, build-tsan/build.log)"
        bg_build tsan build-tsan
    fi
    # `heavy`: the kill-at-every-metadata-write tests (strace, one gen per kill point, ~2 min each
    # under ASan); they run on the dev build above. Their recovery code also runs here, in the
    # other crash tests. test_ops_s3 and the partition kill classes on S3: dev only (see the table
    # at the top).
    phase "asan tests (all labels but slow and heavy; conformance runs the ASan/UBSan binary)"
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    tests/scripts/pg_tmp.sh ctest --test-dir build-asan -j2 --output-on-failure -LE 'slow|heavy' \
        -E '^s3:test_ops_s3[.]|^s3:test_partition_s3[.]S3Partition(Create|Update)$'
    unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
fi

if [ "$tsan" = 1 ]; then
    if [ -n "$bg_pid" ]; then
        phase "tsan build: waiting for it to finish"
        bg_wait
    else
        phase "tsan build (baims only)"
        scripts/build.sh tsan
    fi
    phase "tsan: multi-threaded gen, insert, replace"
    tests/scripts/tsan_gen.sh build-tsan/apps/baims
fi
phase "all tests passed"
