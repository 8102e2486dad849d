#!/usr/bin/env bash
# A streaming replica of this machine's PostgreSQL 15 and a pgbouncer in front of it, for the
# replica and pgbouncer tests (tests/scale/, .ci/run) or to try them by hand. Both are throwaway:
# everything lives in one temporary directory, owned by the postgres OS user, removed by `stop`.
#
#   tools/pg_cluster.sh start DIR   # replica on $REPLICA_PORT (5433), pgbouncer on $PGBOUNCER_PORT (6433)
#                                   # of the primary on $PRIMARY_PORT (5432; a throwaway one for a bench)
#   tools/pg_cluster.sh stop DIR    # stop both, remove DIR
#   tools/pg_cluster.sh failover-drill DIR   # promote a replica, repoint pgbouncer, time each step
#
# The failover drill never touches this machine's primary (it serves everyone): it makes a
# throwaway primary on $DRILL_PRIMARY_PORT (5434) with its own streaming replica on
# $DRILL_REPLICA_PORT (5435) and a pgbouncer on $DRILL_PGBOUNCER_PORT (6434), migrates an app
# database there, writes and reads through pgbouncer as the app, kills the primary, promotes the
# replica (pg_ctl promote), points pgbouncer at it (RELOAD) and shows the app writing and reading
# again, nothing written before lost. It prints each step's time and removes everything on exit
# (`stop DIR` also cleans up after an interrupted drill). docs/deploy.md ("Several hosts") has a run.
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
    for cluster in replica primary standby; do  # primary and standby: the failover drill's
        if [[ -f $dir/$cluster/postmaster.pid ]]; then
            as_postgres "$PGBIN/pg_ctl" -D "$dir/$cluster" -m immediate -w stop >/dev/null 2>&1 || true
        fi
    done
    rm -rf "$dir"
}

# --- failover drill ------------------------------------------------------------------------------

DRILL_PRIMARY_PORT=${DRILL_PRIMARY_PORT:-5434}
DRILL_REPLICA_PORT=${DRILL_REPLICA_PORT:-5435}
DRILL_PGBOUNCER_PORT=${DRILL_PGBOUNCER_PORT:-6434}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

clock() { date +%s.%N; }
took() { awk -v label="$1" -v now="$(clock)" -v since="$2" 'BEGIN { printf "%-60s %7.2f s\n", label, now - since }'; }

start_cluster() {  # $1: data directory, $2: port, $3: log
    as_postgres "$PGBIN/pg_ctl" -D "$1" -l "$3" -w -t 60 start -o \
        "-p $2 -c listen_addresses=127.0.0.1 -c unix_socket_directories=$(dirname "$1") -c ssl=off" >/dev/null
}

# The app as a web process runs it: through pgbouncer (PGBOUNCER=1), one write, then a read.
app_write_read() {  # $1: the username to create
    DATABASE_URL=postgres://postgres@127.0.0.1:$DRILL_PGBOUNCER_PORT/ft_drill PGBOUNCER=1 \
        "$ROOT/.venv/bin/python" "$ROOT/manage.py" shell -v 0 -c "
from fieldteam.models import User
User.objects.create_user(username='$1')
names = User.objects.filter(username__regex='^drill-[0-9]').order_by('username').values_list('username', flat=True)
print('   the app wrote $1 and reads:', ', '.join(names))
"
}

drill_bouncer_ini() {  # $1: directory, $2: the port of the server it sends to
    printf '%s\n' "[databases]" "* = host=127.0.0.1 port=$2 user=postgres" "[pgbouncer]" \
        "listen_addr = 127.0.0.1" "listen_port = $DRILL_PGBOUNCER_PORT" "unix_socket_dir = $1" \
        "auth_type = any" "admin_users = postgres" "pool_mode = transaction" "default_pool_size = 20" \
        "server_login_retry = 1" \
        "ignore_startup_parameters = extra_float_digits,options" \
        "logfile = $1/pgbouncer.log" "pidfile = $1/pgbouncer.pid" >"$1/pgbouncer.ini"
    chown postgres: "$1/pgbouncer.ini"
}

# An app process writing all along (a Django process through pgbouncer, as a worker is): a row a
# tenth of a second, each write its own transaction; a failed write closes the connection and is
# tried again. It stops when $1/stop exists, then says how long its writes failed and whether every
# write it saw succeed is in the table.
app_writer() {  # $1: directory
    DATABASE_URL=postgres://postgres@127.0.0.1:$DRILL_PGBOUNCER_PORT/ft_drill PGBOUNCER=1 \
        "$ROOT/.venv/bin/python" "$ROOT/manage.py" shell -v 0 -c "
import os, time
from django.db import DatabaseError, connection
from fieldteam.models import User
done, failed, first_failure, last_failure, n, longest = [], 0, None, None, 0, 0.0
while not os.path.exists('$1/stop'):
    n += 1
    started = time.monotonic()
    try:
        User.objects.create_user(username=f'drill-w{n:05d}')
        done.append(n)
        longest = max(longest, time.monotonic() - started)
    except DatabaseError:
        failed += 1
        first_failure = first_failure or time.monotonic()
        last_failure = time.monotonic()
        connection.close()
    time.sleep(0.1)
kept = User.objects.filter(username__startswith='drill-w').count()
window = (last_failure - first_failure + 0.1) if first_failure else 0.0
print(f'   app writer: {len(done)} writes succeeded (the slowest took {longest:.2f} s: held by pgbouncer),'
      f' {failed} failed over {window:.2f} s; {kept} rows in the table')
" >"$1/writer.out" 2>&1
}

failover_drill() {
    local dir=$1 t t0 lsn
    mkdir -p "$dir"
    chown postgres: "$dir"
    trap "stop '$dir'" EXIT
    local primary=(psql -h 127.0.0.1 -p "$DRILL_PRIMARY_PORT" -U postgres -Atq -d postgres)
    local standby=(psql -h 127.0.0.1 -p "$DRILL_REPLICA_PORT" -U postgres -Atq -d postgres)
    local bouncer=(psql -h 127.0.0.1 -p "$DRILL_PGBOUNCER_PORT" -U postgres -Atq)
    echo "set-up (not timed): primary :$DRILL_PRIMARY_PORT, replica :$DRILL_REPLICA_PORT, pgbouncer :$DRILL_PGBOUNCER_PORT"
    as_postgres "$PGBIN/initdb" -D "$dir/primary" -U postgres -A trust --no-sync >/dev/null
    echo "host replication all 127.0.0.1/32 trust" >>"$dir/primary/pg_hba.conf"
    start_cluster "$dir/primary" "$DRILL_PRIMARY_PORT" "$dir/primary.log"
    as_postgres "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$DRILL_PRIMARY_PORT" -U postgres -D "$dir/standby" \
        -X stream -R -c fast
    start_cluster "$dir/standby" "$DRILL_REPLICA_PORT" "$dir/standby.log"
    drill_bouncer_ini "$dir" "$DRILL_PRIMARY_PORT"
    as_postgres pgbouncer -d "$dir/pgbouncer.ini"
    "${primary[@]}" -c 'CREATE DATABASE ft_drill'
    DATABASE_URL=postgres://postgres@127.0.0.1:$DRILL_PRIMARY_PORT/ft_drill "$ROOT/.venv/bin/python" \
        "$ROOT/manage.py" migrate -v 0

    echo "the drill:"
    app_writer "$dir" &
    local writer=$!
    t=$(clock)
    app_write_read drill-1-before
    took "1. the app writes and reads through pgbouncer (primary)" "$t"
    t=$(clock)
    lsn=$("${primary[@]}" -c 'SELECT pg_current_wal_lsn()')
    until [[ $("${standby[@]}" -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'") == t ]]; do sleep 0.05; done
    took "2. the replica has replayed it" "$t"
    t0=$(clock)
    t=$t0
    as_postgres "$PGBIN/pg_ctl" -D "$dir/primary" -m immediate -w stop >/dev/null
    took "3. the primary is killed (pg_ctl stop -m immediate)" "$t"
    t=$(clock)
    as_postgres "$PGBIN/pg_ctl" -D "$dir/standby" -w -t 60 promote >/dev/null
    [[ $("${standby[@]}" -c 'SELECT pg_is_in_recovery()') == f ]]
    took "4. the replica is promoted (pg_ctl promote) and writable" "$t"
    t=$(clock)
    drill_bouncer_ini "$dir" "$DRILL_REPLICA_PORT"
    "${bouncer[@]}" -d pgbouncer -c RELOAD >/dev/null
    until "${bouncer[@]}" -d ft_drill -c 'SELECT NOT pg_is_in_recovery()' 2>/dev/null | grep -q t; do sleep 0.05; done
    took "5. pgbouncer sends to it (RELOAD) and serves a query" "$t"
    took "   no primary to write to, steps 3-5" "$t0"
    t=$(clock)
    app_write_read drill-2-after
    took "6. the app writes and reads again, the earlier write kept" "$t"
    touch "$dir/stop"
    wait "$writer" || true
    cat "$dir/writer.out"
    echo "the promoted server has $("${standby[@]}" -c 'SELECT count(*) FROM pg_stat_replication') replicas:" \
        "make a new one from it (pg_basebackup), or pg_rewind the old primary and follow it"
}

case ${1:-} in
    start) start "${2:?directory}" ;;
    stop) stop "${2:?directory}" ;;
    failover-drill) failover_drill "${2:?directory}" ;;
    *) echo "usage: $0 start|stop|failover-drill DIR" >&2; exit 2 ;;
esac
