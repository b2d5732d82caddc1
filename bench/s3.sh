#!/usr/bin/env bash
# bench/s3.sh [BAIMS_BINARY]: the cube commands on a local disk and on S3 (issue 11).
#
# The 10-slice cube of bench/run.sh (gen10: daily 2000x2000 inputs from bench/make_inputs.py ->
# 4400x2600 cube over [9, 53, 31, 66], chunks 512^2, lz4, ~68 % NaN) is made once on the local
# disk and once on a throwaway s3rver on loopback (tests/scripts/s3rver.sh, which this script
# starts itself); then on each: append one day, insert one at t=0 (every slice shifts), prune, optimise --in-place with
# --chunks lat=1024,lon=1024 (a rechunk of every chunk) and optimise -o to a copy. Each step
# runs once, in order, on the result of the previous one (REPS rounds, default 1, each on new
# cubes; the table shows the last round): wall and CPU time (user + sys, of baims only: s3rver's own CPU is not counted) from /usr/bin/time.
#
# s3rver is a JavaScript server that keeps each object in a file: it answers a request in tens of
# milliseconds where a real store's latency decides, and it shares the machine's cores with
# baims. The S3 column shows the protocol's request count and s3rver's speed, not a real store's.
#
# Binary: the argument, else $BAIMS_BINARY, else build/apps/baims. Environment: REPS, KEEP=1,
# TMPDIR, THREADS (--threads, default 2), REQUESTS=1: the S3 steps run with CPL_CURL_VERBOSE=YES
# and a second table counts the HTTP requests of each step by method (from curl's request lines;
# COPY: the PUTs that are server-side copies, with an x-amz-copy-source header;
# the verbose log holds request headers, so it stays in the work directory, removed at the end;
# the verbose output makes those steps slower).
#
#   nice bench/s3.sh build/apps/baims
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PY=/usr/bin/python3
BAIMS=${1:-${BAIMS_BINARY:-$ROOT/build/apps/baims}}
BAIMS=$(realpath "$BAIMS")
[[ -x "$BAIMS" ]] || { echo "bench/s3.sh: $BAIMS is not executable" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "bench/s3.sh: /usr/bin/time is needed" >&2; exit 2; }

# Run under a throwaway s3rver (which exports AWS_* and BAIMS_TEST_S3_BUCKET).
if [[ -z "${BAIMS_TEST_S3_BUCKET:-}" ]]; then
    exec "$ROOT/tests/scripts/s3rver.sh" "$0" "$BAIMS"
fi

REPS=${REPS:-1}
THREADS=${THREADS:-2}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/baims-bench-s3.XXXXXX")
if [[ "${KEEP:-}" == 1 ]]; then echo "bench/s3.sh: work directory $WORK (kept)" >&2; else trap 'rm -rf "$WORK"' EXIT; fi
log() { echo "bench/s3.sh: $*" >&2; }
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

log "generating inputs in $WORK"
mkdir -p "$WORK/in10" "$WORK/in1" "$WORK/ins"
$PY "$HERE/make_inputs.py" "$WORK/in10" --count 10 --start 2023-06-02 >/dev/null
$PY "$HERE/make_inputs.py" "$WORK/in1" --count 1 --start 2023-06-12 --seed-offset 9 >/dev/null
$PY "$HERE/make_inputs.py" "$WORK/ins" --count 1 --start 2023-06-01 --seed-offset 9 >/dev/null
cp "$HERE/gen10.yml" "$WORK/gen10.yml"

declare -A WALL CPU REQ
# timed KEY CMD...: runs CMD once and records its wall and CPU seconds (of the last round).
timed() {
    local key=$1
    shift
    /usr/bin/time -f "%e %U %S" -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err" || {
        log "failed: $*"
        cat "$WORK/err" >&2
        exit 1
    }
    if [[ "${REQUESTS:-}" == 1 && $key == s3:* ]]; then
        REQ[$key]=$(for m in GET HEAD PUT POST DELETE; do
            printf '%s %s ' "$m" "$(grep -cE "^> $m " "$WORK/err" || true)"
        done; printf 'COPY %s' "$(grep -ciE "^x-amz-copy-source:" "$WORK/err" || true)")
    fi
    read -r wall user sys <"$WORK/time"
    WALL[$key]=$wall
    CPU[$key]=$(printf '%.2f' "$(echo "$user + $sys" | bc)")
    log "$key: ${wall} s wall, ${CPU[$key]} s CPU ($(tail -1 "$WORK/err" | cut -c1-100))"
}

run_case() { # WHERE CUBE COPY
    local w=$1 cube=$2 copy=$3
    timed "$w:gen10" "$BAIMS" --quiet --threads "$THREADS" gen -c "$WORK/gen10.yml" -o "$cube" \
        "$WORK"/in10/*.nc
    timed "$w:append1" "$BAIMS" --quiet --threads "$THREADS" gen -c "$WORK/gen10.yml" -o "$cube" \
        "$WORK"/in1/*.nc
    timed "$w:insert0" "$BAIMS" --quiet --threads "$THREADS" gen -c "$WORK/gen10.yml" -o "$cube" \
        "$WORK"/ins/*.nc
    timed "$w:prune" "$BAIMS" --threads "$THREADS" prune "$cube"
    timed "$w:optimise-in-place" "$BAIMS" --threads "$THREADS" optimise "$cube" --in-place \
        --chunks lat=1024,lon=1024
    timed "$w:optimise-copy" "$BAIMS" --threads "$THREADS" optimise "$cube" -o "$copy"
}

for rep in $(seq 1 "$REPS"); do
    rm -rf "$WORK/local.zarr" "$WORK/copy.zarr"
    run_case local "$WORK/local.zarr" "$WORK/copy.zarr"
    if [[ "${REQUESTS:-}" == 1 ]]; then export CPL_CURL_VERBOSE=YES; fi
    run_case s3 "/vsis3/$BAIMS_TEST_S3_BUCKET/bench$rep/cube.zarr" \
        "/vsis3/$BAIMS_TEST_S3_BUCKET/bench$rep/copy.zarr"
    unset CPL_CURL_VERBOSE
done
OBJECTS=$(find "$BAIMS_TEST_S3_DATA/$BAIMS_TEST_S3_BUCKET/bench$REPS/cube.zarr" -name '*._S3rver_object' | wc -l)
MB=$(du -sm "$WORK/local.zarr" | cut -f1)

echo "| step | local wall | local CPU | s3rver wall | s3rver CPU (baims) |"
echo "|---|---:|---:|---:|---:|"
for step in gen10 append1 insert0 prune optimise-in-place optimise-copy; do
    echo "| $step | ${WALL[local:$step]} s | ${CPU[local:$step]} s | ${WALL[s3:$step]} s | ${CPU[s3:$step]} s |"
done
if [[ "${REQUESTS:-}" == 1 ]]; then
    echo
    echo "| step (s3rver) | GET | HEAD | PUT | of which COPY | POST | DELETE | wall |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for step in gen10 append1 insert0 prune optimise-in-place optimise-copy; do
        read -r _ get _ head _ put _ post _ del _ copy <<<"${REQ[s3:$step]}"
        echo "| $step | $get | $head | $put | $copy | $post | $del | ${WALL[s3:$step]} s |"
    done
fi
echo
echo "cube after the steps: $OBJECTS objects on S3, $MB MB on disk; --threads $THREADS"
echo "load average before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
