#!/usr/bin/env bash
# bench/swath_inputs.sh BAIMS [BAIMS...]: peak RSS and wall time of gen over N swath inputs
# (issue 10: memory bounded whatever the number of inputs). bench/make_swath.py writes one
# OLCI-like swath (ROWS x COLS, default 4091 x 4865); its copies differ in the add_offset of their
# packed longitudes (+0.05 degrees each: every input has its own lat/lon and its own map) and in
# their day (one slice each); with SAME=1 only in their day (all on one lat/lon: one map, shared
# through the digest). For each N in NS (default "1 3 6") gen rectifies the first N inputs
# with nearest onto the 4400x2600 grid of bench/swath.sh; REPS runs (default 3) per binary and N,
# the binaries interleaved run by run (a shared machine). The table shows the median wall time
# and the largest peak RSS (/usr/bin/time -v). Environment: REPS, NS, ROWS/COLS, SAME, TMPDIR, KEEP=1.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPS=${REPS:-3}
NS=${NS:-1 3 6}
PY=/usr/bin/python3
[[ $# -ge 1 ]] || { echo "usage: bench/swath_inputs.sh BAIMS [BAIMS...]" >&2; exit 2; }
BINS=()
for b in "$@"; do BINS+=("$(realpath "$b")"); done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/baims-bench-swath-inputs.XXXXXX")
if [[ "${KEEP:-}" == 1 ]]; then echo "work directory $WORK (kept)" >&2; else trap 'rm -rf "$WORK"' EXIT; fi
log() { echo "bench/swath_inputs.sh: $*" >&2; }
MAXN=$(tr ' ' '\n' <<<"$NS" | sort -g | tail -1)

log "generating $MAXN swaths in $WORK"
$PY "$HERE/make_swath.py" "$WORK/s0.nc" "${ROWS:-4091}" "${COLS:-4865}" >/dev/null
for k in $(seq 1 $((MAXN - 1))); do
    cp "$WORK/s0.nc" "$WORK/s$k.nc"
    $PY - "$WORK/s$k.nc" "$k" "${SAME:-0}" <<'PYEOF'
import sys, netCDF4
k = int(sys.argv[2])
with netCDF4.Dataset(sys.argv[1], "a") as ds:
    if sys.argv[3] != "1":
        ds["lon"].add_offset = 0.05 * k
    ds.start_date = f"{14 + k}-APR-2017 10:27:29.454657"
    ds.stop_date = f"{14 + k}-APR-2017 10:30:29.454657"
PYEOF
done
cat >"$WORK/gen.yml" <<CFG
input_processor_name: curvilinear
output_region: [9.0, 53.0, 31.0, 66.0]
output_size: [4400, 2600]
output_resampling: nearest
output_variables: [conc_chl]
output_writer_params:
  chunksizes: {lat: 512, lon: 512}
  compressor: {cname: lz4, clevel: 5, shuffle: byte}
CFG

: >"$WORK/times"
for n in $NS; do
    inputs=()
    for k in $(seq 0 $((n - 1))); do inputs+=("$WORK/s$k.nc"); done
    for _ in $(seq "$REPS"); do
        for b in "${!BINS[@]}"; do
            rm -rf "$WORK/out.zarr"
            sync
            t0=$EPOCHREALTIME
            /usr/bin/time -v -o "$WORK/time" "${BINS[$b]}" --quiet gen -c "$WORK/gen.yml" \
                -o "$WORK/out.zarr" "${inputs[@]}"
            t1=$EPOCHREALTIME
            awk -v n="$n" -v b="$b" -v t0="$t0" -v t1="$t1" -F': ' \
                '/Maximum resident set size/ {r = $2}
                END {printf "%s %s %.3f %.1f\n", n, b, t1 - t0, r / 1024}' "$WORK/time" \
                >>"$WORK/times"
        done
    done
done

echo "swath ${ROWS:-4091}x${COLS:-4865} -> 4400x2600 nearest, $REPS runs each$([[ "${SAME:-0}" == 1 ]] && echo ", all inputs on one lat/lon (SAME=1)")"
echo
echo "| binary | inputs | wall s (median) | peak RSS MB (max) |"
echo "|---|---|---|---|"
for n in $NS; do
    for b in "${!BINS[@]}"; do
        sel=$(awk -v n="$n" -v b="$b" '$1 == n && $2 == b' "$WORK/times")
        wall=$(cut -d' ' -f3 <<<"$sel" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
        rss=$(cut -d' ' -f4 <<<"$sel" | sort -g | tail -1)
        echo "| ${BINS[$b]} | $n | $wall | $rss |"
    done
done
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
