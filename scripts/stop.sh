#!/bin/bash
# Stops what scripts/run.sh started under ./.pathstats/ (nginx, the
# aggregator, Redis, PostgreSQL).  Keeps the zone file and the data.
# Safe to run when nothing is running.
set -uo pipefail

cd "$(dirname "$0")/.."
state="$PWD/.pathstats"
quiet=no
[ "${1:-}" = --quiet ] && quiet=yes

say() { [ "$quiet" = yes ] || printf 'pathstats: %s\n' "$*"; }

# stop_pid NAME PIDFILE SIGNAL: signal the pid in PIDFILE, wait up to 20 s
stop_pid() {
    local name=$1 file=$2 sig=$3 pid
    [ -f "$file" ] || return 0
    pid=$(head -1 "$file" | tr -dc 0-9)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "-$sig" "$pid" 2>/dev/null
        for _ in $(seq 200); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "$name ($pid) did not stop; killing it"
            kill -KILL "$pid" 2>/dev/null
        fi
        say "$name stopped"
    fi
    rm -f "$file"
}

stop_pid aggregator "$state/aggregator.pid" TERM
stop_pid nginx "$state/nginx.pid" QUIT
stop_pid redis "$state/redis.pid" TERM
# postmaster.pid's first line is the postmaster; SIGINT is a fast shutdown
if [ -f "$state/pg/data/postmaster.pid" ]; then
    pid=$(head -1 "$state/pg/data/postmaster.pid" | tr -dc 0-9)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -INT "$pid"
        for _ in $(seq 300); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        say "postgresql stopped"
    fi
fi
exit 0
