#!/usr/bin/env bash
# bench/swath_vars.sh BAIMS [BAIMS...]: gen on an OLCI-like swath with several variables and a
# flag-based valid_pixel_expression, as BalticAIMS configs are (issue 10: memory bounded). The
# swath of bench/swath.sh (bench/make_swath.py, 4091 x 4865 cells, ~300 m) gets NV-1 more float32
# variables (conc_chl times 2, 3, ...; deflate, the same chunks) and c2rcc_flags (uint32 with
# flag_masks/flag_meanings, Valid_PE = bit 31 where conc_chl has a value); gen rectifies NV
# variables, each with valid_pixel_expression c2rcc_flags.Valid_PE, with nearest onto the
# 4400x2600 grid of bench/swath.sh. REPS runs (default 3) per binary, the binaries interleaved run
# by run; the table shows the median wall and CPU time, the largest peak RSS (/usr/bin/time -v) and
# a hash of the chunk files (equal hashes: byte-identical cubes). Environment: REPS, NV (default
# 5), ROWS/COLS, TMPDIR, KEEP=1.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPS=${REPS:-3}
NV=${NV:-5}
PY=/usr/bin/python3
[[ $# -ge 1 ]] || { echo "usage: bench/swath_vars.sh BAIMS [BAIMS...]" >&2; exit 2; }
BINS=()
for b in "$@"; do BINS+=("$(realpath "$b")"); done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/baims-bench-swath-vars.XXXXXX")
if [[ "${KEEP:-}" == 1 ]]; then echo "work directory $WORK (kept)" >&2; else trap 'rm -rf "$WORK"' EXIT; fi
echo "bench/swath_vars.sh: generating the swath with $NV variables in $WORK" >&2
$PY "$HERE/make_swath.py" "$WORK/swath.nc" "${ROWS:-4091}" "${COLS:-4865}" >/dev/null
$PY - "$WORK/swath.nc" "$NV" <<'PYEOF'
import sys, netCDF4, numpy as np
path, nv = sys.argv[1], int(sys.argv[2])
with netCDF4.Dataset(path, "a") as ds:
    src = ds["conc_chl"]
    chl = src[:].filled(np.nan)
    for k in range(2, nv + 1):
        v = ds.createVariable(f"var{k}", "f4", src.dimensions, zlib=True, complevel=1,
                              chunksizes=src.chunking(), fill_value=np.float32(np.nan))
        v[:] = chl * k
    f = ds.createVariable("c2rcc_flags", "u4", src.dimensions, zlib=True, complevel=1,
                          chunksizes=src.chunking())
    f.flag_masks = np.array([1, 2, 2**31], dtype="u4")
    f.flag_meanings = "Rtosa_OOS Rtosa_OOR Valid_PE"
    flags = np.where(np.isnan(chl), 0, 2**31).astype("u4")
    flags[::7, ::5] |= 1
    f[:] = flags
PYEOF
{
    echo "input_processor_name: curvilinear"
    echo "output_region: [9.0, 53.0, 31.0, 66.0]"
    echo "output_size: [4400, 2600]"
    echo "output_variables:"
    echo "  - conc_chl: {valid_pixel_expression: c2rcc_flags.Valid_PE}"
    for k in $(seq 2 "$NV"); do echo "  - var$k: {valid_pixel_expression: c2rcc_flags.Valid_PE}"; done
} >"$WORK/gen.yml"

echo "swath 4091x4865 (ROWS x COLS: ${ROWS:-4091}x${COLS:-4865}), $NV variables + c2rcc_flags, $(du -m "$WORK/swath.nc" | cut -f1) MB input -> 4400x2600, nearest"
echo
echo "| binary | wall s (median) | CPU s (median) | peak RSS MB (max) | chunk files |"
echo "|---|---|---|---|---|"
for i in "${!BINS[@]}"; do : >"$WORK/$i.times"; done
for _ in $(seq "$REPS"); do
    for i in "${!BINS[@]}"; do
        rm -rf "$WORK/$i.zarr"
        sync
        t0=$EPOCHREALTIME
        /usr/bin/time -v -o "$WORK/time" "${BINS[$i]}" --quiet gen -c "$WORK/gen.yml" -o "$WORK/$i.zarr" "$WORK/swath.nc"
        t1=$EPOCHREALTIME
        awk -v t0="$t0" -v t1="$t1" -F': ' '/User time/ {u = $2} /System time/ {s = $2}
            /Maximum resident set size/ {r = $2}
            END {printf "%.3f %.3f %.1f\n", t1 - t0, u + s, r / 1024}' "$WORK/time" >>"$WORK/$i.times"
    done
done
med() { cut -d' ' -f"$2" "$WORK/$1.times" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
for i in "${!BINS[@]}"; do
    hash=$(cd "$WORK/$i.zarr" && find . -type f ! -name '.z*' ! -name '.baims-*' | sort | xargs sha256sum | sha256sum | cut -c1-16)
    echo "| ${BINS[$i]} | $(med "$i" 1) | $(med "$i" 2) | $(cut -d' ' -f3 "$WORK/$i.times" | sort -g | tail -1) | $hash |"
done
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
