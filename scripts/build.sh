#!/usr/bin/env bash
# Configures and builds baims. Usage: scripts/build.sh [dev|asan] (default dev).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-dev}
case "$preset" in
    dev) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DBAIMS_SANITIZE=ON) ;;
    *) echo "build.sh: unknown preset '$preset' (dev or asan)" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
