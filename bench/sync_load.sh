#!/usr/bin/env bash
# How much a concurrent writer on the same file system slows the durable commits (syncfs) of a
# daily run: the gen10 cube (bench/gen10.yml, 10 days of bench/make_inputs.py) and its 4-level mean
# pyramid as in bench/tiles.sh, then, each idle and with a writer running:
#   update   tiles --update of a copy of the 10-day pyramid after gen appended day 11 to the cube
#   append   gen appending day 11 to a copy of the 10-day cube
# The writer is started before the timed command and stopped (its file removed, the file system
# synced) after it:
#   WRITER=dd (default)  one `dd if=/dev/zero bs=1M count=$WRITER_MB` (default 1000), started
#                        $WRITER_LEAD s (default 1) before: that much dirty data is waiting
#   WRITER=loop          writes $WRITER_RATE MB (default 100) every second into a 1 GB file, over
#                        and over (a build or log writer); the timed command starts after
#                        $WRITER_LEAD s
# Usage: bash bench/sync_load.sh BIN [BIN2 ...]; REPS (default 3); SYNC_MODES="a b" (default: one
# run with BAIMS_SYNC_MODE unset) runs each binary once per value of BAIMS_SYNC_MODE. All variants
# run interleaved in every repetition. WORKDIR (default /var/tmp) must be on a disk, not tmpfs.
# KEEP=1 keeps the work directory.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[[ $# -ge 1 ]] || set -- "$HERE/../build/apps/baims"
PY=/usr/bin/python3
REPS=${REPS:-3}
WRITER=${WRITER:-dd}
WRITER_MB=${WRITER_MB:-1000}
WRITER_RATE=${WRITER_RATE:-100}
WRITER_LEAD=${WRITER_LEAD:-1}
read -r -a MODES <<<"${SYNC_MODES:-default}"
WORK=$(mktemp -d "${WORKDIR:-/var/tmp}/baims-bench-syncload.XXXXXX")
[[ ${KEEP:-} == 1 ]] || trap 'stop_writer; rm -rf "$WORK"' EXIT
log() { echo "# $*" >&2; }
fstype=$(stat -f -c %T "$WORK")
[[ $fstype != tmpfs ]] || {
    echo "$WORK is on tmpfs: set WORKDIR to a folder on a disk" >&2
    exit 2
}
BAIMS=$1
mkdir -p "$WORK/in10" "$WORK/in1"
$PY "$HERE/make_inputs.py" "$WORK/in10" --count 10 --start 2023-06-02 >/dev/null
$PY "$HERE/make_inputs.py" "$WORK/in1" --count 1 --start 2023-06-12 >/dev/null
cp "$HERE/gen10.yml" "$WORK/gen.yml"
"$BAIMS" --quiet gen -c "$WORK/gen.yml" -o "$WORK/c.zarr" "$WORK"/in10/*.nc
"$BAIMS" --quiet tiles "$WORK/c.zarr" -o "$WORK/mean.levels" --num-levels-max 4 --agg-methods mean
cp -r "$WORK/c.zarr" "$WORK/c10.zarr"
"$BAIMS" --quiet gen -c "$WORK/gen.yml" -o "$WORK/c.zarr" "$WORK"/in1/*.nc
log "cube $(du -sm "$WORK/c10.zarr" | cut -f1) MB, pyramid $(du -sm "$WORK/mean.levels" | cut -f1) MB, $fstype"

WPID=
start_writer() {
    case $WRITER in
    dd) dd if=/dev/zero of="$WORK/big" bs=1M count="$WRITER_MB" status=none & ;;
    loop)
        (
            off=0
            while :; do
                dd if=/dev/zero of="$WORK/big" bs=1M count="$WRITER_RATE" seek=$off conv=notrunc status=none
                off=$(((off + WRITER_RATE) % 1000))
                sleep 1
            done
        ) &
        ;;
    *)
        echo "WRITER must be dd or loop" >&2
        exit 2
        ;;
    esac
    WPID=$!
    sleep "$WRITER_LEAD"
}
stop_writer() {
    if [[ -n $WPID ]]; then
        kill "$WPID" 2>/dev/null || true
        wait "$WPID" 2>/dev/null || true
        WPID=
        rm -f "$WORK/big"
        sync
    fi
}
timed() { # NAME MODE ARGS... → "wall cpu" appended to $WORK/NAME.times
    local name=$1 mode=$2
    shift 2
    local t0=$EPOCHREALTIME
    if [[ $mode == default ]]; then
        /usr/bin/time -f '%U %S' -o "$WORK/t" "$@" 2>"$WORK/err" || {
            cat "$WORK/err" >&2
            exit 1
        }
    else
        BAIMS_SYNC_MODE=$mode /usr/bin/time -f '%U %S' -o "$WORK/t" "$@" 2>"$WORK/err" || {
            cat "$WORK/err" >&2
            exit 1
        }
    fi
    local t1=$EPOCHREALTIME
    awk -v t0="$t0" -v t1="$t1" '{printf "%.3f %.3f\n", t1 - t0, $1 + $2}' "$WORK/t" >>"$WORK/$name.times"
}
median() { sort -g -k"$2" "$WORK/$1.times" | awk -v k="$2" '{a[NR] = $k} END {print a[int((NR + 1) / 2)]}'; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
names=()
for ((i = 0; i < REPS; i++)); do
    for load in idle $WRITER; do
        b=0
        for bin in "$@"; do
            b=$((b + 1))
            for mode in "${MODES[@]}"; do
                v="$b-$mode"
                rm -rf "$WORK/u.levels" "$WORK/g.zarr"
                cp -r "$WORK/mean.levels" "$WORK/u.levels"
                cp -r "$WORK/c10.zarr" "$WORK/g.zarr"
                sync
                [[ $load == idle ]] || start_writer
                timed "update.$load.$v" "$mode" "$bin" --quiet tiles "$WORK/c.zarr" -o "$WORK/u.levels" --update
                stop_writer
                [[ $load == idle ]] || start_writer
                timed "append.$load.$v" "$mode" "$bin" --quiet gen -c "$WORK/gen.yml" -o "$WORK/g.zarr" "$WORK"/in1/*.nc
                stop_writer
            done
        done
    done
done

echo "| case | load | binary | BAIMS_SYNC_MODE | wall s (median of $REPS) | cpu s | all wall s |"
echo "|---|---|---|---|---|---|---|"
for c in update append; do
    for load in idle $WRITER; do
        b=0
        for bin in "$@"; do
            b=$((b + 1))
            for mode in "${MODES[@]}"; do
                f="$c.$load.$b-$mode"
                echo "| $c | $load | $(basename "$bin") | $mode | $(median "$f" 1) | $(median "$f" 2) | $(cut -d' ' -f1 "$WORK/$f.times" | tr '\n' ' ')|"
            done
        done
    done
done
echo
case $WRITER in
dd) wdesc="one dd of $WRITER_MB MB started $WRITER_LEAD s before" ;;
loop) wdesc="$WRITER_RATE MB/s into a 1 GB file, started $WRITER_LEAD s before" ;;
esac
echo "writer: $wdesc; work dir $WORK ($fstype); dirty_background_ratio $(cat /proc/sys/vm/dirty_background_ratio), dirty_ratio $(cat /proc/sys/vm/dirty_ratio), RAM $(free -m | awk '/Mem:/ {print $2}') MB"
echo "threads: $(nproc); load average before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
