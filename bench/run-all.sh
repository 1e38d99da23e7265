#!/bin/bash
# Every benchmark of issue 15, and the fleet of issue 16, in one command,
# and one table of its figures: figure, target, measured, verdict.  The
# README's benchmark table quotes it.
#
#   bench/run-all.sh            # the full set (~15 min)
#   bench/run-all.sh --quick    # smaller and shorter (<= 5 min)
#   BUILD=/tmp/b bench/run-all.sh
#
# What it runs (each bench's own output goes to OUT/<name>.out):
#
#   density     the records of a typical request a ring holds, layout 3
#               (packed 32-byte units) against layout 1 (512 bytes each):
#               from include/pathstats_shm.h's sizes via bench-ring-producer
#               --create-only, for GET example.com from IPv4, keys of 16,
#               32 and 64 bytes
#   throughput  aggregator-throughput.sh: drain with sinks off (records per
#               CPU second; RssAnon at 100 000 keys), sustain at
#               SUSTAIN_RATE offered/s (dropped %), drain with PostgreSQL +
#               Redis on (records/s, wall), one PostgreSQL flush of 10 000
#               keys (server BEGIN..COMMIT)
#   pg_flush    bench-pg_flush against the same throwaway PostgreSQL: one
#               flush of 10 000 keys, new rows and existing rows (median);
#               then the fleet thread's read of the rows it wrote
#   redis       bench-redis_repair: the first write of 10 000 fields (one
#               flush of 10 000 keys; median of its rounds)
#   snapshot    bench-snapshot_build: the CPU time of a settled snapshot
#               build at 100 000 keys, 10 000 rows and every key a row
#               (no target: the part of freshness that is ours), and one
#               with nothing new since the last (the rows kept)
#   freshness   freshness.pl with 10 000 (and, full run, 100 000) other
#               paths in the snapshot: request -> /api/paths, p99
#   search      admin-latency.pl: /api/paths?q=... p99 under load with
#               10 000 (full run: 100 000) rows in the snapshot
#   fleet       fleet-scale.pl (issue 16): K aggregators at 10 000 keys a
#               node a second on one PostgreSQL and a local Redis Cluster;
#               --quick: K = 1 and 10, one run of 8 s (~1 min); full: K =
#               1, 2, 5, 10, 3 runs (~6 min): at K = 10 the slower sink's
#               flush p99 and the masters' max/min; then the same with
#               --driver (the stores' side alone, bench/fleet-driver.c)
#
# Figures are of one run on whatever machine this is: wall-clock ones move
# with other load (the table says which are CPU time).  Run as root (the
# throwaway PostgreSQL runs as nobody), on loopback only; every bench
# stops what it started.
#
# Environment: BUILD [repo/build], OUT [mktemp], SKIP ("" or names above,
# space separated).
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$repo/build}
BUILD=$(cd "$BUILD" && pwd)
export BUILD
QUICK=0
[ "${1:-}" = --quick ] && QUICK=1
OUT=${OUT:-$(mktemp -d /tmp/pathstats-run-all.XXXXXX)}
mkdir -p "$OUT"
SKIP=" ${SKIP:-} "
started=$(date +%s)

rows=()     # "figure|target|measured|verdict"

row() { rows+=("$1|$2|$3|$4"); }

# verdict VALUE OP LIMIT: MET / NOT MET / n/a
verdict() {
    [ -z "$1" ] && { echo "n/a"; return; }
    awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
        ok = (op == ">=") ? (v >= l) : (v <= l);
        print ok ? "MET" : "NOT MET" }'
}

skip() { [[ "$SKIP" == *" $1 "* ]]; }

say() { echo "== $*  ($(( $(date +%s) - started )) s)" >&2; }

# density ------------------------------------------------------------------

if ! skip density; then
    say density
    for k in 16 32 64; do
        # header 40, IPv4 4, "GET" 3, "example.com" 11, the key
        b=$((40 + 4 + 3 + 11 + k))
        u=$(( (b + 31) / 32 ))
        row "records a ring holds, key of $k bytes (layout 3 / layout 1)" \
            ">= 4x" "$(awk -v u="$u" 'BEGIN { printf "%.2fx (%d B a record, was 512)", 512 / (u * 32), u * 32 }')" \
            "$(verdict "$(awk -v u="$u" 'BEGIN { print 512 / (u * 32) }')" ">=" 4)"
    done
    # the same proxied (4 bytes of upstream time, milliseconds)
    b=$((40 + 4 + 4 + 3 + 11 + 64)); u=$(( (b + 31) / 32 ))
    row "  the same, proxied (upstream time), key of 64 bytes" ">= 4x" \
        "$(awk -v u="$u" 'BEGIN { printf "%.2fx (%d B)", 512 / (u * 32), u * 32 }')" \
        "$(verdict "$(awk -v u="$u" 'BEGIN { print 512 / (u * 32) }')" ">=" 4)"
fi

# throughput (aggregator-throughput.sh) -------------------------------------

if ! skip throughput; then
    say "aggregator-throughput.sh"
    if [ "$QUICK" = 1 ]; then
        tenv=(CAPACITY=65536 SUSTAIN_SECONDS=3)
    else
        tenv=(CAPACITY=262144 SUSTAIN_SECONDS=5)
    fi
    env "${tenv[@]}" SUSTAIN_RATE=${SUSTAIN_RATE:-300000} \
        "$repo/bench/aggregator-throughput.sh" >"$OUT/throughput.out" 2>&1

    # "sinks-off  100000 records cpu_s rec/s(cpu) wall_s rec/s(wall) anon rss idle"
    get() {
        awk -v ph="$1" -v p="$2" -v c="$3" '$1 == ph && $2 == p { print $c; exit }' \
            "$OUT/throughput.out"
    }
    for p in 200 100000; do
        v=$(get sinks-off $p 5)
        row "drain, sinks off, $p paths (records per CPU second)" \
            "$([ $p = 100000 ] && echo ">= 2 M" || echo "-")" \
            "$(awk -v v="$v" 'BEGIN { if (v != "") printf "%.2f M", v / 1e6 }')" \
            "$([ $p = 100000 ] && verdict "$v" ">=" 2000000 || echo "-")"
    done
    v=$(get sinks-off 100000 8)
    row "aggregator RssAnon, 100 000 keys" "<= 200 MB" "${v:+$v MB}" \
        "$(verdict "$v" "<=" 200)"
    v=$(get sinks-off 100000 10)
    row "an idle aggregator, 100 000 keys in its windows, no record coming (CPU, share of one core)" \
        "-" "${v:+$v %}" "-"
    for p in 200 100000; do
        v=$(get sinks-on $p 7)
        c=$(get sinks-on $p 5)
        row "drain, PostgreSQL + Redis on, $p paths (records/s, wall)" \
            "$([ $p = 100000 ] && echo ">= 200 k" || echo "-")" \
            "$(awk -v v="$v" -v c="$c" 'BEGIN { if (v != "") printf "%.0f k (%.0f k per CPU s)", v / 1e3, c / 1e3 }')" \
            "$([ $p = 100000 ] && verdict "$v" ">=" 200000 || echo "-")"
    done
    # "1s  100000  offered/s  consumed/s  dropped%  rec/s(cpu) cpu%"
    for fl in 1s 100ms; do
        line=$(awk -v f="$fl" '$1 == f && $2 == 100000 { print; exit }' \
               "$OUT/throughput.out")
        off=$(echo "$line" | awk '{ print $3 }')
        dr=$(echo "$line" | awk '{ sub(/%/, "", $5); print $5 }')
        row "sustain, 100 000 paths, flush $fl, sinks off (dropped)" \
            "0 % at >= 250 k/s" \
            "$(awk -v o="$off" -v d="$dr" 'BEGIN { if (o != "") printf "%s %% of %.0f k offered/s", d, o / 1e3 }')" \
            "$( [ -n "$off" ] && awk -v o="$off" -v d="$dr" 'BEGIN { print (o >= 250000 && d + 0 == 0) ? "MET" : "NOT MET" }' || echo n/a)"
    done
    # the aggregator's event=flush lines of the one-flush phase, flushes
    # of at least 5 000 keys: median (min-max) duration_ms per sink
    for sk in postgres redis; do
        r=$(awk '/^## flushes of ~/ { on = 1 } /^## restarted|^## every PostgreSQL/ { on = 0 }
                 on' "$OUT/throughput.out" | perl -ne '
                push @d, $2 if /event=flush sink='"$sk"' keys=(\d+) .*duration_ms=([\d.]+)/ && $1 >= 5000;
                END { @d = sort { $a <=> $b } @d;
                      printf "%s %s %s %d", $d[$#d / 2], $d[0], $d[-1], scalar @d if @d }')
        read -r v lo hi n <<<"$r"
        row "one $([ $sk = postgres ] && echo PostgreSQL || echo Redis) flush of ~10 000 keys in a settled aggregator (event=flush duration, median)" \
            "$([ $sk = postgres ] && echo '<= 100 ms' || echo '<= 50 ms')" \
            "${v:+$v ms ($lo-$hi, $n flushes)}" \
            "$(verdict "$v" "<=" "$([ $sk = postgres ] && echo 100 || echo 50)")"
    done
    # the same flush in CPU time: the sink's thread and the server's
    # share ("flush cpu:" lines, one a run), which the other processes
    # on the two cores do not stretch: the median run's, and the range
    for sk in postgres redis; do
        r=$(perl -ne 'push @r, [$3, $1, $2] if /^flush cpu: sink='"$sk"' keys=\d+ client_ms=([\d.]+) server_ms=([\d.]+) total_ms=([\d.]+)/;
                END { @r = sort { $a->[0] <=> $b->[0] } @r;
                      printf "%s %s %s %s %s %d", @{ $r[$#r / 2] },
                          $r[0][0], $r[-1][0], scalar @r if @r }' \
                "$OUT/throughput.out")
        read -r t c sv lo hi n <<<"$r"
        row "  the same flush in CPU time (aggregator + $([ $sk = postgres ] && echo "its backend" || echo "Redis"), median)" \
            "$([ $sk = postgres ] && echo '<= 100 ms' || echo '<= 50 ms')" \
            "${t:+$t ms ($c + $sv; $lo-$hi, $n runs)}" \
            "$(verdict "$t" "<=" "$([ $sk = postgres ] && echo 100 || echo 50)")"
    done
    # the first flush of an aggregator restarted in the hour (Redis:
    # deltas, its state of the hour partial): for comparison, no target
    r=$(perl -ne 'push @r, [$3, $1, $2] if /^flush cpu \(restarted\): sink=redis keys=\d+ client_ms=([\d.]+) server_ms=([\d.]+) total_ms=([\d.]+)/;
            END { @r = sort { $a->[0] <=> $b->[0] } @r;
                  printf "%s %s %s %s %s %d", @{ $r[$#r / 2] },
                      $r[0][0], $r[-1][0], scalar @r if @r }' \
            "$OUT/throughput.out")
    read -r t c sv lo hi n <<<"$r"
    row "  the same, the first flush of an aggregator restarted in the hour (Redis: deltas; CPU, median)" \
        "-" "${t:+$t ms ($c + $sv; $lo-$hi, $n runs)}" "-"
fi

# pg_flush -----------------------------------------------------------------

if ! skip pg_flush; then
    say "bench-pg_flush"
    perl "$repo/bench/pg-flush.pl" $([ "$QUICK" = 1 ] && echo 1 || echo 3) \
        >"$OUT/pg_flush.out" 2>&1
    # "insert (all keys new): N flushes, wall min X ms, median Y ms;
    #  server CPU median S ms; aggregator CPU median C ms"
    for kind in insert update; do
        line=$(grep -m1 "^$kind (" "$OUT/pg_flush.out")
        v=$(echo "$line" | perl -ne 'print $1 if /wall min [\d.]+ ms, median ([\d.]+) ms/')
        s=$(echo "$line" | perl -ne 'print "server CPU $1 ms, aggregator CPU $2 ms" if /server CPU median ([\d.-]+) ms; aggregator CPU median ([\d.-]+) ms/')
        m=$(echo "$line" | perl -ne 'print $1 if /wall min ([\d.]+) ms/')
        row "PostgreSQL flush of 10 000 keys, $([ $kind = insert ] && echo new || echo existing) rows (bench-pg_flush, median wall)" \
            "<= 100 ms" "${v:+$v ms (min $m; $s)}" "$(verdict "$v" "<=" 100)"
    done
    # "fleet read (the hour's R rows): N reads, wall min X ms, median Y
    #  ms; server CPU median S ms; aggregator CPU median C ms"
    line=$(grep -m1 "^fleet read (" "$OUT/pg_flush.out")
    r=$(echo "$line" | perl -ne 'print $1 if /the hour.s (\d+) rows/')
    v=$(echo "$line" | perl -ne 'print $1 if /wall min [\d.]+ ms, median ([\d.]+) ms/')
    s=$(echo "$line" | perl -ne 'print "server CPU $1 ms, aggregator CPU $2 ms" if /server CPU median ([\d.-]+) ms; aggregator CPU median ([\d.-]+) ms/')
    row "the fleet thread's read of the hour's ${r:-?} rows (bench-pg_flush, median wall)" \
        "-" "${v:+$v ms ($s)}" "-"
fi

# redis ---------------------------------------------------------------------

if ! skip redis; then
    say "bench-redis_repair"
    SIZES=10000x1000 CHUNKS=default ROUNDS=$([ "$QUICK" = 1 ] && echo 3 || echo 5) \
        "$repo/bench/redis-repair.sh" >"$OUT/redis.out" 2>&1
    # "fields 10000 clients 1000: first write: S script(s), longest X ms,
    #  R ms in Redis, flush F ms; PING: ..."
    stats() {
        grep 'first write' "$OUT/redis.out" | perl -ne '
            push @w, $1 if /'"$1"'/;
            END { @w = sort { $a <=> $b } @w;
                  printf "%s %s %s", $w[$#w / 2], $w[0], $w[-1] if @w }'
    }
    read -r v lo hi <<<"$(stats 'flush ([\d.]+) ms')"
    read -r rv rlo rhi <<<"$(stats '([\d.]+) ms in Redis')"
    row "one Redis flush of 10 000 keys (first write of the hour; median wall)" \
        "<= 50 ms" "${v:+$v ms ($lo-$hi; Redis busy $rv ms, $rlo-$rhi)}" \
        "$(verdict "$v" "<=" 50)"
fi

# snapshot --------------------------------------------------------------------

if ! skip snapshot; then
    for max_rows in 10000 101000; do
        say "bench-snapshot_build MAX_ROWS=$max_rows"
        MAX_ROWS=$max_rows "$BUILD/bench/bench-snapshot_build" 100000 9 \
            >"$OUT/snapshot-$max_rows.out" 2>&1
        v=$(sed -n 's/^settled build *\([0-9.]*\) ms cpu, median of [0-9]* (\(.*\))/\1 ms (\2)/p' \
                "$OUT/snapshot-$max_rows.out")
        row "a settled snapshot build, 100 000 keys, $([ "$max_rows" = 10000 ] && echo "10 000 rows" || echo "every key a row") (CPU, median of 9)" \
            "-" "$v" "-"
    done
    say "bench-snapshot_build, nothing new between builds"
    "$BUILD/bench/bench-snapshot_build" 100000 9 0 >"$OUT/snapshot-idle.out" 2>&1
    v=$(sed -n 's/^settled build *\([0-9.]*\) ms cpu, median of [0-9]* (\(.*\))/\1 ms (\2)/p' \
            "$OUT/snapshot-idle.out")
    row "the same, 10 000 rows, nothing new since the last build (CPU, median of 9)" \
        "-" "$v" "-"
fi

# freshness -------------------------------------------------------------------

if ! skip freshness; then
    if [ "$QUICK" = 1 ]; then fills="10000"; else fills="10000 100000"; fi
    for fill in $fills; do
        say "freshness.pl FILL=$fill"
        FILL=$fill FAST=0 SAMPLES=$([ "$QUICK" = 1 ] && echo 60 || echo 200) \
            RUN_SECONDS=$([ "$QUICK" = 1 ] && echo 20 || echo 60) \
            MAX_ROWS=$((fill + 1000)) \
            perl "$repo/bench/freshness.pl" >"$OUT/freshness-$fill.out" 2>&1
        v=$(perl -ne 'print $1 if /^default .* p99\s+(\d+)\s+max/' \
                "$OUT/freshness-$fill.out")
        row "freshness, request -> /api/paths, $fill paths in the snapshot (p99)" \
            "<= 1 s" "${v:+$v ms}" "$(verdict "$v" "<=" 1000)"
    done
fi

# search ------------------------------------------------------------------------

if ! skip search; then
    if [ "$QUICK" = 1 ]; then sizes="10000"; else sizes="10000 100000"; fi
    for n in $sizes; do
        say "admin-latency.pl PATHS=$n"
        PATHS=$n MAX_ROWS=$((n + 1000)) \
            REQUESTS=$([ "$QUICK" = 1 ] && echo 500 || echo 2000) \
            LOAD_SECONDS=$([ "$QUICK" = 1 ] && echo 20 || echo 40) \
            perl "$repo/bench/admin-latency.pl" >"$OUT/search-$n.out" 2>&1
        # "  q=  n p50 p99 max >2ms bytes nginx-cpu": idle first, then load
        v=$(perl -ne '$l = 1 if /^load/;
                      print $1 if $l && /^\s+q=\s+\d+\s+[\d.]+\s+([\d.]+)/' \
                "$OUT/search-$n.out")
        i=$(perl -ne 'last if /^load/;
                      print "idle p99 $1 ms, nginx CPU $2 ms a request"
                          if /^\s+q=\s+\d+\s+[\d.]+\s+([\d.]+)\s.*\s([\d.]+)$/' \
                "$OUT/search-$n.out")
        row "/api/paths?q=..., $n rows in the snapshot, under load (p99)" \
            "<= 2 ms" "${v:+$v ms${i:+ ($i)}}" "$(verdict "$v" "<=" 2)"
    done
fi

# fleet ---------------------------------------------------------------------------

if ! skip fleet; then
    say "fleet-scale.pl"
    perl "$repo/bench/fleet-scale.pl" $([ "$QUICK" = 1 ] && echo --quick) \
        >"$OUT/fleet.out" 2>&1
    # "# target, K=10 at 10000 keys/node/s: flush p99 (the slower sink) P ms
    #  (<= 1000: ...), per-master max/min commands C, CPU U (<= 2: ...)"
    line=$(grep -m1 '^# target, K=10 ' "$OUT/fleet.out")
    v=$(echo "$line" | perl -ne 'print $1 if /sink\) ([\d.]+) ms/')
    c=$(echo "$line" | perl -ne 'print $1 if /commands ([\d.]+)/')
    u=$(echo "$line" | perl -ne 'print $1 if /CPU ([\d.]+)/')
    row "fleet of 10 nodes at 10 000 keys/node/s, one PostgreSQL + Redis Cluster (flush p99, slower sink)" \
        "<= 1 s" "${v:+$v ms}" "$(verdict "$v" "<=" 1000)"
    row "  the same: Redis per-master max/min (commands / CPU)" "<= 2x" \
        "${c:+$c / $u}" "$( [ -n "$c" ] && awk -v c="$c" -v u="$u" 'BEGIN { print (c <= 2 && u <= 2) ? "MET" : "NOT MET" }' || echo n/a)"

    # the stores' side alone: K bench-fleet-driver nodes (each node's two
    # sinks and fleet thread) instead of K whole aggregators on 2 cores
    perl "$repo/bench/fleet-scale.pl" --driver \
        $([ "$QUICK" = 1 ] && echo --quick) >"$OUT/fleet-driver.out" 2>&1
    line=$(grep -m1 '^# target, K=10 ' "$OUT/fleet-driver.out")
    v=$(echo "$line" | perl -ne 'print $1 if /sink\) ([\d.]+) ms/')
    row "  the same with --driver (10 nodes' sinks and fleet threads, no rings or windows)" \
        "<= 1 s" "${v:+$v ms}" "$(verdict "$v" "<=" 1000)"
fi

# the table -----------------------------------------------------------------------

echo
echo "# pathstats benchmarks  $(date -u +%FT%TZ)  $(nproc) cores, load" \
     "$(cut -d' ' -f1-3 /proc/loadavg)  build=$BUILD$([ "$QUICK" = 1 ] && echo '  (--quick)')"
echo "# outputs in $OUT; wall-clock figures are one run on this machine"
echo
echo "| figure | target | measured | verdict |"
echo "| --- | --- | --- | --- |"
for r in "${rows[@]}"; do
    IFS='|' read -r f t m v <<<"$r"
    echo "| $f | $t | ${m:-(no figure: see $OUT)} | $v |"
done
echo
echo "# run time: $(( $(date +%s) - started )) s"
