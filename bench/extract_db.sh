#!/usr/bin/env bash
# bench/extract_db.sh [N] [IMAGES]: `baims extract` database mode (the JRC job) on the full-size
# synthetic Sentinel-2 L2A tile of shared/tools/make_s2_synthetic.py (10980² at 10 m, 5490² at
# 20 m, lossless JP2 with 1024/640 tiles) with N parcels (default 100 000), in a throwaway
# PostGIS (tests/scripts/pg_tmp.sh): parcels loaded with ogr2ogr, masks by `baims rasterize`, then
# IMAGES (default 1) catalogue rows that all point at that product (baims_catalogue_extra
# .product_identifier) extracted by one process with passes scl,10,20 (--bands-20 B05,B11 as JRC).
# Prints a Markdown table: wall time, images/s, parcel-images/s, rows, peak RSS, and each pass's
# time from baims_extraction; `uptime` before and after.
#
# Environment: S2BENCH=DIR reuses (or makes) the tile there (default /tmp/s2bench-N, made once,
# ~3 min and 440 MB); SHARED=DIR where tools/make_s2_synthetic.py is (default ../shared beside the
# checkout, else /work/shared); THREADS (default 2) and WORKERS (default 1); BAIMS=binary
# (default build/apps/baims); KEEP=1 keeps the work folder.
set -euo pipefail
N=${1:-100000}
IMAGES=${2:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BAIMS=${BAIMS:-$ROOT/build/apps/baims}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-1}
S2BENCH=${S2BENCH:-/tmp/s2bench-$N}
SHARED=${SHARED:-$ROOT/../shared}
[[ -d $SHARED/tools ]] || SHARED=/work/shared
export GDAL_PAM_ENABLED=NO
if [[ ! -f $S2BENCH/work/parcels.geojson ]]; then
    tool=$SHARED/tools/make_s2_synthetic.py
    if [[ ! -f $tool ]]; then
        echo "extract_db.sh: $tool not found; set SHARED or S2BENCH to an existing tile" >&2
        exit 2
    fi
    echo "making the synthetic tile with $N parcels in $S2BENCH ..." >&2
    mkdir -p "$S2BENCH"
    /usr/bin/python3 "$tool" --n-parcels "$N" --root "$S2BENCH/eodata" --work "$S2BENCH/work" \
        >"$S2BENCH/gen.log"
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/baims-bench.XXXXXX")
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$WORK"' EXIT
chmod 0755 "$WORK"
echo "# bench/extract_db.sh $N $IMAGES (THREADS=$THREADS WORKERS=$WORKERS) $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "host: $(nproc) cores; before: $(uptime)"
"$ROOT/tests/scripts/pg_tmp.sh" bash "$ROOT/bench/extract_db_run.sh" "$S2BENCH" "$BAIMS" \
    "$IMAGES" "$THREADS" "$WORKERS" "$WORK"
echo "after: $(uptime)"
