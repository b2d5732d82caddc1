#!/usr/bin/env bash
# bench/ingest_vector.sh [N]: SPEC 11 "ingest-vector: 1 000 000 polygons from GeoPackage".
# Generates N (default 1 000 000) seeded random polygons into a GeoPackage, starts a throwaway
# PostGIS (tests/scripts/pg_tmp.sh) and loads the file with `ogr2ogr -f PostgreSQL` and with
# `baims ingest-vector` into the same database in the same run, RUNS times each (default 3,
# alternating), and prints a Markdown table: tool, median seconds, peak RSS (/usr/bin/time -v).
# BAIMS=path/to/baims overrides the binary (default: build-db/apps/baims, else build/apps/baims);
# GPKG=path reuses a GeoPackage made before by this script (layer "polys", N features).
set -euo pipefail
N=${1:-1000000}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z "${BAIMS:-}" ]]; then
    BAIMS=$ROOT/build-db/apps/baims
    [[ -x $BAIMS ]] || BAIMS=$ROOT/build/apps/baims
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/baims-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
chmod 0755 "$WORK"

if [[ -z "${GPKG:-}" ]]; then
    GPKG=$WORK/polys.gpkg
    echo "generating $N polygons ..." >&2
    /usr/bin/python3 "$ROOT/bench/gen_polygons.py" "$N" "$WORK/polys.csv"
    ogr2ogr -f GPKG "$GPKG" "$WORK/polys.csv" -nln polys -a_srs EPSG:4326 -nlt POLYGON \
        -oo GEOM_POSSIBLE_NAMES=wkt -oo KEEP_GEOM_COLUMNS=NO -oo AUTODETECT_TYPE=YES -gt 200000
    rm -f "$WORK/polys.csv"
    chmod 0644 "$GPKG"
fi
echo "GeoPackage: $GPKG, $(du -h "$GPKG" | cut -f1)" >&2

"$ROOT/tests/scripts/pg_tmp.sh" bash "$ROOT/bench/ingest_vector_run.sh" "$GPKG" "$BAIMS" "$RUNS" "$N"
