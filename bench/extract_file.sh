#!/usr/bin/env bash
# Benchmark of `baims extract` (file mode, the same zonal code path as the database mode) on the
# full-size synthetic Sentinel-2 L2A tile of ../shared/tools/make_s2_synthetic.py (10980² at 10 m,
# 5490² at 20 m, lossless JP2 with 1024/640 tiles, 100 000 parcels), against the time GDAL alone
# needs to decode the same blocks on the same number of threads.
#
# Usage: bench/extract_file.sh OUT [THREADS]
#   OUT: the folder make_s2_synthetic.py wrote (--root OUT/eodata --work OUT/work).
# Prints one line per pass: wall and CPU seconds, peak RSS (MB), decode-only wall and CPU seconds,
# the wall ratio and a checksum of the sorted output rows (to compare two binaries).
# GDAL_NUM_THREADS: unset, baims gives each worker thread a one-thread decoder; the decode-only
# reference then runs with GDAL_NUM_THREADS=1 too (DECODE_GDAL_THREADS overrides).
set -euo pipefail
out=$(realpath "$1")
threads=${2:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
baims=${BAIMS_BINARY:-$here/build/apps/baims}
img=$(find "$out/eodata" -type d -name IMG_DATA | head -1)
parcels=$out/work/parcels.geojson
export GDAL_PAM_ENABLED=NO
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run_pass() { # name, --hist flag or "", files...
    local name=$1 flag=$2
    shift 2
    local rasters=()
    for f in "$@"; do rasters+=(--raster "$f"); done
    /usr/bin/time -f "%e %M %U %S" -o "$tmp/time" "$baims" --threads "$threads" --progress never -q \
        extract "${rasters[@]}" --parcels "$parcels" $flag --zero-is-nodata -o "$tmp/$name.csv"
    read -r wall rss user sys <"$tmp/time"
    # decode-only: the blocks of the parcels' bounding box, on the same number of threads
    read -r dec dec_cpu < <(GDAL_NUM_THREADS=${DECODE_GDAL_THREADS:-${GDAL_NUM_THREADS:-1}} \
        /usr/bin/python3 "$here/bench/extract_decode.py" "$parcels" "$threads" "$@")
    printf '%-5s wall %6.2f s  CPU %6.2f s  peak %5d MB  decode-only %6.2f s CPU %6.2f s  ratio %.2f  rows %d  sha %s\n' \
        "$name" "$wall" "$(echo "$user + $sys" | bc -l)" $((rss / 1024)) "$dec" "$dec_cpu" \
        "$(echo "$wall / $dec" | bc -l)" $(($(wc -l <"$tmp/$name.csv") - 1)) \
        "$(sort "$tmp/$name.csv" | sha256sum | cut -c1-16)"
}

run_pass scl --hist "$img"/R20m/*_SCL_20m.jp2
run_pass 10 "" "$img"/R10m/*_B0{2,3,4,8}_10m.jp2
run_pass 20 "" "$img"/R20m/*_B05_20m.jp2 "$img"/R20m/*_B11_20m.jp2
