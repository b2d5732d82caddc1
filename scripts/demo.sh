#!/usr/bin/env bash
# The quick start: install dependencies (as root), build, and generate a cube from the real
# OSTIA sample files bundled in tests/data/ostia. The cube lands in demo/ostia.zarr.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
    scripts/install-deps.sh
fi
scripts/build.sh dev
mkdir -p demo
build/apps/baims gen -c configs/gen-ostia.yml tests/data/ostia/*.nc
/usr/bin/python3 - <<'PY'
import xarray as xr
ds = xr.open_zarr("demo/ostia.zarr")
print(ds)
PY
