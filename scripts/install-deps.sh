#!/usr/bin/env bash
# Installs everything baims needs to build and test on Debian bookworm (run as root).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
    echo "install-deps.sh: run as root (it uses apt-get)" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
# CI (CI set, a throwaway machine): dpkg without its fsync after every file it unpacks
# (--force-unsafe-io); a fresh bookworm installs ~350 packages here (~700 with Debian's npm),
# and unpacking 60 small packages took 36 s with the fsyncs, 30 s without (measured 2026-12-02,
# bench/results/2026-12-02-ci-time-2.md). A machine that crashes mid-install is thrown away, not
# repaired; developers' machines keep dpkg's default.
apt_opts=()
if [ -n "${CI:-}" ]; then
    apt_opts=(-o Dpkg::Options::=--force-unsafe-io)
fi
# nodejs for the S3 tests (see npm below), unless a node is there already (NodeSource's, nvm's).
node_pkg=()
if ! command -v node >/dev/null; then
    node_pkg=(nodejs)
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${apt_opts[@]}" \
    build-essential cmake ninja-build pkg-config git ca-certificates \
    libgdal-dev gdal-bin libproj-dev libnetcdf-dev netcdf-bin libhdf5-dev hdf5-tools libdeflate-dev libblosc-dev \
    nlohmann-json3-dev libyaml-cpp-dev libpqxx-dev libcli11-dev libspdlog-dev catch2 \
    libcurl4-openssl-dev curl clang-format time locales strace \
    postgresql-15 postgresql-15-postgis-3 postgresql-15-postgis-3-scripts \
    python3 python3-numpy python3-zarr python3-xarray python3-netcdf4 python3-gdal \
    python3-dask python3-cftime python3-pyproj "${node_pkg[@]}"
# Node.js and npm for the S3 tests (ctest label s3): they run the npm package s3rver, which
# tests/scripts/s3rver.sh installs into ~/.cache/baims/s3rver on first use. Debian's nodejs (8
# packages, above); npm, only when missing, from its registry tarball (scripts/install-npm.sh: pinned,
# sha512-checked, into /usr/local), not Debian's npm package, which pulls 348 more packages (half
# of a fresh machine's install, ~1-2 min of dpkg; bench/results/2026-12-02-ci-time-3.md). A Node.js
# from another source (NodeSource's bundles npm) is left as it is.
if ! command -v npm >/dev/null; then
    "$(dirname "$0")/install-npm.sh" /usr/local
fi
# A German locale for the test that checks no decimal comma leaks into cubes or messages.
if ! locale -a 2>/dev/null | grep -qx 'de_DE.utf8'; then
    localedef -i de_DE -f UTF-8 de_DE.UTF-8
fi
