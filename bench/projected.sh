#!/usr/bin/env bash
# bench/projected.sh BAIMS: gen on projected-grid inputs (issue 10).
#
# bench/make_inputs.py writes the 10 daily 2000x2000 inputs of the gen benchmark (bench/run.sh's
# gen10: regular lat/lon over [9, 53, 31, 66]); bench/make_projected.py turns them into the same
# fields on a 2000x2000 Lambert conformal conic grid of 1.1 km (x/y + grid_mapping, same values,
# NaN share, compression and chunks). gen makes the gen10 cube (4400x2600 over [9, 53, 31, 66],
# 512^2 chunks, lz4: bench/gen10.yml) from the regular inputs (the reference) and from the LCC
# inputs with nearest and with bilinear. Each case runs REPS times (default 3) into a new cube;
# the table shows the median wall and CPU time (user + sys), the largest peak RSS
# (/usr/bin/time -v) and the CPU ratio to the regular case (the target: within 2x). Environment:
# REPS, KEEP=1, TMPDIR, COUNT (inputs, default 10).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPS=${REPS:-3}
COUNT=${COUNT:-10}
PY=/usr/bin/python3
[[ $# -ge 1 ]] || { echo "usage: bench/projected.sh BAIMS" >&2; exit 2; }
BIN=$(realpath "$1")
[[ -x /usr/bin/time ]] || { echo "bench/projected.sh: /usr/bin/time is needed" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/baims-bench-projected.XXXXXX")
if [[ "${KEEP:-}" == 1 ]]; then echo "work directory $WORK (kept)" >&2; else trap 'rm -rf "$WORK"' EXIT; fi
log() { echo "bench/projected.sh: $*" >&2; }
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

log "generating $COUNT inputs in $WORK"
mkdir -p "$WORK/reg" "$WORK/lcc"
$PY "$HERE/make_inputs.py" "$WORK/reg" --count "$COUNT" --start 2023-06-02 >/dev/null
$PY "$HERE/make_projected.py" "$WORK/lcc" "$WORK"/reg/*.nc >/dev/null
for m in nearest bilinear; do
    sed "s/^output_resampling: .*/output_resampling: $m/" "$HERE/gen10.yml" >"$WORK/$m.yml"
done

# case NAME CONFIG INPUT_DIR
: >"$WORK/rows"
run_case() {
    local name=$1 cfg=$2 dir=$3
    : >"$WORK/times"
    for _ in $(seq "$REPS"); do
        rm -rf "$WORK/out.zarr"
        sync
        local t0=$EPOCHREALTIME
        /usr/bin/time -v -o "$WORK/time" "$BIN" --quiet gen -c "$cfg" -o "$WORK/out.zarr" \
            "$dir"/*.nc
        local t1=$EPOCHREALTIME
        awk -v t0="$t0" -v t1="$t1" -F': ' '/User time/ {u = $2} /System time/ {s = $2}
            /Maximum resident set size/ {r = $2}
            END {printf "%.3f %.3f %.1f\n", t1 - t0, u + s, r / 1024}' "$WORK/time" >>"$WORK/times"
    done
    local valid
    valid=$($PY -c 'import sys, zarr, numpy as np; a = zarr.open(sys.argv[1], "r")["sst"][:]; print(a.shape[0], int((~np.isnan(a)).sum()))' "$WORK/out.zarr")
    med() { cut -d' ' -f"$1" "$WORK/times" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
    echo "$name $(med 1) $(med 2) $(cut -d' ' -f3 "$WORK/times" | sort -g | tail -1) $valid" >>"$WORK/rows"
}
log "regular (reference) x$REPS"
run_case "regular lat/lon, nearest" "$WORK/nearest.yml" "$WORK/reg"
for m in nearest bilinear; do
    log "LCC $m x$REPS"
    run_case "LCC, $m" "$WORK/$m.yml" "$WORK/lcc"
done

echo "$COUNT daily 2000x2000 inputs ($(du -cm "$WORK"/lcc/*.nc | tail -1 | cut -f1) MB LCC) -> 4400x2600 (bench/gen10.yml), $("$BIN" --version 2>/dev/null | head -1)"
echo
echo "| case | wall s (median) | CPU s (median) | peak RSS MB | CPU / regular | slices | values |"
echo "|---|---|---|---|---|---|---|"
awk -F' ' '{n = NF; name = $1; for (i = 2; i <= n - 5; ++i) name = name " " $i;
    w = $(n - 4); c = $(n - 3); r = $(n - 2); t = $(n - 1); v = $n;
    if (NR == 1) ref = c;
    printf "| %s | %.2f | %.2f | %.0f | %.2fx | %s | %s |\n", name, w, c, r, c / ref, t, v}' "$WORK/rows"
echo
echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
