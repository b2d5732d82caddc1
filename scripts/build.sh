#!/usr/bin/env bash
# Configures and builds baims. Usage: scripts/build.sh [dev|asan|tsan] (default dev).
# These are the developers' and CI's builds: warnings are errors here (BAIMS_WERROR=ON), never in a
# user's own `cmake -DCMAKE_BUILD_TYPE=...` build.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-dev}
target=()
case "$preset" in
    dev) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    # -O1: the sanitizer tests run several times faster than at -O0 (asserts stay on: Debug)
    asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g -O1" -DBAIMS_SANITIZE=ON) ;;
    tsan) dir=build-tsan; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DBAIMS_SANITIZE_THREAD=ON -DBUILD_TESTING=OFF)
          target=(--target baims) ;;
    *) echo "build.sh: unknown preset '$preset' (dev, asan or tsan)" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja -DBAIMS_WERROR=ON "${flags[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)" "${target[@]}"
