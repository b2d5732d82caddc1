#!/usr/bin/env bash
# Installs everything baims needs to build and test on Debian bookworm (run as root).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
    echo "install-deps.sh: run as root (it uses apt-get)" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
# CI (CI set, a throwaway machine): dpkg without its fsync after every file it unpacks
# (--force-unsafe-io); a fresh bookworm installs ~700 packages here (npm alone ~350 small ones),
# and unpacking 60 small packages took 36 s with the fsyncs, 30 s without (measured 2026-12-02,
# bench/results/2026-12-02-ci-time-2.md). A machine that crashes mid-install is thrown away, not
# repaired; developers' machines keep dpkg's default.
apt_opts=()
if [ -n "${CI:-}" ]; then
    apt_opts=(-o Dpkg::Options::=--force-unsafe-io)
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${apt_opts[@]}" \
    build-essential cmake ninja-build pkg-config git ca-certificates \
    libgdal-dev gdal-bin libproj-dev libnetcdf-dev netcdf-bin libhdf5-dev hdf5-tools libdeflate-dev libblosc-dev \
    nlohmann-json3-dev libyaml-cpp-dev libpqxx-dev libcli11-dev libspdlog-dev catch2 \
    libcurl4-openssl-dev clang-format time locales strace \
    postgresql-15 postgresql-15-postgis-3 postgresql-15-postgis-3-scripts \
    python3 python3-numpy python3-zarr python3-xarray python3-netcdf4 python3-gdal \
    python3-dask python3-cftime python3-pyproj
# Node.js and npm for the S3 tests (ctest label s3): they run the npm package s3rver, which
# tests/scripts/s3rver.sh installs into ~/.cache/baims/s3rver on first use. Only when missing: a
# Node.js from another source (NodeSource's bundles npm) conflicts with Debian's npm package.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt-get install -y -qq --no-install-recommends "${apt_opts[@]}" nodejs npm
fi
# A German locale for the test that checks no decimal comma leaks into cubes or messages.
if ! locale -a 2>/dev/null | grep -qx 'de_DE.utf8'; then
    localedef -i de_DE -f UTF-8 de_DE.UTF-8
fi
