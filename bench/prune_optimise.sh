#!/usr/bin/env bash
# bench/prune_optimise.sh [BAIMS_BINARY]: baims prune and baims optimise on the gen10 cube of
# bench/run.sh (10 daily slices, 4400x2600 float32, chunks 512^2, lz4; ~68 % NaN inputs).
#   prune        baims prune on a fresh copy of the cube (every chunk read once)
#   optimise     baims optimise CUBE -o COPY (consolidate, coordinates in one chunk)
#   rechunk      baims optimise CUBE -o COPY --chunks time=10,lat=256,lon=256
#   in-place     baims optimise --in-place --chunks lat=1024,lon=1024 on a fresh copy
# Median wall / CPU time and the largest peak RSS of REPS runs (default 3); xcube 1.0.5 took
# 2.3 s (prune) and 1.2 s (optimize to a copy) on this machine (issue 9).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
REPS=${REPS:-3}
PY=/usr/bin/python3
BAIMS=$(realpath "${1:-${BAIMS_BINARY:-$ROOT/build/apps/baims}}")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/baims-bench-po.XXXXXX")
[[ "${KEEP:-}" == 1 ]] || trap 'rm -rf "$WORK"' EXIT
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p "$WORK/in10"
$PY "$HERE/make_inputs.py" "$WORK/in10" --count 10 --start 2023-06-02 >/dev/null
cp "$HERE/gen10.yml" "$WORK/gen10.yml"
"$BAIMS" --progress never -q gen -c "$WORK/gen10.yml" -o "$WORK/cube.zarr" "$WORK"/in10/*.nc
# Make the prune case do real work: rewrite the cube once with every chunk stored (all-NaN
# ones included), as xcube gen and xarray write it.
$PY - "$WORK/cube.zarr" <<'EOT'
import sys, zarr, numpy as np
g = zarr.open_group(sys.argv[1], mode="r+")
a = g["sst"]
for t in range(a.shape[0]):
    a[t] = a[t]  # zarr-python 2.13 writes empty chunks too
EOT
CHUNKS=$(find "$WORK/cube.zarr/sst" -type f ! -name '.*' | wc -l)

timed() { # NAME PREPARE-CMD ARGS...
    local name=$1 prep=$2
    shift 2
    : >"$WORK/$name.times"
    for _ in $(seq "$REPS"); do
        eval "$prep"
        sync
        local t0=$EPOCHREALTIME
        /usr/bin/time -v -o "$WORK/$name.time" "$BAIMS" --progress never "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" ||
            { cat "$WORK/$name.err" >&2; exit 1; }
        local t1=$EPOCHREALTIME
        awk -v t0="$t0" -v t1="$t1" -F': ' '/User time/ {u = $2} /System time/ {s = $2}
            /Maximum resident set size/ {r = $2} END {printf "%.3f %.3f %.1f\n", t1 - t0, u + s, r / 1024}' \
            "$WORK/$name.time" >>"$WORK/$name.times"
    done
    local w c r
    w=$(cut -d' ' -f1 "$WORK/$name.times" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    c=$(cut -d' ' -f2 "$WORK/$name.times" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    r=$(cut -d' ' -f3 "$WORK/$name.times" | sort -g | tail -1)
    echo "| $name | $w | $c | $r | $(grep -o 'info: .*' "$WORK/$name.err" | tail -1 | cut -c7-) |"
}
echo "$("$BAIMS" --version | head -1); $(nproc) cores; load before: $LOAD_BEFORE; cube: 10x2600x4400 f4, $CHUNKS chunk files of 512^2"
echo
echo "| case | wall s | cpu s | peak RSS MB | result |"
echo "|---|---:|---:|---:|---|"
timed prune "rm -rf $WORK/p.zarr; cp -r $WORK/cube.zarr $WORK/p.zarr" prune "$WORK/p.zarr"
timed optimise "rm -rf $WORK/o.zarr" optimise "$WORK/cube.zarr" -o "$WORK/o.zarr"
timed rechunk "rm -rf $WORK/r.zarr" optimise "$WORK/cube.zarr" -o "$WORK/r.zarr" --chunks time=10,lat=256,lon=256
timed in-place "rm -rf $WORK/i.zarr; cp -r $WORK/cube.zarr $WORK/i.zarr" optimise "$WORK/i.zarr" --in-place --chunks lat=1024,lon=1024
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
