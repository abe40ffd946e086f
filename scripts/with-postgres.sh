#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server on 127.0.0.1 and ATLAS_TEST_POSTGRES_URL pointing at it:
#   scripts/with-postgres.sh .venv/bin/python -m pytest
# Installs Debian's postgresql package when it is missing (needs root). PostgreSQL refuses to run as root, so
# the cluster runs as the `postgres` user in a temporary folder, and is stopped and removed on exit.
set -euo pipefail

if ! command -v pg_config >/dev/null 2>&1 || [ ! -x "$(pg_config --bindir)/initdb" ]; then
    echo "with-postgres: installing postgresql" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq postgresql >/dev/null
fi
bindir=$(pg_config --bindir)
port=${ATLAS_PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
dir=$(mktemp -d /tmp/atlas-pg.XXXXXX)
chown postgres "$dir"

stop() {
    runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT

runuser -u postgres -- "$bindir/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-k $dir -h 127.0.0.1 -p $port -c fsync=off -c full_page_writes=off" start >/dev/null
echo "with-postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2

export ATLAS_TEST_POSTGRES_URL="postgresql+asyncpg://postgres@127.0.0.1:$port/postgres"
"$@"
