#!/usr/bin/env bash
# pg_tmp.sh CMD ARGS...: run CMD against a throwaway PostgreSQL 15 + PostGIS 3 server.
#
# The server lives in a `mktemp -d` directory, listens on 127.0.0.1 only, on a free port, and is
# stopped and removed on exit (also on failure and Ctrl-C). CMD runs with PGHOST, PGPORT, PGUSER,
# PGDATABASE exported (trust auth for that superuser on loopback) and BAIMS_TEST_PW_ROLE naming a
# second role that must authenticate with a password (scram-sha-256), for the wrong-password tests.
# The exit code is CMD's.
#
# initdb refuses to run as root: as root the data directory is owned by the `postgres` user and the
# server binaries run through `runuser -u postgres --`; otherwise they run as the current user.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
for b in initdb pg_ctl psql; do
    if [[ ! -x "$PGBIN/$b" ]]; then
        echo "pg_tmp.sh: $PGBIN/$b not found (install postgresql-15 and postgresql-15-postgis-3)" >&2
        exit 2
    fi
done

if [[ $(id -u) -eq 0 ]]; then
    AS=(runuser -u postgres --)
    DBUSER=postgres
else
    AS=()
    DBUSER=$(id -un)
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/baims-pg.XXXXXX")
chmod 0755 "$DIR"
if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$DIR"
fi
DATA="$DIR/data"
LOG="$DIR/server.log"

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -f "$DATA/postmaster.pid" ]]; then
        "${AS[@]}" "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free TCP port on loopback (the kernel picks it; a tiny race with other processes is accepted:
# pg_ctl fails loudly if the port was taken in between, and we retry a few times).
free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

"${AS[@]}" "$PGBIN/initdb" -D "$DATA" -U "$DBUSER" --auth-local=trust --auth-host=trust \
    -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 2; }

# Password auth for the password role first (pg_hba.conf is first match), trust for the rest.
PW_ROLE=baims_pw
{
    echo "host all $PW_ROLE 127.0.0.1/32 scram-sha-256"
    echo "host all all 127.0.0.1/32 trust"
    echo "local all all trust"
} >"$DIR/pg_hba.conf"
chmod 0644 "$DIR/pg_hba.conf"
cp "$DIR/pg_hba.conf" "$DATA/pg_hba.conf"
if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$DATA/pg_hba.conf"
fi

started=0
for attempt in 1 2 3 4 5; do
    PORT=$(free_port)
    if "${AS[@]}" "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50 -c password_encryption=scram-sha-256" \
        start >/dev/null 2>&1; then
        started=1
        break
    fi
    echo "pg_tmp.sh: start on port $PORT failed (attempt $attempt), retrying" >&2
done
if [[ $started -ne 1 ]]; then
    cat "$LOG" >&2 || true
    exit 2
fi

export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=$DBUSER PGDATABASE=baims_test
export BAIMS_TEST_PW_ROLE=$PW_ROLE
unset PGSERVICE PGPASSWORD PGPASSFILE || true

"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE baims_test" >/dev/null
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d baims_test >/dev/null <<SQL
CREATE EXTENSION postgis;
CREATE EXTENSION postgis_raster;
CREATE ROLE $PW_ROLE LOGIN PASSWORD 'pw-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')';
GRANT ALL ON DATABASE baims_test TO $PW_ROLE;
SQL

set +e
"$@"
rc=$?
set -e
exit "$rc"
