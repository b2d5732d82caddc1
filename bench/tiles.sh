#!/usr/bin/env bash
# baims tiles on the 10-slice 4400x2600 gen benchmark cube (512^2 chunks; bench/run.sh's gen10):
#   first    4-level pyramid, --agg-methods first      (xcube level 1.0.5: 1.9 s)
#   mean     4-level pyramid, --agg-methods mean       (xcube level 1.0.5: 5.1 s)
#   update   --update (mean) after gen appended one day to the cube (xcube has none); the
#            rebuild11 runs (a full mean pyramid of the 11 days) alternate with it (target: update
#            <= 1/5 of rebuild11)
#   png      4-level pyramid (mean) and --png: XYZ tiles of 11 time steps, zooms 6-9 (once)
# Usage: bash bench/tiles.sh [baims]; REPS (default 3), KEEP=1 keeps the work directory, PNG=0 leaves
# out the png case (a minute of CPU). DAYS=N (default 10) builds the cube of N days instead (the
# rebuild is then of N+1 days; the row keeps its name rebuild11): how update and rebuild scale.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BAIMS=${1:-$HERE/../build/apps/baims}
PY=/usr/bin/python3
REPS=${REPS:-3}
WORK=$(mktemp -d /tmp/baims-bench-tiles.XXXXXX)
[[ ${KEEP:-} == 1 ]] || trap 'rm -rf "$WORK"' EXIT
log() { echo "# $*" >&2; }

mkdir -p "$WORK/in10" "$WORK/in1"
DAYS=${DAYS:-10}
$PY "$HERE/make_inputs.py" "$WORK/in10" --count "$DAYS" --start 2023-06-02 >/dev/null
$PY "$HERE/make_inputs.py" "$WORK/in1" --count 1 --start "$(date -u -d "2023-06-02 + $DAYS days" +%F)" >/dev/null
cp "$HERE/gen10.yml" "$WORK/gen.yml"
"$BAIMS" --quiet gen -c "$WORK/gen.yml" -o "$WORK/c.zarr" "$WORK"/in10/*.nc

timed() { # NAME ARGS... → "wall cpu rss_mb" appended to $WORK/NAME.times
    local name=$1
    shift
    sync
    local t0=$EPOCHREALTIME
    /usr/bin/time -v -o "$WORK/$name.time" "$BAIMS" --quiet "$@" 2>"$WORK/$name.err" || {
        cat "$WORK/$name.err" >&2
        exit 1
    }
    local t1=$EPOCHREALTIME
    awk -v t0="$t0" -v t1="$t1" -F': ' '/User time/ {u = $2} /System time/ {s = $2}
        /Maximum resident set size/ {r = $2} END {printf "%.3f %.3f %.1f\n", t1 - t0, u + s, r / 1024}' \
        "$WORK/$name.time" >>"$WORK/$name.times"
}
median() { sort -g -k1 "$WORK/$1.times" | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}'; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
for ((i = 0; i < REPS; i++)); do
    rm -rf "$WORK/first.levels" "$WORK/mean.levels"
    timed first tiles "$WORK/c.zarr" -o "$WORK/first.levels" --num-levels-max 4 --agg-methods first
    timed mean tiles "$WORK/c.zarr" -o "$WORK/mean.levels" --num-levels-max 4 --agg-methods mean
done
"$BAIMS" --quiet gen -c "$WORK/gen.yml" -o "$WORK/c.zarr" "$WORK"/in1/*.nc
for ((i = 0; i < REPS; i++)); do # update and rebuild alternate: the same load for both
    rm -rf "$WORK/u.levels" "$WORK/r.levels"
    cp -r "$WORK/mean.levels" "$WORK/u.levels"
    timed update tiles "$WORK/c.zarr" -o "$WORK/u.levels" --update
    timed rebuild11 tiles "$WORK/c.zarr" -o "$WORK/r.levels" --num-levels-max 4 --agg-methods mean
done
if [[ ${PNG:-1} != 0 ]]; then
    timed png tiles "$WORK/c.zarr" -o "$WORK/p.levels" --num-levels-max 4 --agg-methods mean --png "$WORK/png"
    log "png: $(find "$WORK/png" -name '*.png' | wc -l) tiles, $(du -sm "$WORK/png" | cut -f1) MB"
fi

echo "| case | wall s (median of $REPS) | cpu s | max RSS MB | xcube 1.0.5 |"
echo "|---|---|---|---|---|"
for c in first mean update rebuild11 png; do
    [[ -f $WORK/$c.times ]] || continue
    read -r w cpu rss <<<"$(median $c)"
    case $c in first) x="1.9 s" ;; mean) x="5.1 s" ;; *) x="—" ;; esac
    echo "| $c | $w | $cpu | $rss | $x |"
done
read -r uw ucpu _ <<<"$(median update)"
read -r rw rcpu _ <<<"$(median rebuild11)"
echo
echo "update / rebuild11: wall $(awk -v a="$uw" -v b="$rw" 'BEGIN {printf "%.3f", a / b}'), cpu $(awk -v a="$ucpu" -v b="$rcpu" 'BEGIN {printf "%.3f", a / b}') (target <= 0.2)"
echo "days: $DAYS + 1; threads: $(nproc); load average before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
