#!/usr/bin/env bash
# Runs the tests labelled `slow` (full-size fixtures, minutes, ~0.5 GB) and the ThreadSanitizer gens:
# not part of scripts/test.sh
# and CI; run before a stop that touched what they cover.
set -euo pipefail
cd "$(dirname "$0")/.."
export GDAL_PAM_ENABLED=NO
scripts/build.sh dev
tests/scripts/pg_tmp.sh ctest --test-dir build --output-on-failure -L slow --no-tests=error
# The ThreadSanitizer build of baims and its multi-threaded gens (scripts/test.sh --tsan; not in
# CI's 30 minutes: scripts/test.sh's header).
scripts/build.sh tsan
tests/scripts/tsan_gen.sh build-tsan/apps/baims
