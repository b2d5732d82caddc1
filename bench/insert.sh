#!/usr/bin/env bash
# bench/insert.sh BAIMS [BAIMS_BEFORE]: the cost of a reader-atomic insert (issue 11).
#
# Inserts one slice at t=0 (the day before the first, so every time step shifts) into the
# 10-slice gen10 cube of bench/run.sh (4400x2600, chunks 512^2, ~68 % NaN: 54 chunk positions a
# slice) and into a 365-slice cube of the same slices repeated (bench/make_long_cube.py: hard links,
# so it costs the disk of 10 slices; every chunk is its own directory entry). An insert builds the
# new cube as hard links beside the old one and exchanges the two folders, then deletes the old
# tree: work per chunk file of the cube. With a second binary (e.g. one built from main) the same
# cases run with it too, from the same starting cubes.
# Each case runs REPS times (default 3); the table shows the median wall and CPU time and the
# largest peak RSS (/usr/bin/time -v). Environment: REPS, KEEP=1, TMPDIR.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPS=${REPS:-3}
PY=/usr/bin/python3
[[ $# -ge 1 ]] || { echo "usage: bench/insert.sh BAIMS [BAIMS_BEFORE]" >&2; exit 2; }
BINS=("$(realpath "$1")")
[[ $# -ge 2 ]] && BINS+=("$(realpath "$2")")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/baims-bench-insert.XXXXXX")
if [[ "${KEEP:-}" == 1 ]]; then echo "work directory $WORK (kept)" >&2; else trap 'rm -rf "$WORK"' EXIT; fi
log() { echo "bench/insert.sh: $*" >&2; }
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

log "generating inputs in $WORK"
mkdir -p "$WORK/in10" "$WORK/ins"
$PY "$HERE/make_inputs.py" "$WORK/in10" --count 10 --start 2023-06-02 >/dev/null
$PY "$HERE/make_inputs.py" "$WORK/ins" --count 1 --start 2023-06-01 --seed-offset 9 >/dev/null
cp "$HERE/gen10.yml" "$WORK/gen10.yml"
"${BINS[0]}" --quiet gen -c "$WORK/gen10.yml" -o "$WORK/gen10.zarr" "$WORK"/in10/*.nc
$PY "$HERE/make_long_cube.py" "$WORK/gen10.zarr" "$WORK/gen365.zarr" 365 >&2
files() { find "$1/sst" -maxdepth 1 -type f -name '[0-9]*' | wc -l; }

echo "| binary | cube | chunk files | wall s (median) | CPU s | peak RSS MB |"
echo "|---|---|---|---|---|---|"
for b in "${!BINS[@]}"; do
    for n in 10 365; do
        : >"$WORK/times"
        for _ in $(seq "$REPS"); do
            rm -rf "$WORK/ins.zarr"
            cp -a "$WORK/gen$n.zarr" "$WORK/ins.zarr"
            sync
            t0=$EPOCHREALTIME
            /usr/bin/time -v -o "$WORK/time" "${BINS[$b]}" --quiet gen -c "$WORK/gen10.yml" \
                -o "$WORK/ins.zarr" "$WORK"/ins/*.nc
            t1=$EPOCHREALTIME
            awk -v t0="$t0" -v t1="$t1" -F': ' '/User time/ {u = $2} /System time/ {s = $2}
                /Maximum resident set size/ {r = $2}
                END {printf "%.3f %.3f %.1f\n", t1 - t0, u + s, r / 1024}' "$WORK/time" >>"$WORK/times"
        done
        nt=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["shape"][0])' "$WORK/ins.zarr/time/.zarray")
        [[ $nt == $((n + 1)) ]] || { log "insert into $n: the cube has $nt steps"; exit 1; }
        med() { cut -d' ' -f"$1" "$WORK/times" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
        rss=$(cut -d' ' -f3 "$WORK/times" | sort -g | tail -1)
        echo "| $([[ $b == 0 ]] && echo this || echo before) | $n slices | $(files "$WORK/gen$n.zarr") | $(med 1) | $(med 2) | $rss |"
    done
done
echo
echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
