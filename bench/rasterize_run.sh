#!/usr/bin/env bash
# Inside pg_tmp.sh: load the parcels, then time `baims rasterize` RUNS times (see rasterize.sh).
set -euo pipefail
CSV=$1
BAIMS=$2
RUNS=$3
psql -q -c "CREATE EXTENSION IF NOT EXISTS postgis_raster" >/dev/null
ogr2ogr -f PostgreSQL "PG:" "$CSV" -nln parcels -a_srs EPSG:4326 -nlt POLYGON \
    -oo GEOM_POSSIBLE_NAMES=wkt -oo KEEP_GEOM_COLUMNS=NO -lco GEOMETRY_NAME=wkb_geometry \
    -lco FID=ogc_fid -gt 100000
echo "parcels: $(psql -Atc 'SELECT count(*) FROM parcels')" >&2
echo "| run | wall s | peak RSS MB | 10 m table s | 20 m table s | masks |"
echo "|---:|---:|---:|---:|---:|---|"
for r in $(seq 1 "$RUNS"); do
    /usr/bin/time -v "$BAIMS" --progress never rasterize bench --all-parcels --epsg 32632 --res 10 20 \
        --parcel-table parcels 2>"$PWD/rast.log" || { cat "$PWD/rast.log" >&2; exit 1; }
    wall=$(grep "Elapsed (wall clock)" rast.log | awk '{print $NF}' | awk -F: '{print $(NF-1)*60+$NF}')
    rss=$(grep "Maximum resident" rast.log | awk '{printf "%.0f", $NF/1024}')
    t10=$(grep -o '_10_rast": .* s$' rast.log | grep -o '[0-9.]* s$' | cut -d' ' -f1)
    t20=$(grep -o '_20_rast": .* s$' rast.log | grep -o '[0-9.]* s$' | cut -d' ' -f1)
    masks=$(grep -o "done: .*" rast.log)
    grep -o "read [0-9]* parcels .*" rast.log >&2
    echo "| $r | $wall | $rss | $t10 | $t20 | $masks |"
done
rm -f rast.log
