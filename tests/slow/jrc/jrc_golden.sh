#!/usr/bin/env bash
# jrc_golden.sh BAIMS: `baims extract --selection jrc` on the synthetic full tile against the JRC
# extractor's rows in ../shared/data/jrc-golden (see its README for how they were made).
#
# 1. regenerates the tile and the 100 000 parcels with ../shared/tools/make_s2_synthetic.py and
#    checks the sha256 of every file against the README (BAIMS_JRC_TILE=DIR: reuse a tile made
#    there before, after the same check);
# 2. loads the parcels as the JRC how-to does (ogr2ogr, -nlt PROMOTE_TO_MULTI), the AOI row
#    (ST_Extent of all parcels) and the masks with the how-to's SQL (ST_AsRaster, 10.0 and 20.0);
# 3. runs baims extract --selection jrc (scl, 10: B02 B03 B04 B08, 20: B05 B11);
# 4. baims extract --compare jrc (summary printed);
# 5. jrc_compare.py: same (pid, obsid, band) set for pid % 50 = 0, every value equal as stored
#    (float32), hist text byte-identical; prints the full-table row counts; and the sha256 of
#    the whole sigs and hists exports equal the README's fingerprints.
# Needs PGHOST etc. (tests/scripts/pg_tmp.sh) and /usr/bin/python3 with numpy, GDAL, pyproj.
set -euo pipefail
BAIMS=${1:?usage: jrc_golden.sh BAIMS}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
SHARED=${BAIMS_SHARED:-$ROOT/../shared}
[[ -d $SHARED/data/jrc-golden ]] || SHARED=/work/shared
GOLDEN=$SHARED/data/jrc-golden
: "${PGHOST:?jrc_golden.sh: PGHOST not set; run through tests/scripts/pg_tmp.sh}"

WORK=$(mktemp -d /tmp/baims-jrc-golden.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
TILE=${BAIMS_JRC_TILE:-$WORK/tile}
if [[ -z ${BAIMS_JRC_TILE:-} ]]; then
    echo "jrc_golden: generating the tile in $TILE (a few minutes)"
    /usr/bin/python3 "$SHARED/tools/make_s2_synthetic.py" --root "$TILE/eodata" --work "$TILE/work" \
        --n-parcels 100000 >/dev/null
fi
S=eodata/Sentinel-2/MSI/L2A/2021/06/15/S2A_MSIL2A_20210615T103021_N0300_R108_T32UNG_20210615T134511.SAFE/GRANULE/L2A_T32UNG_A031234_20210615T103023/IMG_DATA
# The sums from the README, with $S expanded.
sed -n '/^   [0-9a-f]\{64\}  /p' "$GOLDEN/README.md" | sed "s|\\\$S|$S|; s/^ *//" >"$WORK/sums"
[[ $(wc -l <"$WORK/sums") == 13 ]] || { echo "jrc_golden: README sums not found"; exit 1; }
(cd "$TILE" && sha256sum --quiet -c "$WORK/sums")
echo "jrc_golden: tile and parcels match the README sha256"

SCHEMA=jrc_golden_$$
PSQL=(psql -v ON_ERROR_STOP=1 -qAt)
"${PSQL[@]}" -c "CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS postgis_raster;
                 DROP SCHEMA IF EXISTS $SCHEMA CASCADE; CREATE SCHEMA $SCHEMA"
trap '"${PSQL[@]}" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" || true; rm -rf "$WORK"' EXIT
ogr2ogr -f PostgreSQL PG: -lco SCHEMA=$SCHEMA -nln parcels_2021 -a_srs EPSG:4326 \
    -nlt PROMOTE_TO_MULTI "$TILE/work/parcels.geojson"
"${PSQL[@]}" <<SQL
SET search_path = $SCHEMA, public;
CREATE TABLE aois (name text, wkb_geometry geometry(Polygon, 4326));
INSERT INTO aois SELECT 'parcels_2021', ST_Transform(ST_SetSRID(ST_Extent(wkb_geometry), 4326), 4326)
  FROM parcels_2021;
CREATE TABLE parcels_2021_32632_10_rast AS SELECT ogc_fid pid, ST_AsRaster(ST_Transform(wkb_geometry, 32632), 10.0, 10.0, '8BUI') rast FROM parcels_2021;
ALTER TABLE parcels_2021_32632_10_rast ADD PRIMARY KEY (pid);
CREATE TABLE parcels_2021_32632_20_rast AS SELECT ogc_fid pid, ST_AsRaster(ST_Transform(wkb_geometry, 32632), 20.0, 20.0, '8BUI') rast FROM parcels_2021;
ALTER TABLE parcels_2021_32632_20_rast ADD PRIMARY KEY (pid);
SQL
cat >"$WORK/db_config.json" <<JSON
{"database": {"connection": {},
  "tables": {"aoi_table": "$SCHEMA.aois", "parcel_table": "$SCHEMA.parcels_2021",
             "catalog_table": "$SCHEMA.dias_catalogue", "sigs_table": "$SCHEMA.sigs",
             "hists_table": "$SCHEMA.hists", "extraction_table": "$SCHEMA.baims_extraction",
             "catalogue_extra_table": "$SCHEMA.baims_catalogue_extra"},
  "args": {"aoi_field": "name", "name": "parcels_2021", "startdate": "2020-10-01", "enddate": "2022-01-01"}}}
JSON
"$BAIMS" --progress never extract --db-config "$WORK/db_config.json" --create-tables --dry-run \
    --eodata "$TILE/eodata" >/dev/null
FOOT=$(/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d=d.get('geometry', d); print(json.dumps(d))" \
    "$TILE/work/footprint.geojson")
"${PSQL[@]}" -v foot="$FOOT" <<SQL
INSERT INTO $SCHEMA.dias_catalogue (id, obstime, reference, sensor, card, status, footprint)
VALUES (1, '2021-06-15 10:30:21', 'S2A_MSIL2A_20210615T103021_N0300_R108_T32UNG_20210615T134511.SAFE',
        '2A', 's2', 'ingested', ST_SetSRID(ST_GeomFromGeoJSON(:'foot'), 4326));
SQL
echo "jrc_golden: database ready; running baims extract --selection jrc"
/usr/bin/time -f "jrc_golden: extract %e s, %M KB peak" \
    "$BAIMS" --progress never extract --db-config "$WORK/db_config.json" --eodata "$TILE/eodata" \
    --passes scl,10,20 --bands-20 B05,B11 --selection jrc
"${PSQL[@]}" -c "SELECT status FROM $SCHEMA.dias_catalogue WHERE id = 1"
# Exported as the golden files were (README: extra_float_digits = 3, ordered by pid, obsid, band).
export PGOPTIONS="-c extra_float_digits=3"
"${PSQL[@]}" -c "\\copy (SELECT pid, obsid, band, count, mean, std, min, max, p25, p50, p75 FROM $SCHEMA.sigs ORDER BY pid, obsid, band) TO '$WORK/sigs.csv' CSV HEADER"
"${PSQL[@]}" -c "\\copy (SELECT pid, obsid, hist FROM $SCHEMA.hists ORDER BY pid, obsid) TO '$WORK/hists.csv' CSV HEADER"
unset PGOPTIONS
# The README's full-table fingerprints: every row of the whole tile, not only the subset.
fingerprints=0
for t in sigs hists; do
    want=$(grep -o "\`$t\` [0-9 ]* rows, sha256 \`[0-9a-f]*\`" "$GOLDEN/README.md" | grep -o '[0-9a-f]\{64\}')
    got=$(sha256sum "$WORK/$t.csv" | cut -d' ' -f1)
    if [[ $got == "$want" ]]; then
        echo "jrc_golden: full $t export sha256 $got = README"
    else
        echo "jrc_golden: full $t export sha256 $got, README $want: MISMATCH"
        fingerprints=1
    fi
done
# baims extract --compare jrc on the tile: the summary (the issue's note), the CSV kept when
# BAIMS_JRC_COMPARE_OUT names a file.
"$BAIMS" --progress never extract --db-config "$WORK/db_config.json" --eodata "$TILE/eodata" \
    --passes 10,20 --bands-20 B05,B11 --compare jrc --threshold 1 -o "$WORK/compare.csv"
[[ -z ${BAIMS_JRC_COMPARE_OUT:-} ]] || cp "$WORK/compare.csv" "$BAIMS_JRC_COMPARE_OUT"
/usr/bin/python3 "$HERE/jrc_compare.py" "$GOLDEN" "$WORK/sigs.csv" "$WORK/hists.csv"
exit $fingerprints
