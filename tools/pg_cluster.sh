#!/usr/bin/env bash
# A streaming replica of this machine's PostgreSQL 15 and a pgbouncer in front of it, for the
# replica and pgbouncer tests (tests/scale/, .ci/run) or to try them by hand. Both are throwaway:
# everything lives in one temporary directory, owned by the postgres OS user, removed by `stop`.
#
#   tools/pg_cluster.sh start DIR   # replica on $REPLICA_PORT (5433), pgbouncer on $PGBOUNCER_PORT (6433)
#   tools/pg_cluster.sh stop DIR    # stop both, remove DIR
#
# The primary (127.0.0.1:5432, trust) must accept replication connections: if pg_hba.conf has no
# "replication" line for 127.0.0.1, one is added and the configuration reloaded (no restart).
# wal_level must be replica or logical and max_wal_senders > 0 (Debian's defaults).
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PRIMARY_PORT=${PRIMARY_PORT:-5432}
REPLICA_PORT=${REPLICA_PORT:-5433}
PGBOUNCER_PORT=${PGBOUNCER_PORT:-6433}
PSQL=(psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -Atq)

as_postgres() {
    if [[ $(id -un) == postgres ]]; then "$@"; else runuser -u postgres -- "$@"; fi
}

allow_replication() {
    local hba
    hba=$("${PSQL[@]}" -c 'show hba_file')
    if ! grep -Eq '^\s*host\s+replication\s+all\s+127\.0\.0\.1/32' "$hba"; then
        echo "host replication all 127.0.0.1/32 trust" >>"$hba"
        "${PSQL[@]}" -c 'select pg_reload_conf()' >/dev/null
        sleep 1
    fi
}

start() {
    local dir=$1
    mkdir -p "$dir"
    chown postgres: "$dir" 2>/dev/null || true
    allow_replication
    # The replica: a base backup of the primary, streaming from it (-R writes primary_conninfo).
    as_postgres "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$dir/replica" \
        -X stream -R -c fast
    # Debian keeps the configuration in /etc: the replica gets its own (the backup holds
    # postgresql.auto.conf, where -R wrote how to reach the primary, and standby.signal).
    printf '%s\n' "hot_standby = on" >"$dir/replica/postgresql.conf"
    printf '%s\n' "local all all trust" "host all all 127.0.0.1/32 trust" >"$dir/replica/pg_hba.conf"
    : >"$dir/replica/pg_ident.conf"
    chown postgres: "$dir/replica/postgresql.conf" "$dir/replica/pg_hba.conf" "$dir/replica/pg_ident.conf"
    as_postgres "$PGBIN/pg_ctl" -D "$dir/replica" -l "$dir/replica.log" -w -t 60 start -o \
        "-p $REPLICA_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c hot_standby=on \
-c config_file=$dir/replica/postgresql.conf -c hba_file=$dir/replica/pg_hba.conf -c ident_file=$dir/replica/pg_ident.conf \
-c max_standby_streaming_delay=-1 -c hot_standby_feedback=on -c ssl=off"
    # pgbouncer, transaction pooling, any database of the primary, no passwords (trust).
    cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$PRIMARY_PORT user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir = $dir
auth_type = any
admin_users = postgres
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
ignore_startup_parameters = extra_float_digits,options
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
    chown postgres: "$dir/pgbouncer.ini"
    as_postgres pgbouncer -d "$dir/pgbouncer.ini"
    for _ in $(seq 50); do
        psql -h 127.0.0.1 -p "$PGBOUNCER_PORT" -U postgres -Atqc 'select 1' postgres >/dev/null 2>&1 && break
        sleep 0.2
    done
    psql -h 127.0.0.1 -p "$REPLICA_PORT" -U postgres -Atqc 'select pg_is_in_recovery()' postgres | grep -q t
    psql -h 127.0.0.1 -p "$PGBOUNCER_PORT" -U postgres -Atqc 'select 1' postgres >/dev/null
    echo "replica: postgres://postgres@127.0.0.1:$REPLICA_PORT/  pgbouncer: postgres://postgres@127.0.0.1:$PGBOUNCER_PORT/"
}

stop() {
    local dir=$1
    [[ -d $dir ]] || return 0
    if [[ -f $dir/pgbouncer.pid ]]; then
        kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
    fi
    if [[ -f $dir/replica/postmaster.pid ]]; then
        as_postgres "$PGBIN/pg_ctl" -D "$dir/replica" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

case ${1:-} in
    start) start "${2:?directory}" ;;
    stop) stop "${2:?directory}" ;;
    *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
