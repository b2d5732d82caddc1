#!/usr/bin/env bash
# bench/catalog.sh [BAIMS_BINARY]: `baims catalog --from-file` with 10 000 generated catalogue
# records (SPEC 11 target: ≤ 2 s) into a throwaway PostGIS (tests/scripts/pg_tmp.sh).
# Prints a Markdown table: run, records, wall seconds, peak RSS (from /usr/bin/time -v).
#
#   bench/catalog.sh build/apps/baims
#   RECORDS=50000 bench/catalog.sh build/apps/baims
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BAIMS=$(realpath "${1:-$ROOT/build/apps/baims}")
RECORDS=${RECORDS:-10000}
PER_FILE=${PER_FILE:-1000}

if [[ "${BAIMS_BENCH_INNER:-}" != 1 ]]; then
    [[ -x "$BAIMS" ]] || { echo "bench/catalog.sh: $BAIMS is not executable" >&2; exit 2; }
    [[ -x /usr/bin/time ]] || { echo "bench/catalog.sh: /usr/bin/time is needed" >&2; exit 2; }
    BAIMS_BENCH_INNER=1 exec "$ROOT/tests/scripts/pg_tmp.sh" "$0" "$BAIMS"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/baims-bench-cat.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

mapfile -t FILES < <(/usr/bin/python3 "$HERE/catalog_gen.py" "$WORK/responses" "$RECORDS" "$PER_FILE")
BYTES=$(cat "${FILES[@]}" | wc -c)

psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE TABLE aois (name text, wkb_geometry geometry(Polygon,4326));
INSERT INTO aois VALUES ('world', ST_GeomFromText('POLYGON((-180 -90,180 -90,180 90,-180 90,-180 -90))', 4326));
SQL

REPS=${REPS:-3}

# once ARGS...: one timed run; prints "wall_seconds cpu_seconds rss_kb".
once() {
    /usr/bin/time -v -o "$WORK/time.txt" "$BAIMS" --quiet catalog world 2000-01-01 2030-01-01 s2 S2MSI2A \
        --from-file "${FILES[@]}" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || {
        cat "$WORK/err.txt" >&2
        exit 1
    }
    awk -F': ' '
        /Elapsed \(wall clock\)/ { n = split($2, p, ":"); wall = (n == 3) ? p[1]*3600 + p[2]*60 + p[3] : p[1]*60 + p[2] }
        /User time/ { cpu += $2 } /System time/ { cpu += $2 }
        /Maximum resident set size/ { rss = $2 }
        END { printf "%.2f %.2f %d\n", wall, cpu, rss }' "$WORK/time.txt"
}

# run LABEL SETUP ARGS...: REPS timed runs (SETUP is run before each); prints a table row with
# the medians.
run() {
    local label=$1 setup=$2
    shift 2
    local results=()
    for ((i = 0; i < REPS; i++)); do
        eval "$setup"
        results+=("$(once "$@")")
    done
    local rows
    rows=$(psql -X -At -c "SELECT count(*) FROM dias_catalogue")
    printf '%s\n' "${results[@]}" | sort -n -k1 | awk -v label="$label" -v rec="$RECORDS" -v rows="$rows" -v reps="$REPS" '
        { w[NR] = $1; c[NR] = $2; r[NR] = $3 }
        END { m = int((NR + 1) / 2); printf "| %s | %d | %d | %.2f | %.2f | %.1f | %.2f–%.2f |\n", label, rec, rows, w[m], c[m], r[m] / 1024, w[1], w[NR] }'
}

echo "catalog bench: $RECORDS records in ${#FILES[@]} files ($((BYTES / 1024 / 1024)) MiB JSON), $(nproc) cores, git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)"
echo
TRUNCATE='psql -X -q -c "TRUNCATE dias_catalogue, baims_catalogue_extra" >/dev/null 2>&1 || true'
echo "| run (median of $REPS) | records offered | rows in dias_catalogue | wall s | CPU s (user+sys) | peak RSS (MB) | wall range s |"
echo "|---|---:|---:|---:|---:|---:|---|"
run "import into empty tables" "$TRUNCATE" --create-tables
run "rerun (all references exist)" ":"
run "import, --baseline latest" "$TRUNCATE" --baseline latest
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
