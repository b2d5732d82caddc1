#!/usr/bin/env bash
# Installs npm (pinned below) from its npm-registry tarball into PREFIX (default /usr/local:
# PREFIX/lib/node_modules/npm, with PREFIX/bin/npm and npx linked to it), for the S3 tests'
# one `npm install s3rver` (tests/scripts/s3rver.sh). Usage: scripts/install-npm.sh [PREFIX]
#
# Why not Debian's npm package: on a fresh bookworm it pulls 348 packages (335 of them node-*) of
# the ~700 install-deps.sh installs, ~1-2 min of dpkg on a fresh CI machine; npm's own tarball
# bundles its dependencies: one 2.7 MB download, checked against the registry's sha512 below,
# unpacked. It needs only `node` (Debian's nodejs, 18.x on bookworm; this npm asks for
# ^18.17.0 || >=20.5.0). Measured 2026-12-02: bench/results/2026-12-02-ci-time-3.md.
set -euo pipefail
prefix=${1:-/usr/local}
version=10.9.2
# dist.integrity of https://registry.npmjs.org/npm/10.9.2, base64 sha512
integrity=iriPEPIkoMYUy3F6f3wwSZAU93E0Eg6cHwIR6jzzOXWSy+SD/rOODEs74cVONHKSx2obXtuUoyidVEhISrisgQ==
url=https://registry.npmjs.org/npm/-/npm-$version.tgz

command -v node >/dev/null || { echo "install-npm.sh: error: node is not installed. Install nodejs first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -fsSL --retry 3 -o "$tmp/npm.tgz" "$url"
expected=$(printf '%s' "$integrity" | base64 -d | od -An -v -tx1 | tr -d ' \n')
actual=$(sha512sum "$tmp/npm.tgz" | cut -d' ' -f1)
if [ "$actual" != "$expected" ]; then
    echo "install-npm.sh: error: $url has sha512 $actual, expected $expected. Check the download (proxy, mirror) and retry" >&2
    exit 1
fi
dest=$prefix/lib/node_modules/npm
rm -rf "$dest.new"
mkdir -p "$dest.new" "$prefix/bin"
tar -xzf "$tmp/npm.tgz" -C "$dest.new" --strip-components=1 --no-same-owner
rm -rf "$dest"
mv "$dest.new" "$dest"
# node resolves a symlinked script to its real path, so npm-cli.js finds ../lib from there.
ln -sfn ../lib/node_modules/npm/bin/npm-cli.js "$prefix/bin/npm"
ln -sfn ../lib/node_modules/npm/bin/npx-cli.js "$prefix/bin/npx"
echo "install-npm.sh: npm $("$prefix/bin/npm" --version) in $dest"
