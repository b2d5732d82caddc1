#!/usr/bin/env bash
# Inner part of bench/ingest_vector.sh, run inside tests/scripts/pg_tmp.sh: GPKG BAIMS RUNS N.
set -euo pipefail
GPKG=$1
BAIMS=$2
RUNS=$3
N=$4
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

measure() { # name cmd... -> appends "seconds rss_kb" to $OUT/name
    local name=$1
    shift
    /usr/bin/time -v -o "$OUT/time.txt" "$@" >"$OUT/log.txt" 2>&1 || {
        cat "$OUT/log.txt" >&2
        exit 1
    }
    local wall rss
    wall=$(grep 'Elapsed (wall clock)' "$OUT/time.txt" | awk '{print $NF}' |
        awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
    rss=$(grep 'Maximum resident set size' "$OUT/time.txt" | awk '{print $NF}')
    echo "$wall $rss" >>"$OUT/$name"
    echo "  $name: ${wall} s, $((rss / 1024)) MB" >&2
}

for ((i = 1; i <= RUNS; i++)); do
    echo "run $i/$RUNS" >&2
    measure ogr2ogr ogr2ogr -f PostgreSQL "PG:dbname=$PGDATABASE" "$GPKG" -nln bench_ogr2ogr -overwrite
    measure baims "$BAIMS" --progress never ingest-vector "$GPKG" --collection bench_baims --mode replace
done

n_ogr=$(psql -XAtc "SELECT count(*) FROM bench_ogr2ogr")
n_baims=$(psql -XAtc "SELECT count(*) FROM bench_baims")
if [[ $n_ogr -ne $N || $n_baims -ne $N ]]; then
    echo "row counts differ: ogr2ogr $n_ogr, baims $n_baims, expected $N" >&2
    exit 1
fi

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ogr_s=$(cut -d' ' -f1 "$OUT/ogr2ogr" | median)
baims_s=$(cut -d' ' -f1 "$OUT/baims" | median)
ogr_rss=$(cut -d' ' -f2 "$OUT/ogr2ogr" | sort -n | tail -1)
baims_rss=$(cut -d' ' -f2 "$OUT/baims" | sort -n | tail -1)

echo
echo "ingest-vector, $N polygons from GeoPackage into PostGIS (same server, same run; median of $RUNS)"
echo "commit $(git -C "$(dirname "$0")/.." rev-parse --short HEAD 2>/dev/null || echo ?), $(nproc) cores, $(ogr2ogr --version | cut -d, -f1)"
echo
echo "| tool | seconds (median) | peak RSS (MB) | rows |"
echo "|---|---|---|---|"
echo "| ogr2ogr -f PostgreSQL | $ogr_s | $((ogr_rss / 1024)) | $n_ogr |"
echo "| baims ingest-vector | $baims_s | $((baims_rss / 1024)) | $n_baims |"
awk -v a="$baims_s" -v b="$ogr_s" 'BEGIN { printf "\nbaims / ogr2ogr time ratio: %.2f (target <= 1.00)\n", a / b }'
