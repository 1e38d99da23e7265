#!/bin/bash
# Instructions per record of the aggregator's drain path, from callgrind:
# robust on a shared machine where CPU times are not.  Preloads RINGS x
# CAPACITY records over PATHS keys (bench-ring-producer), runs the daemon
# (no sinks) under callgrind until they are consumed, then prints the
# inclusive instructions per record of pipeline_record (decode, key
# limit, sinks, the observers: windows and the lifetime counters) and of
# the observers alone, and per call of ps_snapshot_build and
# ps_render_metrics.
#
#   bench/record-cost.sh                      # build dir: ./build
#   BUILD=/tmp/b PATHS=10000 bench/record-cost.sh
#   PATHS=100000 CAPACITY=262144 SETTLED=10 bench/record-cost.sh
#
# SETTLED=N counts only the N seconds after the rings are consumed (the
# counts are zeroed then): the snapshot builds of a settled aggregator
# that holds PATHS keys, every key seen before, none new.
#
# Environment: BUILD [repo/build], PATHS [200], RINGS [2],
# CAPACITY [65536], SETTLED [0], KEEP [0].  Only throwaway files under
# /dev/shm.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${BUILD:-$repo/build}" && pwd)
PATHS=${PATHS:-200}
RINGS=${RINGS:-2}
CAPACITY=${CAPACITY:-65536}
KEEP=${KEEP:-0}
SETTLED=${SETTLED:-0}

agg=$BUILD/pathstats-aggregator
prod=$BUILD/bench/bench-ring-producer
command -v valgrind >/dev/null || { echo "valgrind missing" >&2; exit 1; }
for f in "$agg" "$prod"; do
    [ -x "$f" ] || { echo "missing $f: build first" >&2; exit 1; }
done

shmdir=/dev/shm
[ -d "$shmdir" ] && [ -w "$shmdir" ] || shmdir=/tmp
WORK=$(mktemp -d "$shmdir/psbench-cost-XXXXXX")
chmod 0755 "$WORK"
agg_pid=
cleanup() {
    [ -n "$agg_pid" ] && kill -TERM "$agg_pid" 2>/dev/null \
        && wait "$agg_pid" 2>/dev/null
    if [ "$KEEP" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

zone=$WORK/zone
n=$((RINGS * CAPACITY))
"$prod" --zone "$zone" --rings "$RINGS" --capacity "$CAPACITY" \
    --create-only >/dev/null
for i in $(seq 1 "$RINGS"); do
    "$prod" --zone "$zone" --paths "$PATHS" --count "$CAPACITY" \
        --seed "$i" >/dev/null
done

valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" \
    "$agg" --zone "$zone" --flush-interval 100ms >"$WORK/agg.log" 2>&1 &
agg_pid=$!

consumed=0
for _ in $(seq 1 1200); do
    consumed=$("$agg" --zone "$zone" --stats 2>/dev/null \
               | sed -n 's/.*"consumed": *\([0-9]*\).*/\1/p' | head -1)
    [ "${consumed:-0}" -ge "$n" ] && break
    sleep 0.5
done
sleep 1
if [ "$SETTLED" -gt 0 ]; then
    callgrind_control --zero "$agg_pid" >/dev/null
    sleep "$SETTLED"
fi
kill -TERM "$agg_pid"
wait "$agg_pid" || true
agg_pid=

callgrind_annotate --inclusive=yes "$WORK/cg.out" 2>/dev/null \
| awk -v n="$n" -v paths="$PATHS" -v settled="$SETTLED" '
    function num(s) { gsub(/,/, "", s); return s + 0 }
    function calls(s) { sub(/.*\(/, "", s); sub(/x\).*/, "", s); return s + 0 }
    / => .*:pipeline_record \(/      { rec = num($1) }
    / => .*:ps_windows_add_to \(/    { win = num($1) }
    / => .*:ps_monitor_observe \(/   { life = num($1) }
    / => .*:ps_snapshot_build \(/    { sb = num($1); sbn = calls($0) }
    / => .*:ps_render_metrics \(/    { rm = num($1); rmn = calls($0) }
    END {
        printf "paths %d, records %d%s\n", paths, n,
               settled ? ", settled " settled " s (no record counted)" : ""
        if (!settled) {
            printf "pipeline_record      %8.0f instructions/record\n", rec / n
            printf "  windows (add_to)   %8.0f\n", win / n
            printf "  lifetime counters  %8.0f\n", life / n
        }
        if (sbn) printf "ps_snapshot_build    %8.1f M instructions/call (%d calls)\n", sb / sbn / 1e6, sbn
        if (rmn) printf "ps_render_metrics    %8.1f M instructions/call (%d calls)\n", rm / rmn / 1e6, rmn
    }'
