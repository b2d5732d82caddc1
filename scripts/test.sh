#!/usr/bin/env bash
# Runs the whole test suite: format check, the dev build with every label (unit, integration,
# db, conformance, s3) against a throwaway PostgreSQL/PostGIS, then the ASan/UBSan build with the
# same tests (the conformance tests run the sanitizer binary: gen's threaded code runs there),
# and with --tsan a ThreadSanitizer build of the binary running short multi-threaded gens (not by
# default, so not in CI: its build costs ~450-600 CPU s, 3.5-5 min of a CPU-bound 2-core CI run,
# which the 30-minute CI budget does not hold; bench/results/2026-12-02-ci-time-5.md).
# scripts/test-slow.sh runs it; run it before a stop that touches threaded code.
# In CI (CI set) the dev build leaves out the Catch2 executables (labels unit, integration, db and
# s3:vsi_store; the Python tests, conformance and s3 gen, stay): the ASan/UBSan build runs every one
# of them, with asserts on (it is a Debug build) besides the sanitizers, so on the dev build they
# only repeated that run (an estimated 2-3 min of CI: their -O2 compile, link and run; they were
# ~30% of the dev build's compile time in main's .ninja_log). What only the dev run of them
# checked: the test sources' -O2 warnings and the library code at -O2 with NDEBUG under them (the
# conformance tests still run the -O2 binary). Developers' runs (no CI) keep them on both builds.
# Tests labelled `slow` (full-size fixtures) run only with scripts/test-slow.sh.
# The Python test classes (conformance, s3 gen/ops/partition; one ctest each, ~75 per pass) run
# through tests/conformance/pyfork.py: a child forked from a server per build directory that has
# imported numpy, xarray, netCDF4 and zarr once, instead of a new interpreter paying ~1.2-1.8 CPU s
# of start-up and imports per class (the server ends 60 s after its last class; BAIMS_PYFORK=0
# runs them as plain `python3 -m unittest` processes).
#
# Overlap on 2 cores (background builds at nice 19, logs in build-asan/build.log,
# build-asan/build-tests.log, build-tsan/build.log, whose end is printed if they fail):
#   1. the ASan/UBSan *binary* (scripts/build.sh asan baims) builds during the dev tests;
#   2. once it is there, the ASan run of the tests that only need the binary (conformance, s3 gen)
#      starts, while the rest of the ASan build (the Catch2 executables, ~1/4 of its compile) and
#      the TSan build compile in the background;
#   3. then the ASan run of the Catch2 tests, the TSan build finishing behind it.
# The tests spend part of their time waiting (on baims child processes, PostgreSQL, the S3 server,
# kill points); the low-priority builds take only that idle CPU, so the tests run about as fast
# as alone and most of the builds happen in their shadow. One build at a time (two ninja -j2 at
# once would need the memory of four compilers on what may be a small CI machine). Before 2026-12-02 the whole ASan build had to finish before any ASan test
# started: CI waited ~400 s for it after the dev tests.
#
# What runs where (dev = -O2 NDEBUG binary, the one packaged; asan = Debug -O1 ASan/UBSan, which
# loads GDAL on first use as dev does; UBSan's vptr check is off in the five GDAL-facing sources
# for that, cmake/BaimsSanitizers.cmake):
#   format check                                   once
#   conformance (Python, real binary)              dev and asan
#   conformance `heavy`:                           dev only:
#     test_gen_crash.MetadataKills* (strace kill     their recovery code runs on asan in
#     at every metadata write)                       test_gen_update.Update's kill loops and the
#                                                    s3 kill classes
#     test_gen_readers.ConcurrentReaders (a Python   the writer's insert-by-exchange path runs on
#     reader polling 20 inserts)                     asan in test_gen_update; the reader is Python
#                                                    and what it checks (which states a reader
#                                                    sees) is file-system ordering, not memory
#                                                    (~1 min of CI under ASan)
#   s3: test_gen_s3 (gen on /vsis3/)               dev and asan, except
#     S3KillInsertShiftMore, S3KillInsertApply     dev only (label heavy): asan kills an update
#     (kill -9 before the commit, after a move's     on S3 once per journal phase: S in
#     copy, in phase C and M of an insert)           S3KillInsertShift, C in S3KillAppend, M and
#                                                    before the commit in S3KillAppendDirect, the
#                                                    create in S3KillCreate; the local kill loops
#                                                    (test_gen_update.Update) run on asan (~1.5 min
#                                                    of CI under ASan)
#   s3: test_ops_s3 (optimise, prune, lease)       dev only: the same optimise/prune code runs on
#                                                  asan on local disk (test_prune_optimise), the
#                                                  object-store layer under asan in s3:vsi_store
#                                                  and test_gen_s3 (~1 min of CI)
#   s3: test_partition_s3 Create/Update/Append     dev only: ~2-3 min under ASan; the S3
#                                                  partition code runs on asan in
#                                                  S3PartitionLease, the commit in test_gen_s3
#   Catch2 (unit, integration, db, s3:vsi_store)   asan; dev too outside CI (see above)
#   clang check (scripts/clang-check.sh: src/ and   once, in the background during the asan
#     apps/ through Clang -fsyntax-only -Werror)     Catch2 tests (or after the dev tests)
#   TSan gen (tests/scripts/tsan_gen.sh)           tsan build, with --tsan only (test-slow.sh)
# --package (CI, as root): scripts/package-test.sh (the .deb built from the dev build, installed
# with apt, the demo run with the installed binary, the package removed) in the background at
# nice 19 once the dev tests have passed, its output (build/package-test.log) printed at the end;
# it used to run after everything else (~25 s in the last clean-clone run, more on a machine where
# apt has more to do). The tests never run the installed /usr/bin/baims (ctest gives them
# BAIMS_BINARY).
# Usage: scripts/test.sh [--no-asan] [--tsan] [--package] (--no-tsan: the default, kept for scripts)
# BAIMS_TEST_PACKAGE=1 in the environment is --package: .ci/run sets it, so CI runs exactly the
# command the README shows (scripts/test.sh) plus the package test.
set -euo pipefail
cd "$(dirname "$0")/.."
export GDAL_PAM_ENABLED=NO
asan=1
tsan=0
package=${BAIMS_TEST_PACKAGE:-0}
for a in "$@"; do
    case "$a" in
        --no-asan) asan=0 ;;
        --tsan) tsan=1 ;;
        --no-tsan) tsan=0 ;;
        --package) package=1 ;;
        *) echo "test.sh: unknown option '$a' (--no-asan, --tsan, --no-tsan, --package)" >&2; exit 2 ;;
    esac
done

start=$(date +%s)
phase() { echo "== $1 ($(( $(date +%s) - start )) s since start)"; }

# bg_run NAME LOG CMD...: CMD at nice 19 in the background, in its own process group (killed
# with the script), output in LOG; bg_build NAME LOG PRESET [TARGET...] runs scripts/build.sh so;
# bg_wait NAME waits for it and shows the log's tail on failure.
declare -A bg_pid bg_log
bg_run() {
    local name=$1 log=$2
    shift 2
    mkdir -p "$(dirname "$log")"
    setsid -w nice -n 19 "$@" >"$log" 2>&1 &
    bg_pid[$name]=$!
    bg_log[$name]=$log
}
bg_build() {
    local name=$1 log=$2
    shift 2
    bg_run "$name" "$log" scripts/build.sh "$@"
}
bg_wait() {
    local rc=0
    wait "${bg_pid[$1]}" || rc=$?
    unset "bg_pid[$1]"
    if [ "$rc" != 0 ]; then
        tail -n 60 "${bg_log[$1]}" >&2
        echo "test.sh: error: background job $1 failed (exit $rc), log in ${bg_log[$1]}" >&2
        exit "$rc"
    fi
    tail -n 1 "${bg_log[$1]}"
}
# The tests' files on tmpfs (/dev/shm, when it has 2 GiB free; BAIMS_TEST_TMPDIR=DIR chooses):
# gen, tiles, optimise and prune call syncfs at every commit point, which flushes the whole file
# system the cube is on; on the build disk that is also every object file and binary the
# background builds have just written (40-200 ms a call beside a writer of 100 MB files, against
# 0-10 ms alone, measured 2026-12-02; an update runs ~9 of them). On tmpfs syncfs returns at once.
# The crash tests kill processes, never the machine, so what reaches the disk is not what they
# check; renameat2(RENAME_EXCHANGE), hard links and flock work there as on ext4.
test_tmp=
if [ -n "${BAIMS_TEST_TMPDIR:-}" ]; then
    export TMPDIR=$BAIMS_TEST_TMPDIR
elif [ -d /dev/shm ] && [ -w /dev/shm ] &&
        [ "$(df -P -k /dev/shm | awk 'NR == 2 { print $4 }')" -ge $((2 * 1024 * 1024)) ]; then
    test_tmp=$(mktemp -d /dev/shm/baims-tests.XXXXXX)
    chmod 1777 "$test_tmp"   # as /tmp: pg_tmp.sh runs PostgreSQL as the user postgres under root
    export TMPDIR=$test_tmp
fi
trap 'for p in "${bg_pid[@]}"; do kill -- -"$p" 2>/dev/null || true; done
      /usr/bin/python3 -S tests/conformance/pyfork.py --stop build/tests/pyfork.sock \
          build-asan/tests/pyfork.sock 2>/dev/null || true
      [ -z "$test_tmp" ] || rm -rf "$test_tmp"' EXIT

phase "format check (test files in ${TMPDIR:-/tmp})"
git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror

phase "dev build"
dev_catch=ON
if [ -n "${CI:-}" ] && [ "$asan" = 1 ]; then
    dev_catch=OFF
fi
BAIMS_CATCH_TESTS=$dev_catch scripts/build.sh dev
# After the dev build, not beside it: two ninja -j2 of this code at once need the memory of four
# compilers (the unity source of apps/, gen.cpp under ASan) on what may be a small CI machine.
if [ "$asan" = 1 ]; then
    phase "asan binary build started in the background (nice 19, build-asan/build.log)"
    bg_build asan build-asan/build.log asan baims
fi
phase "dev tests"
tests/scripts/pg_tmp.sh ctest --test-dir build -j2 --output-on-failure -LE slow
if [ "$package" = 1 ]; then
    phase "package test started in the background (nice 19, build/package-test.log)"
    bg_run package build/package-test.log scripts/package-test.sh
fi

if [ "$asan" = 1 ]; then
    phase "asan binary build: waiting for it to finish"
    bg_wait asan
    phase "asan build of the Catch2 tests started in the background (nice 19, build-asan/build-tests.log)"
    # no scripts/build.sh (its cmake configure step would rewrite files the ctest below reads)
    bg_run asan build-asan/build-tests.log cmake --build build-asan -j"$(nproc)"
    if [ "$tsan" = 1 ]; then
        phase "tsan build started in the background once that one ends (nice 19, build-tsan/build.log)"
        bg_run tsan build-tsan/build.log bash -c \
            'while kill -0 "$1" 2>/dev/null; do sleep 2; done; exec scripts/build.sh tsan' _ "${bg_pid[asan]}"
    fi
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    # `heavy`: dev only (the kill-at-every-metadata-write classes, strace, one gen per kill point,
    # ~2 min each under ASan; a concurrent reader polling 20 inserts; the S3 insert kills beyond
    # one per journal phase): see the table at the top.
    # test_ops_s3 and the partition kill classes on S3: dev only (see the table at the top).
    # The Catch2 tests (labels other than conformance; s3:vsi_store) are not built yet: this run
    # selects by label, so their placeholders are left out.
    phase "asan tests 1/2: conformance and s3 gen (the ASan/UBSan binary)"
    ctest --test-dir build-asan -j2 --output-on-failure -L 'conformance|s3' -LE 'slow|heavy' \
        -E '^s3:vsi_store$|^s3:test_ops_s3[.]|^s3:test_partition_s3[.]S3Partition(Create|Update|Append)$'
    phase "asan build of the Catch2 tests: waiting for it to finish"
    bg_wait asan
    # Clang's syntax and warnings over src/ and apps/ (~2 CPU min), beside the Catch2 tests, which
    # wait on PostgreSQL and their child processes part of the time.
    phase "clang check started in the background (nice 19, build/clang-check.log)"
    bg_run clang build/clang-check.log scripts/clang-check.sh
    phase "asan tests 2/2: the Catch2 tests (unit, integration, db, s3:vsi_store)"
    tests/scripts/pg_tmp.sh ctest --test-dir build-asan -j2 --output-on-failure \
        -LE 'slow|heavy|conformance' -E '^s3:test_'
    unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
    phase "clang check: waiting for it to finish"
    bg_wait clang
else
    phase "clang check"
    scripts/clang-check.sh
fi

if [ "$tsan" = 1 ]; then
    if [ -n "${bg_pid[tsan]:-}" ]; then
        phase "tsan build: waiting for it to finish"
        bg_wait tsan
    else
        phase "tsan build (baims only)"
        scripts/build.sh tsan
    fi
    phase "tsan: multi-threaded gen, insert, replace"
    tests/scripts/tsan_gen.sh build-tsan/apps/baims
fi
if [ "$package" = 1 ]; then
    phase "package test: waiting for it to finish"
    bg_wait package >/dev/null
    cat build/package-test.log
fi
phase "all tests passed"
