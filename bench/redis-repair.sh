#!/bin/bash
# Redis repair: how long the first write of one hour and its repair
# after a FLUSHALL keep Redis busy, each in one script (CHUNK=1000000,
# what the sink did before it chunked) and in chunks of the default
# size.  Runs
# bench/bench-redis_repair against a throwaway redis-server for each
# hour size (fields x clients) and chunk size, ROUNDS times each.
#
#   bench/redis-repair.sh                     # build dir: ./build
#   BUILD=/tmp/b-redis bench/redis-repair.sh
#
# Per round the bench prints the first write (the normal batch of a
# flush), the next write of the same keys (what every later flush of the
# hour does: each field read, summed and written back) and the repair: number of scripts, the longest one (SLOWLOG,
# 1 ms threshold), their sum (INFO commandstats), the flush's wall time,
# and the longest wait of a client PINGing Redis every millisecond
# meanwhile (what every other client of that Redis sees).
#
# Environment (defaults in brackets):
#   BUILD [repo/build]  REDIS_PORT [18590]  ROUNDS [3]
#   PING_GAP_US [1000] (between two PINGs; 0: back to back, as before
#   2026-12-07 23:20 UTC)
#   SIZES ["10000x1000 10000x16384 100000x16384"] (fields x clients)
#   CHUNKS ["1000000 default"] (fields per script; default: the sink's)
#   KEEP [0] (keep the temporary directory)
#
# Only loopback, only the redis-server this script starts.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$repo/build}
BUILD=$(cd "$BUILD" && pwd)
REDIS_PORT=${REDIS_PORT:-18590}
ROUNDS=${ROUNDS:-3}
SIZES=${SIZES:-"10000x1000 10000x16384 100000x16384"}
CHUNKS=${CHUNKS:-"1000000 default"}
KEEP=${KEEP:-0}

bench=$BUILD/bench/bench-redis_repair
[ -x "$bench" ] || { echo "missing $bench: build first" >&2; exit 1; }

work=$(mktemp -d /tmp/pathstats-redis-repair.XXXXXX)
redis_pid=
cleanup() {
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    [ "$KEEP" = 1 ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$work" --logfile "$work/redis.log" \
    --daemonize no &
redis_pid=$!
for _ in $(seq 50); do
    redis-cli -p "$REDIS_PORT" PING >/dev/null 2>&1 && break
    sleep 0.1
done
redis-cli -p "$REDIS_PORT" PING >/dev/null

echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')" \
     "on 127.0.0.1:$REDIS_PORT, $(nproc) cores"
for chunk in $CHUNKS; do
    for size in $SIZES; do
        fields=${size%x*}
        clients=${size#*x}
        echo "== chunk $chunk, $fields fields, $clients clients"
        if [ "$chunk" = default ]; then
            "$bench" "$REDIS_PORT" "$fields" "$clients" "$ROUNDS"
        else
            PATHSTATS_TEST_REDIS_REPAIR_CHUNK=$chunk \
                "$bench" "$REDIS_PORT" "$fields" "$clients" "$ROUNDS"
        fi
    done
done
