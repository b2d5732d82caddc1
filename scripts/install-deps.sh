#!/usr/bin/env bash
# Installs everything baims needs to build and test on Debian bookworm (run as root).
# Usage: scripts/install-deps.sh [all|build|test] (default all). `build` is what the build needs
# (compilers, cmake, the -dev packages, clang-format for the format check); `test` the rest, which
# only the tests need (PostgreSQL/PostGIS, Python with numpy/zarr/xarray, the GDAL/netCDF tools,
# Node.js and npm, strace, the German locale, chromium for the tiles viewer test, Clang 14 for
# scripts/clang-check.sh). CI (.ci/run)
# installs `test` in the background while the dev build compiles: on a fresh machine it was 91 of
# ~350 packages before chromium (+113 packages, 137 MB, 2026-12-03), dpkg working on one
# core beside the build's two (bench/results/2026-12-02-ci-time-3.md).
set -euo pipefail
part=${1:-all}
case "$part" in
    all | build | test) ;;
    *) echo "install-deps.sh: unknown part '$part' (all, build or test)" >&2; exit 2 ;;
esac
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
# liblz4-dev, libzstd-dev, zlib1g-dev: the static archives baims links with libblosc.a
# (cmake/BaimsStaticDeps.cmake); libgdal-dev brings them too
build_pkgs=(build-essential cmake ninja-build pkg-config git ca-certificates
    libgdal-dev libproj-dev libnetcdf-dev libhdf5-dev libdeflate-dev libblosc-dev
    liblz4-dev libzstd-dev zlib1g-dev nlohmann-json3-dev libyaml-cpp-dev libpqxx-dev libcli11-dev
    libspdlog-dev catch2
    libcurl4-openssl-dev clang-format)
test_pkgs=(gdal-bin netcdf-bin hdf5-tools curl time locales strace
    postgresql-15 postgresql-15-postgis-3 postgresql-15-postgis-3-scripts
    python3 python3-numpy python3-zarr python3-xarray python3-netcdf4 python3-gdal
    python3-dask python3-cftime python3-pyproj chromium
    clang-14)
# nodejs for the S3 tests (see npm below), unless a node is there already (NodeSource's, nvm's).
if ! command -v node >/dev/null; then
    test_pkgs+=(nodejs)
fi
pkgs=()
if [ "$part" != test ]; then pkgs+=("${build_pkgs[@]}"); fi
if [ "$part" != build ]; then pkgs+=("${test_pkgs[@]}"); fi
# BAIMS_APT_UPDATED=1: the package lists were just fetched (.ci/run's `test` after its `build`:
# the same lists, so the same versions of the packages both parts share).
if [ "${BAIMS_APT_UPDATED:-0}" != 1 ]; then
    apt-get update -qq
fi
apt-get install -y -qq --no-install-recommends "${apt_opts[@]}" "${pkgs[@]}"
if [ "$part" = build ]; then
    exit 0
fi
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
