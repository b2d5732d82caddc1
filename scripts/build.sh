#!/usr/bin/env bash
# Configures and builds baims. Usage: scripts/build.sh [dev|asan|tsan] [TARGET...] (default dev,
# every target; scripts/test.sh builds the ASan binary alone first with `asan baims`).
# These are the developers' and CI's builds: warnings are errors here (BAIMS_WERROR=ON), never in a
# user's own `cmake -DCMAKE_BUILD_TYPE=...` build.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-dev}
shift || true
target=()
# -g1 (line tables only) is enough for the sanitizers' stack traces and halves the compile time of
# the test sources (Catch's macros make a lot of full debug info). Developers' own dev builds keep
# -g; CI (CI=true) uses -g1 there too.
dev_g=-g
if [ -n "${CI:-}" ]; then dev_g=-g1; fi
case "$preset" in
    dev) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 $dev_g -DNDEBUG") ;;
    # -O1: the sanitizer tests run several times faster than at -O0 (asserts stay on: Debug).
    # -no-pie: a position-independent ASan baims has ~1.5 million relative relocations (its
    # instrumented globals) that the dynamic loader applies at every start, ~0.2 of the ~0.7 CPU s
    # each of the >1000 short ASan runs of a CI run costs (the Catch2 cases run one process
    # each too); linked at a fixed address they are resolved at link time. Same instrumentation.
    asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g1 -O1" -DBAIMS_SANITIZE=ON
                                 -DCMAKE_EXE_LINKER_FLAGS=-no-pie) ;;
    # -O1 (as the ASan build): ThreadSanitizer's documentation asks for -O1 or higher, and the
    # binary's compile takes a quarter less CPU than at -O2 (CPU s: src/cube/gen.cpp 14.4 -> 11.3,
    # journal.cpp 20.6 -> 15.0)
    tsan) dir=build-tsan; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"
                                 -DBAIMS_SANITIZE_THREAD=ON -DBUILD_TESTING=OFF)
          target=(--target baims) ;;
    *) echo "build.sh: unknown preset '$preset' (dev, asan or tsan)" >&2; exit 2 ;;
esac
# BAIMS_CATCH_TESTS=OFF|ON (dev): scripts/test.sh leaves the Catch2 executables out of CI's dev build
# (they run on the ASan build). Unset, the build directory keeps what it was configured with (ON
# at first), so that package-test.sh's later `build.sh dev` in CI does not build them after all.
if [ "$preset" = dev ] && [ -n "${BAIMS_CATCH_TESTS:-}" ]; then
    flags+=("-DBAIMS_CATCH_TESTS=$BAIMS_CATCH_TESTS")
elif [ "$preset" = asan ]; then
    flags+=(-DBAIMS_CATCH_TESTS=ON)
fi
if [ $# -gt 0 ]; then target=(--target "$@"); fi
cmake -S . -B "$dir" -G Ninja -DBAIMS_WERROR=ON "${flags[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)" "${target[@]}"
