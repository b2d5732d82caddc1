#!/usr/bin/env bash
# bench/rasterize.sh [N]: `baims rasterize` of N (default 100 000) parcels of about 216 pixels at
# 10 m (the extraction benchmark's parcel law, bench/rasterize_parcels.py), stored in EPSG:4326 in
# a throwaway PostGIS (tests/scripts/pg_tmp.sh), into the EPSG:32632 mask tables at 10 and 20 m.
# RUNS times (default 3); prints per run the wall time and peak RSS (/usr/bin/time -v) and the
# per-table times from the log. BAIMS=path overrides the binary (default build/apps/baims).
set -euo pipefail
N=${1:-100000}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BAIMS=${BAIMS:-$ROOT/build/apps/baims}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/baims-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
chmod 0755 "$WORK"
echo "## zonal::rasterize alone (bench/rasterize_masks.cpp, 1 thread)"
g++ -O2 -std=c++20 -I"$ROOT/include" "$ROOT/bench/rasterize_masks.cpp" \
    "$(dirname "$BAIMS")/../src/zonal/libbaims_zonal.a" "$(dirname "$BAIMS")/../src/core/libbaims_core.a" \
    -o "$WORK/rasterize_masks"
"$WORK/rasterize_masks" "$N"
echo
echo "## baims rasterize, PostGIS in and out"
echo "generating $N parcels ..." >&2
GDAL_PAM_ENABLED=NO /usr/bin/python3 "$ROOT/bench/rasterize_parcels.py" "$N" "$WORK/parcels.csv"
chmod 0644 "$WORK/parcels.csv"
"$ROOT/tests/scripts/pg_tmp.sh" bash "$ROOT/bench/rasterize_run.sh" "$WORK/parcels.csv" "$BAIMS" "$RUNS"
