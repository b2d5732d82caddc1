#!/usr/bin/env bash
# bench/run.sh [BAIMS_BINARY]: the `baims gen` benchmark of SPEC 11.
#
# Generates its inputs (bench/make_inputs.py: daily CF NetCDF-4 files of 2000x2000 float32,
# ~68 % NaN, ascending lat, zlib) into a temporary directory and times these cases:
#   gen10     10 files -> new 4400x2600 cube over [9, 53, 31, 66], chunks 512^2, nearest, lz4
#   baltic1   1 file -> new cube of one slice at the BalticAIMS size 12594x14040, chunks 512^2
#   insert0   insert a slice at t=0 (the day before the first) into the 10-slice gen10 cube
#   insert0@30  the same insert into a 30-slice cube (memory must not grow with cube length)
#   rerun     gen10 again with the same 10 inputs on the existing cube (a no-op in content)
# Each case runs REPS times (default 3) from the same starting state; the table shows the median
# wall time, the median CPU time (user + sys) and the largest peak RSS (/usr/bin/time -v).
#
# Beside them, the lower bound measured in the same run on the same files, on one core
# (bench/lower_bound.cpp): the time to only read the inputs (HDF5 chunk index, pread, libdeflate
# inflate, unshuffle: the fastest way we know; netCDF's own nc_get_vara_float is shown in the
# notes) plus the time to only Blosc-compress the chunks that the case wrote. Wall and CPU seconds of the bound
# are both shown because the development machine is shared with other work (see "load").
#
# Binary: the argument, else $BAIMS_BINARY, else `scripts/build.sh dev` -> build/apps/baims.
# Environment: REPS (default 3), KEEP=1 keeps the work directory, TMPDIR.
#
#   bench/run.sh
#   BAIMS_BINARY=build-bench/apps/baims bench/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
REPS=${REPS:-3}
PY=/usr/bin/python3

BAIMS=${1:-${BAIMS_BINARY:-}}
if [[ -z "$BAIMS" ]]; then
    echo "bench/run.sh: building baims (scripts/build.sh dev)" >&2
    "$ROOT/scripts/build.sh" dev >&2
    BAIMS=$ROOT/build/apps/baims
fi
BAIMS=$(realpath "$BAIMS")
[[ -x "$BAIMS" ]] || { echo "bench/run.sh: $BAIMS is not executable" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "bench/run.sh: /usr/bin/time is needed (apt-get install time)" >&2; exit 2; }
command -v g++ >/dev/null || { echo "bench/run.sh: g++ is needed for the lower-bound driver" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/baims-bench-gen.XXXXXX")
if [[ "${KEEP:-}" == 1 ]]; then
    echo "bench/run.sh: work directory $WORK (kept)" >&2
else
    trap 'rm -rf "$WORK"' EXIT
fi
log() { echo "bench/run.sh: $*" >&2; }

load_now() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_BEFORE=$(load_now)

# --- lower-bound driver ---------------------------------------------------------------------
LB=$WORK/lower_bound
# shellcheck disable=SC2046
g++ -O2 -std=c++20 "$HERE/lower_bound.cpp" -o "$LB" $(pkg-config --cflags --libs hdf5 libdeflate) \
    -lnetcdf -lblosc

# --- inputs -----------------------------------------------------------------------------------
log "generating inputs in $WORK"
mkdir -p "$WORK/in10" "$WORK/in30" "$WORK/ins"
# 10 days from 2023-06-02; 20 more days after them (same data fields repeated) for the 30-slice
# cube; one file for 2023-06-01 (the insert at t=0).
$PY "$HERE/make_inputs.py" "$WORK/in10" --count 10 --start 2023-06-02 >/dev/null
$PY "$HERE/make_inputs.py" "$WORK/in30" --count 20 --start 2023-06-12 >/dev/null
$PY "$HERE/make_inputs.py" "$WORK/ins" --count 1 --start 2023-06-01 --seed-offset 9 >/dev/null
IN10=("$WORK"/in10/*.nc)
IN30=("$WORK"/in10/*.nc "$WORK"/in30/*.nc)
INS=("$WORK"/ins/*.nc)
INPUT_MB=$(du -cm "${IN10[@]}" | tail -1 | cut -f1)

write_config() { # FILE W H
    cat >"$1" <<EOF
input_processor_name: default
output_region: [9.0, 53.0, 31.0, 66.0]
output_size: [$2, $3]
output_resampling: nearest
output_variables: [sst]
output_writer_params:
  chunksizes: {lat: 512, lon: 512}
  compressor: {cname: lz4, clevel: 5, shuffle: byte}
output_metadata:
  title: baims gen benchmark
EOF
}
write_config "$WORK/gen10.yml" 4400 2600
write_config "$WORK/baltic.yml" 12594 14040

# --- timing helpers ---------------------------------------------------------------------------
# timed_run OUT_PREFIX ARGS...: runs baims once under /usr/bin/time -v; appends
# "wall cpu rss_mb" to OUT_PREFIX.times and keeps the last stderr in OUT_PREFIX.err.
timed_run() {
    local prefix=$1
    shift
    sync
    local t0=$EPOCHREALTIME
    if ! /usr/bin/time -v -o "$prefix.time" "$BAIMS" "$@" >"$prefix.out" 2>"$prefix.err"; then
        log "baims $* failed:"
        cat "$prefix.err" >&2
        exit 1
    fi
    local t1=$EPOCHREALTIME
    awk -v t0="$t0" -v t1="$t1" -F': ' '
        /User time/ {u = $2} /System time/ {s = $2} /Maximum resident set size/ {r = $2}
        END {printf "%.3f %.3f %.1f\n", t1 - t0, u + s, r / 1024}' "$prefix.time" >>"$prefix.times"
}
# stats OUT_PREFIX -> "median_wall median_cpu max_rss"
stats() {
    local f=$1.times
    local w c r
    w=$(cut -d' ' -f1 "$f" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    c=$(cut -d' ' -f2 "$f" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    r=$(cut -d' ' -f3 "$f" | sort -g | tail -1)
    echo "$w $c $r"
}
ntime() { # CUBE -> number of time steps
    $PY -c 'import json,sys; print(json.load(open(sys.argv[1] + "/time/.zarray"))["shape"][0])' "$1"
}
nchunks() { # CUBE [T] -> chunk files of sst (of slice T)
    find "$1/sst" -maxdepth 1 -type f -name "${2:+$2.}[0-9]*" | wc -l
}
G=(--quiet)

# --- cases ------------------------------------------------------------------------------------
R=$WORK/res
mkdir -p "$R"

log "gen10 x$REPS"
for _ in $(seq "$REPS"); do
    rm -rf "$WORK/gen10.zarr"
    timed_run "$R/gen10" "${G[@]}" gen -c "$WORK/gen10.yml" -o "$WORK/gen10.zarr" "${IN10[@]}"
done
[[ $(ntime "$WORK/gen10.zarr") == 10 ]] || { log "gen10: cube does not have 10 slices"; exit 1; }

log "baltic1 x$REPS"
for _ in $(seq "$REPS"); do
    rm -rf "$WORK/baltic.zarr"
    timed_run "$R/baltic1" "${G[@]}" gen -c "$WORK/baltic.yml" -o "$WORK/baltic.zarr" "${IN10[0]}"
done

log "building the 30-slice cube (not timed)"
"$BAIMS" "${G[@]}" gen -c "$WORK/gen10.yml" -o "$WORK/gen30.zarr" "${IN30[@]}" 2>"$R/gen30.err" ||
    { cat "$R/gen30.err" >&2; exit 1; }

for n in 10 30; do
    log "insert0 into the $n-slice cube x$REPS"
    for _ in $(seq "$REPS"); do
        rm -rf "$WORK/ins.zarr"
        cp -a "$WORK/gen$n.zarr" "$WORK/ins.zarr"
        timed_run "$R/insert$n" "${G[@]}" gen -c "$WORK/gen10.yml" -o "$WORK/ins.zarr" "${INS[@]}"
    done
    [[ $(ntime "$WORK/ins.zarr") == $((n + 1)) ]] || { log "insert0: cube does not have $((n + 1)) slices"; exit 1; }
done
# the slice inserted at t=0, kept for the compress bound
mkdir -p "$WORK/slice0/sst"
cp "$WORK/ins.zarr/sst/.zarray" "$WORK/slice0/sst/"
find "$WORK/ins.zarr/sst" -maxdepth 1 -type f -name '0.[0-9]*' -exec cp {} "$WORK/slice0/sst/" \;

log "rerun x$REPS"
before=$(cd "$WORK/gen10.zarr" && find sst -type f -name '[0-9]*' -exec md5sum {} + | sort | md5sum)
for _ in $(seq "$REPS"); do
    timed_run "$R/rerun" --log-level info gen -c "$WORK/gen10.yml" -o "$WORK/gen10.zarr" "${IN10[@]}"
done
after=$(cd "$WORK/gen10.zarr" && find sst -type f -name '[0-9]*' -exec md5sum {} + | sort | md5sum)
RERUN_SAME=yes
[[ "$before" == "$after" ]] || RERUN_SAME=no
RERUN_SUMMARY=$(grep -v '^\s*$' "$R/rerun.err" | tail -1 | sed 's/|/\\|/g')

# --- lower bound (1 core, same files) ----------------------------------------------------------
log "lower bound"
# The read bound is the direct chunk read with libdeflate (faster than netCDF's own read, which
# is shown in the notes).
read -r NC_R10_W NC_R10_C _ < <(REPS=$REPS "$LB" read sst "${IN10[@]}")
read -r LB_R10_W LB_R10_C _ < <(REPS=$REPS "$LB" read-direct sst "${IN10[@]}")
read -r LB_R1_W LB_R1_C _ < <(REPS=$REPS "$LB" read-direct sst "${IN10[0]}")
read -r LB_RI_W LB_RI_C _ < <(REPS=$REPS "$LB" read-direct sst "${INS[@]}")
read -r LB_C10_W LB_C10_C C10_DETAIL < <(REPS=$REPS "$LB" compress "$WORK/gen10.zarr/sst")
read -r LB_CB_W LB_CB_C CB_DETAIL < <(REPS=$REPS "$LB" compress "$WORK/baltic.zarr/sst")
read -r LB_CI_W LB_CI_C _ < <(REPS=$REPS "$LB" compress "$WORK/slice0/sst")
LOAD_AFTER=$(load_now)

# --- report -----------------------------------------------------------------------------------
rev=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    rev="$rev (+ uncommitted changes)"
fi
cpu_model=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
version=$("$BAIMS" --version 2>/dev/null | head -1 || true)

# row CASE WHAT PREFIX READ_W READ_C COMP_W COMP_C TARGET XCUBE
row() {
    local case=$1 what=$2 prefix=$3 rw=$4 rc=$5 cw=$6 cc=$7 target=$8 xcube=$9
    local w c r
    read -r w c r < <(stats "$prefix")
    awk -v case="$case" -v what="$what" -v w="$w" -v c="$c" -v r="$r" -v rw="$rw" -v rc="$rc" \
        -v cw="$cw" -v cc="$cc" -v target="$target" -v xcube="$xcube" 'BEGIN {
        bw = rw + cw; bc = rc + cc
        printf "| %s | %s | %.2f | %.2f | %.0f | %.2f + %.2f = %.2f | %.2f + %.2f = %.2f | %.1fx | %.1fx | %s | %s |\n",
            case, what, w, c, r, rw, cw, bw, rc, cc, bc, w / bw, c / bc, target, xcube }'
}

cat <<EOF
## baims gen benchmark (bench/run.sh)

- commit: $rev; binary: \`$BAIMS\` (${version:-?})
- machine: $(nproc) cores, $cpu_model; $(date -u +%Y-%m-%dT%H:%M:%SZ)
- load average (1/5/15 min): before $LOAD_BEFORE, after $LOAD_AFTER
- inputs: 10 x 2000x2000 float32, ~68 % NaN, zlib 4 + shuffle, $INPUT_MB MB on disk; REPS=$REPS
- baims: median wall and median CPU (user + sys) of $REPS runs, largest peak RSS;
  bound: read the inputs (HDF5 chunk index + pread + libdeflate inflate + unshuffle) + Blosc-compress
  the chunks the case wrote, 1 core, median of $REPS;
  wall / bound = baims wall / bound wall; CPU / bound CPU = baims user + sys / bound CPU
- xcube: SPEC 11 figures, measured on the reference machine (not in this run)

| case | work | wall s | CPU s | peak RSS MB | bound wall s (read + compress) | bound CPU s (read + compress) | wall / bound | CPU / bound CPU | target | xcube 1.0.5 |
|---|---|---|---|---|---|---|---|---|---|---|
EOF
row gen10 "10 inputs -> 4400x2600x10, $(nchunks "$WORK/gen10.zarr") chunks" "$R/gen10" \
    "$LB_R10_W" "$LB_R10_C" "$LB_C10_W" "$LB_C10_C" "<= 0.7 s, <= 150 MB" "16.8 s, 385 MB"
row baltic1 "1 input -> 12594x14040x1, $(nchunks "$WORK/baltic.zarr") chunks" "$R/baltic1" \
    "$LB_R1_W" "$LB_R1_C" "$LB_CB_W" "$LB_CB_C" "<= 1 s, <= 200 MB" "7.9 s, 386 MB"
row insert0 "insert at t=0 into 10 slices" "$R/insert10" \
    "$LB_RI_W" "$LB_RI_C" "$LB_CI_W" "$LB_CI_C" "<= 0.3 s" "3.0 s, 866 MB"
row "insert0@30" "insert at t=0 into 30 slices" "$R/insert30" \
    "$LB_RI_W" "$LB_RI_C" "$LB_CI_W" "$LB_CI_C" "RSS as insert0" "-"
row rerun "gen10 again on the 10-slice cube" "$R/rerun" \
    "$LB_R10_W" "$LB_R10_C" 0 0 "no-op" "-"

cat <<EOF

- gen10 read through netCDF (nc_get_vara_float, zlib, 1 core) instead: $NC_R10_W s wall, $NC_R10_C s CPU
- gen10 compress bound: $C10_DETAIL
- baltic1 compress bound: $CB_DETAIL
- insert memory against cube length: $(stats "$R/insert10" | cut -d' ' -f3) MB into 10 slices,
  $(stats "$R/insert30" | cut -d' ' -f3) MB into 30 slices (peak RSS)
- rerun bound is the read only (nothing needs compressing); chunk files unchanged by the reruns: $RERUN_SAME;
  last summary: \`$RERUN_SUMMARY\`
- runs (wall cpu rss_mb):
EOF
for p in gen10 baltic1 insert10 insert30 rerun; do
    echo "  - $p: $(paste -sd';' "$R/$p.times" | sed 's/;/; /g')"
done
