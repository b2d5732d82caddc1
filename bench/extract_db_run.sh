#!/usr/bin/env bash
# Inside pg_tmp.sh: load the parcels, rasterise them, queue IMAGES copies of the tile and time
# one `baims extract` process (see extract_db.sh).
set -euo pipefail
S2BENCH=$1
BAIMS=$2
IMAGES=$3
THREADS=$4
WORKERS=$5
WORK=$6
psql -q -c "CREATE EXTENSION IF NOT EXISTS postgis_raster" >/dev/null
ogr2ogr -f PostgreSQL "PG:" "$S2BENCH/work/parcels.geojson" -nln parcels -nlt POLYGON \
    -lco GEOMETRY_NAME=wkb_geometry -lco FID=ogc_fid -gt 100000
cat >"$WORK/db_config.json" <<JSON
{"database": {"connection": {}, "tables": {"parcel_table": "public.parcels"}}}
JSON
safe=$(find "$S2BENCH/eodata" -maxdepth 7 -type d -name '*.SAFE' | head -1)
ref=$(basename "$safe" .SAFE)
# the tables (nothing is claimed: no such obsid)
"$BAIMS" --progress never -q extract --db-config "$WORK/db_config.json" --create-tables \
    --obsid 2147483647 --eodata "$S2BENCH/eodata"
for i in $(seq 1 "$IMAGES"); do
    r=${ref%T*}T$(printf '%06d' "$i") # distinct references, same product
    psql -q -v ON_ERROR_STOP=1 -v r="$r" -v p="/eodata${safe#"$S2BENCH/eodata"}" <<'SQL' >/dev/null
INSERT INTO dias_catalogue (obstime, reference, sensor, card) VALUES ('2021-06-15 10:30:21', :'r', '2A', 's2');
INSERT INTO baims_catalogue_extra (reference, product_identifier) VALUES (:'r', :'p');
SQL
done
/usr/bin/time -v "$BAIMS" --progress never rasterize any --all-parcels --db-config \
    "$WORK/db_config.json" --epsg 32632 --res 10 20 2>"$WORK/rast.log" ||
    { cat "$WORK/rast.log" >&2; exit 1; }
rast_wall=$(grep "Elapsed (wall clock)" "$WORK/rast.log" | awk '{print $NF}' | awk -F: '{print $(NF-1)*60+$NF}')
parcels=$(psql -Atc "SELECT count(*) FROM parcels")
masks=$(psql -Atc "SELECT (SELECT count(*) FROM parcels_32632_10_rast) || ' / ' || (SELECT count(*) FROM parcels_32632_20_rast)")
echo "parcels: $parcels; masks 10 m / 20 m: $masks (baims rasterize ${rast_wall} s, --threads default)"
echo
# PERF=FILE: record the extract process with perf (perf report -i FILE) for a profile.
perf=()
[[ -n ${PERF:-} ]] && perf=(perf record -F 199 -g -o "$PERF" --)
/usr/bin/time -v "${perf[@]}" "$BAIMS" --progress never --threads "$THREADS" extract --db-config \
    "$WORK/db_config.json" --eodata "$S2BENCH/eodata" --passes scl,10,20 --bands-20 B05,B11 \
    --workers "$WORKERS" 2>"$WORK/extract.log" || { tail -20 "$WORK/extract.log" >&2; exit 1; }
wall=$(grep "Elapsed (wall clock)" "$WORK/extract.log" | awk '{print $NF}' | awk -F: '{print $(NF-1)*60+$NF}')
cpu=$(awk -F: '/User time|System time/ { s += $2 } END { printf "%.1f", s }' "$WORK/extract.log")
rss=$(grep "Maximum resident" "$WORK/extract.log" | awk '{printf "%.0f", $NF/1024}')
done_images=$(psql -Atc "SELECT count(*) FROM dias_catalogue WHERE status = 'extracted'")
rows=$(psql -Atc "SELECT (SELECT count(*) FROM sigs) + (SELECT count(*) FROM hists)")
echo "| images | parcels | wall s | CPU s | images/s | parcel-images/s | rows | peak RSS MB |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
awk -v i="$done_images" -v p="$parcels" -v w="$wall" -v c="$cpu" -v r="$rows" -v m="$rss" \
    'BEGIN { printf "| %d | %d | %.1f | %.1f | %.4f | %.0f | %d | %d |\n", i, p, w, c, i / w, i * p / w, r, m }'
echo
echo "Per pass (baims_extraction.finished minus the previous pass's, or minus the claim for the first):"
echo
echo "| obsid | pass | s | rows |"
echo "|---:|---|---:|---:|"
psql -At -F ' | ' -c "SELECT obsid, pass, round(extract(epoch FROM finished - coalesce(lag(finished)
    OVER (PARTITION BY obsid ORDER BY finished), started))::numeric, 2), rows
    FROM baims_extraction ORDER BY obsid, finished" | sed 's/^/| /; s/$/ |/'
echo
# The rows themselves, to show that a change keeps them byte-identical.
echo "sigs sha256: $(psql -Atc "SELECT pid, obsid, band, count, mean, std, min, max, p25, p50, p75
    FROM sigs ORDER BY obsid, pid, band" | sha256sum | cut -c1-16);" \
    "hists sha256: $(psql -Atc "SELECT pid, obsid, hist FROM hists ORDER BY obsid, pid" |
        sha256sum | cut -c1-16)"
grep -i "warn" "$WORK/extract.log" | head -5 >&2 || true
