#!/usr/bin/env bash
# tsan_gen.sh BAIMS: runs a ThreadSanitizer build of baims through the multi-threaded paths of gen
# (create, insert, replace of a slice, no-op rerun) and of tiles (the pyramid with `first` on a
# float cube, which picks every level per decoded chunk on the pool, and `mean`; --update after the
# insert and after the replace; --png) on the bundled OSTIA files with 4 threads.
# Any data race report fails the run (TSAN halt_on_error, exit code 66).
set -euo pipefail
BAIMS=${1:?usage: tsan_gen.sh path/to/tsan/baims}
cd "$(dirname "$0")/../.."
export GDAL_PAM_ENABLED=NO
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"
W=$(mktemp -d "${TMPDIR:-/tmp}/baims-tsan.XXXXXX")
trap 'rm -rf "$W"' EXIT
D=tests/data/ostia
f5=$(ls $D/20170605*.nc) f6=$(ls $D/20170606*.nc) f7=$(ls $D/20170607*.nc)
cat > "$W/c.yml" <<YML
output_path: $W/c.zarr
output_region: [-10, 45, 30, 66]
output_resolution: 0.05
output_variables: [analysed_sst, sst_anomaly]
output_writer_params: {chunksizes: {lat: 128, lon: 128}}
YML
run() { "$BAIMS" --progress never --threads 4 "$@"; }
run gen -c "$W/c.yml" "$f5" "$f7"                       # create, 2 slices
# 800 x 420 pixels, 128^2 chunks; 96-pixel tiles: 4 levels whose chunk rows do not line up with
# the cube's (first's ring of more than one output chunk row)
run tiles "$W/c.zarr" -o "$W/f.levels" --tile-size 96 --agg-methods first
run tiles "$W/c.zarr" -o "$W/m.levels" --agg-methods mean --png "$W/png"
run gen -c "$W/c.yml" "$f6"                             # insert in the middle (journal)
run tiles "$W/c.zarr" -o "$W/f.levels" --tile-size 96 --agg-methods first --update
cp "$f6" "$W/day6.nc"
/usr/bin/python3 - "$W/day6.nc" <<'PY'
import sys, netCDF4
with netCDF4.Dataset(sys.argv[1], "a") as ds:
    v = ds["analysed_sst"]
    v[:] = v[:] + 1.0
PY
run gen -c "$W/c.yml" "$W/day6.nc"                      # replace that slice
run tiles "$W/c.zarr" -o "$W/f.levels" --tile-size 96 --agg-methods first --update
run gen -c "$W/c.yml" "$f5" "$W/day6.nc" "$f7"          # no-op rerun
/usr/bin/python3 - "$W/c.zarr" "$W/f.levels" <<'PY'
import sys, numpy as np, xarray as xr
ds = xr.open_zarr(sys.argv[1])
assert ds.time.size == 3, ds.time.size
# the updated pyramid's level 1 is level 0's first (top-left) child of each 2x2 block
l1 = xr.open_zarr(sys.argv[2] + "/1.zarr")
a = ds.analysed_sst.values[:, ::2, ::2]
b = l1.analysed_sst.values
assert a.shape == b.shape, (a.shape, b.shape)
assert np.array_equal(np.isnan(a), np.isnan(b)) and np.allclose(a, b, equal_nan=True), "level 1"
PY
echo "tsan_gen: create, insert, replace, rerun and the pyramids ran without a data race report"
