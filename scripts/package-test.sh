#!/usr/bin/env bash
# Builds the Debian package from the dev build (cpack), installs it with apt, and runs the demo
# with the installed /usr/bin/baims: the cube is read back with GDAL and xarray. Checks the man
# pages and bash completion are installed; removes the package again. Run as root (CI does, after
# scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "package-test.sh: error: must run as root (it installs the package). Use sudo" >&2
    exit 2
fi
export GDAL_PAM_ENABLED=NO
scripts/build.sh dev
rm -rf build/package
(cd build && cpack -G DEB -B "$PWD/package" >/dev/null)
deb=$(ls "$PWD"/build/package/baims_*.deb)
echo "== package: $deb"
dpkg-deb --field "$deb" Package Version Depends
# baims dlopen()s libgdal, libproj, libnetcdf, libhdf5 and libcurl on first use (BAIMS_LAZY_GDAL):
# dpkg-shlibdeps cannot see them, the package names them itself (cmake/BaimsPackaging.cmake)
for lib in libgdal libproj libnetcdf libhdf5- libcurl; do
    dpkg-deb --field "$deb" Depends | grep -q "\b$lib[0-9]" ||
        { echo "package-test.sh: error: the package does not depend on $lib" >&2; exit 1; }
done
tmp=$(mktemp -d)
cleanup() {
    apt-get remove -y -qq baims >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
apt-get install -y -qq "$deb" >/dev/null
test "$(command -v baims)" = /usr/bin/baims
baims --version
for page in baims baims-gen baims-extract baims-tiles; do
    test -s "/usr/share/man/man1/$page.1.gz" || { echo "missing man page $page" >&2; exit 1; }
done
test -s /usr/share/bash-completion/completions/baims
test -s /usr/share/doc/baims/examples/schedule/baims-gen.timer
echo "== demo with the installed baims"
n=$(ls tests/data/ostia/*.nc | wc -l)
baims --progress never gen -c configs/gen-ostia.yml -o "$tmp/ostia.zarr" tests/data/ostia/*.nc
gdalinfo "ZARR:\"$tmp/ostia.zarr\":/analysed_sst:0" | grep -q "^Size is"
/usr/bin/python3 - "$tmp/ostia.zarr" "$n" <<'PY'
import sys
import numpy as np
import xarray as xr
ds = xr.open_zarr(sys.argv[1])
assert ds.time.size == int(sys.argv[2]), (ds.time.size, sys.argv[2])
assert np.isfinite(ds.analysed_sst.values).any()
print(f"installed baims: cube with {ds.time.size} time steps, variables {sorted(ds.data_vars)}")
PY
echo "== package test passed"
