#!/usr/bin/env bash
# bench/swath.sh BAIMS: gen on a full-resolution OLCI-like swath (issue 10).
#
# bench/make_swath.py writes one swath of 4091 x 4865 cells (~300 m) with 2-D lat/lon over the
# Baltic (int32 lat/lon with scale 1e-6 and one float32 variable, deflate chunks, as OLCI L2
# stores them); gen rectifies it (input_processor_name: curvilinear) onto the 4400x2600 grid of
# the gen benchmark over [9, 53, 31, 66] (0.005 degrees: ~280-300 m east-west), with nearest and
# with bilinear. The reference (the issue's target: within 2x of it) is the same values on a
# regular lat/lon grid of the same size (make_swath.py --regular: 1-D lat/lon over the swath's
# bounding box, stored like the swath's variable) through the regular-grid path onto the same
# output with the same resampling. Each case runs REPS times (default 3) into a new cube, the swath
# and its reference alternating (the same load for both); the table shows the median wall and CPU
# time, the largest peak RSS (/usr/bin/time -v) and the ratios to the reference. Environment: REPS,
# KEEP=1, TMPDIR, ROWS/COLS (a smaller swath for a quick look).
#
# Below the table, the floor of the ratio (bench/lower_bound.cpp read-direct, on one core, the
# same files): a swath run must inflate its lat, lon and variable (three arrays of the swath's
# size) where the reference inflates one. The swath's inflate time spread over every core without
# loss, divided by the reference run's median wall time, is the ratio that reading alone costs,
# before the swath is rectified or anything is written.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPS=${REPS:-3}
PY=/usr/bin/python3
[[ $# -ge 1 ]] || { echo "usage: bench/swath.sh BAIMS" >&2; exit 2; }
BIN=$(realpath "$1")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/baims-bench-swath.XXXXXX")
if [[ "${KEEP:-}" == 1 ]]; then echo "work directory $WORK (kept)" >&2; else trap 'rm -rf "$WORK"' EXIT; fi
log() { echo "bench/swath.sh: $*" >&2; }
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

LB=$WORK/lower_bound
# shellcheck disable=SC2046
g++ -O2 -std=c++20 "$HERE/lower_bound.cpp" -o "$LB" $(pkg-config --cflags --libs hdf5 libdeflate) \
    -lnetcdf -lblosc
log "generating the swath in $WORK"
$PY "$HERE/make_swath.py" "$WORK/swath.nc" "${ROWS:-4091}" "${COLS:-4865}" --regular "$WORK/regular.nc" >/dev/null
for m in nearest bilinear reg-nearest reg-bilinear; do
    cat >"$WORK/$m.yml" <<CFG
input_processor_name: $([[ $m == reg-* ]] && echo default || echo curvilinear)
output_region: [9.0, 53.0, 31.0, 66.0]
output_size: [4400, 2600]
output_resampling: ${m#reg-}
output_variables: [conc_chl]
output_writer_params:
  chunksizes: {lat: 512, lon: 512}
  compressor: {cname: lz4, clevel: 5, shuffle: byte}
CFG
done

echo "swath $(${PY} -c 'import netCDF4,sys; d=netCDF4.Dataset(sys.argv[1]); print("x".join(str(len(x)) for x in d.dimensions.values()))' "$WORK/swath.nc") -> 4400x2600, $(du -m "$WORK/swath.nc" | cut -f1) MB input, $("$BIN" --version 2>/dev/null | head -1)"
echo
echo "| resampling | input | wall s (median) | CPU s | peak RSS MB | pixels with a value | swath / regular: wall, CPU |"
echo "|---|---|---|---|---|---|---|"
timed() { # CASE INPUT: one run into a new cube, "wall cpu rss_mb" appended to $WORK/CASE.times
    rm -rf "$WORK/$1.zarr"
    sync
    local t0=$EPOCHREALTIME
    /usr/bin/time -v -o "$WORK/time" "$BIN" --quiet gen -c "$WORK/$1.yml" -o "$WORK/$1.zarr" "$2"
    local t1=$EPOCHREALTIME
    awk -v t0="$t0" -v t1="$t1" -F': ' '/User time/ {u = $2} /System time/ {s = $2}
        /Maximum resident set size/ {r = $2}
        END {printf "%.3f %.3f %.1f\n", t1 - t0, u + s, r / 1024}' "$WORK/time" >>"$WORK/$1.times"
}
med() { cut -d' ' -f"$2" "$WORK/$1.times" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
valid() { $PY -c 'import sys, zarr, numpy as np; a = zarr.open(sys.argv[1], "r")["conc_chl"][0]; print(int((~np.isnan(a)).sum()))' "$1"; }
for m in nearest bilinear; do
    : >"$WORK/$m.times"
    : >"$WORK/reg-$m.times"
    for _ in $(seq "$REPS"); do
        timed "$m" "$WORK/swath.nc"
        timed "reg-$m" "$WORK/regular.nc"
    done
    for c in "reg-$m" "$m"; do
        rss=$(cut -d' ' -f3 "$WORK/$c.times" | sort -g | tail -1)
        ratio=$(awk -v a="$(med "$c" 1)" -v b="$(med "reg-$m" 1)" -v c="$(med "$c" 2)" -v d="$(med "reg-$m" 2)" \
            'BEGIN {printf "%.2fx, %.2fx", a / b, c / d}')
        echo "| ${m} | $([[ $c == reg-* ]] && echo regular || echo swath) | $(med "$c" 1) | $(med "$c" 2) | $rss | $(valid "$WORK/$c.zarr") | $ratio |"
    done
done
echo
# The floor: inflate alone (one core, libdeflate, as gen reads), from the same files.
lb() { REPS=$REPS "$LB" read-direct "$1" "$2" | cut -d' ' -f2; }
read -r LAT LON VAR REG < <(echo "$(lb lat "$WORK/swath.nc") $(lb lon "$WORK/swath.nc")" \
    "$(lb conc_chl "$WORK/swath.nc") $(lb conc_chl "$WORK/regular.nc")")
awk -v lat="$LAT" -v lon="$LON" -v var="$VAR" -v reg="$REG" -v cores="$(nproc)" \
    -v regn="$(med reg-nearest 1)" -v regb="$(med reg-bilinear 1)" 'BEGIN {
    sw = lat + lon + var
    printf "Inflate alone, one core (bench/lower_bound.cpp read-direct): swath lat %.3f + lon %.3f + conc_chl %.3f = %.3f CPU s; regular conc_chl %.3f CPU s (%.2fx).\n", lat, lon, var, sw, reg, sw / reg
    printf "Floor of the wall ratio from reading alone (the swath inflate on %d cores without loss / the regular run): nearest %.2fx, bilinear %.2fx.\n", cores, sw / cores / regn, sw / cores / regb
}'
echo
echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
