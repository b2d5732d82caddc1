#!/usr/bin/env bash
# s3rver.sh CMD ARGS...: runs CMD against a throwaway S3 server (the npm package s3rver).
#
# The server listens on 127.0.0.1 at a port the kernel picks, keeps its objects in a `mktemp -d`
# directory and is stopped and removed on exit (also on failure and Ctrl-C; a server whose script
# was killed stops itself). CMD runs with GDAL's S3 settings for it exported (AWS_S3_ENDPOINT,
# AWS_HTTPS=NO, AWS_VIRTUAL_HOSTING=FALSE, s3rver's fixed test credentials) and
#   BAIMS_TEST_S3_BUCKET   the empty bucket
#   BAIMS_TEST_S3_DATA     the server's folder (objects of bucket B key K are B/K._S3rver_object)
# The exit code is CMD's.
#
# s3rver is installed with npm (version pinned below) into $BAIMS_S3RVER_DIR (default
# ~/.cache/baims/s3rver) on first use. If Node.js/npm or the package cannot be had: with CI set
# (CI runs) this is an error (exit 1); otherwise the script prints "BAIMS-SKIP: ..." and exits 0,
# which ctest shows as "Skipped" (a developer without network). scripts/install-deps.sh installs
# nodejs and npm.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
VERSION=3.7.1
MOD=${BAIMS_S3RVER_DIR:-${HOME:-/tmp}/.cache/baims/s3rver}

unavailable() {
    if [[ -n "${CI:-}" ]]; then
        echo "s3rver.sh: error: $1. CI needs the S3 tests: install nodejs and npm (scripts/install-deps.sh) and reach the npm registry" >&2
        exit 1
    fi
    echo "BAIMS-SKIP: s3rver.sh: $1; the S3 tests are skipped (CI runs them)" >&2
    exit 0
}

command -v node >/dev/null || unavailable "node (Node.js) is not installed"
mkdir -p "$MOD"
if [[ ! -f "$MOD/node_modules/s3rver/package.json" ]]; then
    command -v npm >/dev/null || unavailable "npm is not installed"
    # One install at a time: ctest runs several S3 tests at once.
    (
        flock 9
        if [[ ! -f "$MOD/node_modules/s3rver/package.json" ]]; then
            npm install --prefix "$MOD" --no-audit --no-fund --no-save "s3rver@$VERSION" \
                >"$MOD/npm.log" 2>&1 || exit 1
        fi
    ) 9>"$MOD/.install.lock" || unavailable "cannot install s3rver@$VERSION with npm (see $MOD/npm.log)"
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/baims-s3.XXXXXX")
SERVER=
cleanup() {
    if [[ -n "$SERVER" ]]; then
        kill "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

node "$HERE/s3rver_run.js" "$MOD" "$DIR/data" bucket $$ >"$DIR/port" 2>"$DIR/log" &
SERVER=$!
PORT=
for _ in $(seq 1 300); do
    if read -r word PORT 2>/dev/null <"$DIR/port" && [[ "$word" == port && -n "$PORT" ]]; then
        break
    fi
    PORT=
    if ! kill -0 "$SERVER" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
if [[ -z "$PORT" ]]; then
    echo "s3rver.sh: error: s3rver did not start:" >&2
    cat "$DIR/log" >&2
    exit 1
fi

export AWS_S3_ENDPOINT=127.0.0.1:$PORT AWS_HTTPS=NO AWS_VIRTUAL_HOSTING=FALSE AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER # s3rver's fixed test account
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null # no ~/.aws of the user
export BAIMS_TEST_S3_BUCKET=bucket BAIMS_TEST_S3_DATA=$DIR/data
"$@"
