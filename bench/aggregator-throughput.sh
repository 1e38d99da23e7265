#!/bin/bash
# Aggregator throughput: how many records per second pathstats-aggregator
# drains and aggregates on one core, its RSS at 100 000 keys in one hour,
# and (when the build has the sinks) the same with PostgreSQL + Redis and
# the duration of one PostgreSQL flush of 10 000 keys.
#
#   bench/aggregator-throughput.sh            # build dir: ./build
#   BUILD=/tmp/b-bench bench/aggregator-throughput.sh
#
# Phases (see bench/README.md):
#   drain    N records preloaded into the rings by bench-ring-producer
#            (writers gone), then the aggregator started on its own core;
#            records/s = N / aggregator CPU time (utime+stime), and
#            N / wall time until the zone counts them all consumed; with
#            sinks off, then its CPU over IDLE_SECONDS with no record
#            coming (idle_%, of one core: the snapshot builds of windows
#            that hold PATHS keys and change no more)
#   sustain  producer writing SUSTAIN_RATE records/s (drop when full) on one
#            core while the aggregator drains on the other, for
#            SUSTAIN_SECONDS: consumed/s and dropped
#   sinks    the drain phase again with --postgres and --redis against
#            throwaway servers; then 131 072 records over PG_KEYS paths
#            written into a settled aggregator (started SETTLE s before,
#            its views' first reads from PostgreSQL over; the hour's only
#            writer in Redis, WARM_PATHS paths written first): its flush
#            log lines; then the same into an aggregator restarted in the
#            hour (its first flush: deltas, see README "Redis key layout")
#
# Environment (defaults in brackets):
#   BUILD [repo/build]  RINGS [8]  CAPACITY [262144]  PATHS ["200 100000"]
#   SUSTAIN_SECONDS [5, 0 = skip the phase]  SUSTAIN_RATE [3000000, 0 = flat out]  SINKS [auto|on|off]  PG_KEYS [10000]
#   PRODUCER_CPU [0]  AGG_CPU [1]  WORK [mktemp under /dev/shm]  KEEP [0]
#   PG_PORT [18410]  REDIS_PORT [18411]  DRAIN_TIMEOUT [60] (s, per drain)
#   IDLE_SECONDS [5, 0 = none] (s of the idle CPU after a sinks-off drain)
#   SINK_RINGS [2] (rings preloaded for the drains with sinks on)
#   SETTLE [3] (s between the aggregator's start and the records of the
#   flush phase)  SETTLED_RUNS [3] (runs of the flush phase: each a new
#   aggregator on the same hour)  WARM_PATHS [100000] (paths the
#   aggregator writes into an emptied Redis before its measured flush:
#   the hour's only writer since the hour began, as a long-running
#   aggregator is; then as many runs of one restarted in the hour)
#   HUGETLB [1] (glibc.malloc.hugetlb for the aggregator, as the
#   packaged service sets it: 1 = its heap in transparent huge pages
#   where the kernel's THP mode is "madvise"; 0 = glibc's default.
#   Ignored when GLIBC_TUNABLES is set already)
#
# RSS: anon_MB is RssAnon (the aggregator's own memory); rss_MB is VmRSS,
# which also counts the pages of the zone file it has mapped and read.
#
# Only loopback, only throwaway processes this script starts; every wait
# is bounded.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$repo/build}
BUILD=$(cd "$BUILD" && pwd)
RINGS=${RINGS:-8}
CAPACITY=${CAPACITY:-262144}
PATHS=${PATHS:-"200 100000"}
SUSTAIN_SECONDS=${SUSTAIN_SECONDS:-5}
SUSTAIN_RATE=${SUSTAIN_RATE:-3000000}
SINKS=${SINKS:-auto}
PG_KEYS=${PG_KEYS:-10000}
PRODUCER_CPU=${PRODUCER_CPU:-0}
AGG_CPU=${AGG_CPU:-1}
PG_PORT=${PG_PORT:-18410}
REDIS_PORT=${REDIS_PORT:-18411}
KEEP=${KEEP:-0}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-60}
IDLE_SECONDS=${IDLE_SECONDS:-5}
SETTLE=${SETTLE:-3}
SINK_RINGS=${SINK_RINGS:-2}
SETTLED_RUNS=${SETTLED_RUNS:-3}
WARM_PATHS=${WARM_PATHS:-100000}
HUGETLB=${HUGETLB:-1}
# the aggregator's environment: the packaged service's (README, "Memory")
tunables=${GLIBC_TUNABLES-glibc.malloc.hugetlb=$HUGETLB}
thp_mode=$(sed -n 's/.*\[\(.*\)\].*/\1/p' \
               /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || true)

agg=$BUILD/pathstats-aggregator
prod=$BUILD/bench/bench-ring-producer
for f in "$agg" "$prod"; do
    [ -x "$f" ] || { echo "missing $f: build first (cmake --build $BUILD)" >&2; exit 1; }
done

shmdir=/dev/shm
[ -d "$shmdir" ] && [ -w "$shmdir" ] || shmdir=/tmp
WORK=${WORK:-$(mktemp -d "$shmdir/psbench-agg-XXXXXX")}
mkdir -p "$WORK"
chmod 0755 "$WORK"

agg_pid=
redis_pid=
pg_data=
started=$(date +%s.%N)

cleanup() {
    [ -n "$agg_pid" ] && kill -TERM "$agg_pid" 2>/dev/null && wait "$agg_pid" 2>/dev/null
    [ -n "$redis_pid" ] && kill -TERM "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
    if [ -n "$pg_data" ] && [ -f "$pg_data/postmaster.pid" ]; then
        runuser -u nobody -- /usr/lib/postgresql/15/bin/pg_ctl -D "$pg_data" \
            -m immediate -w -t 20 stop >/dev/null 2>&1 || true
    fi
    if [ "$KEEP" = 1 ]; then
        echo "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
diff_s() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a - b }'; }

# utime + stime of a process, in clock ticks
cpu_ticks() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# "PID NS" for every PostgreSQL process of the throwaway server: its CPU
# time in ns (/proc/PID/schedstat, precise where stat has 10 ms ticks)
pg_cpu_ns() {
    local p
    for p in $(pgrep -u nobody -f "postgres" 2>/dev/null); do
        [ -r "/proc/$p/schedstat" ] && echo "$p $(cut -d' ' -f1 "/proc/$p/schedstat")"
    done
}

# the Redis server's CPU time in ns, all its threads (schedstat, as for
# PostgreSQL): what the flush costs it, command parsing included; the
# scripts' own timer (below) also counts the time another process on the
# two cores held the CPU while a script ran
redis_cpu_ns() {
    local pid t s=0
    pid=$(redis-cli -p "$REDIS_PORT" info server 2>/dev/null | tr -d '\r' \
          | awk -F: '$1 == "process_id" { print $2 }')
    [ -n "$pid" ] || { echo 0; return; }
    for t in /proc/"$pid"/task/*/schedstat; do
        s=$((s + $(cut -d' ' -f1 "$t")))
    done
    echo "$s"
}

# the Redis server's time (us) in the sink's scripts: EVALSHA and EVAL
redis_script_us() {
    redis-cli -p "$REDIS_PORT" info commandstats 2>/dev/null | tr -d '\r' \
        | awk -F'[=,:]' '/^cmdstat_(evalsha|eval):/ { for (i = 2; i < NF; i++) if ($i == "usec") s += $(i + 1) } END { print s + 0 }'
}

# a field (kB) of /proc/PID/status
status_kb() {
    awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

# totals.consumed (or another total) of the zone
zone_total() {
    "$agg" --zone "$1" --stats 2>/dev/null \
        | perl -MJSON::PP -0777 -ne 'print decode_json($_)->{totals}{'"$2"'}'
}

tck=$(getconf CLK_TCK)

# start_agg ZONE LOG [args...]
start_agg() {
    local zone=$1 log=$2
    shift 2
    GLIBC_TUNABLES=$tunables taskset -c "$AGG_CPU" "$agg" --zone "$zone" \
        --log-file "$log" "$@" &
    agg_pid=$!
}

stop_agg() {
    kill -TERM "$agg_pid" 2>/dev/null || true
    local i
    for i in $(seq 1 200); do
        kill -0 "$agg_pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$agg_pid" 2>/dev/null || true
    wait "$agg_pid" 2>/dev/null || true
    agg_pid=
}

# preload ZONE PATHS: RINGS producers fill one ring each, then exit
preload() {
    local zone=$1 paths=$2 i
    rm -f "$zone"
    "$prod" --zone "$zone" --rings "$RINGS" --capacity "$CAPACITY" \
        --create-only >/dev/null
    for i in $(seq 1 "$RINGS"); do
        taskset -c "$PRODUCER_CPU" "$prod" --zone "$zone" --paths "$paths" \
            --count "$CAPACITY" --seed "$i" >/dev/null
    done
}

# drain NAME PATHS [aggregator args...]: prints one result line
drain() {
    local name=$1 paths=$2 zone=$WORK/zone log=$WORK/agg-$1-$2.log
    shift 2
    local n=$((RINGS * CAPACITY)) t0 t1 c1 consumed=0 out rss hwm ia idle
    preload "$zone" "$paths"
    t0=$(now)
    start_agg "$zone" "$log" "$@"
    # one process reads the zone until all are consumed and prints when
    # (a poll of --stats every 20 ms, a process and a JSON parser each,
    # took one of the two cores from the drain it measured)
    out=$("$prod" --zone "$zone" --wait-consumed "$n" --pid "$agg_pid" \
              --duration "$DRAIN_TIMEOUT")
    c1=$(cpu_ticks "$agg_pid" 2>/dev/null)
    [[ $out =~ \"consumed\":([0-9]+),\"at\":([0-9.]+),\"reached\":([01]) ]] \
        || { echo "($name $paths: bench-ring-producer --wait-consumed: $out)" >&2; stop_agg; return 1; }
    consumed=${BASH_REMATCH[1]} t1=${BASH_REMATCH[2]}
    if [ "${BASH_REMATCH[3]}" = 0 ]; then
        if ! kill -0 "$agg_pid" 2>/dev/null; then
            echo "aggregator exited early; log:" >&2; tail -5 "$log" >&2
            agg_pid=; return 1
        fi
        echo "($name $paths: timed out after ${DRAIN_TIMEOUT}s at $consumed of $n records)"
    fi
    rss=$(status_kb "$agg_pid" RssAnon)
    hwm=$(status_kb "$agg_pid" VmRSS)
    # idle: a second for the snapshot under way, then IDLE_SECONDS
    idle=-
    if [ "$name" = sinks-off ] && [ "$IDLE_SECONDS" -gt 0 ]; then
        sleep 1
        ia=$(cpu_ticks "$agg_pid")
        sleep "$IDLE_SECONDS"
        idle=$(awk -v a="$ia" -v b="$(cpu_ticks "$agg_pid")" -v tck="$tck" \
                   -v s="$IDLE_SECONDS" 'BEGIN { printf "%.1f", 100 * (b - a) / tck / s }')
    fi
    stop_agg
    awk -v name="$name" -v paths="$paths" -v n="$consumed" -v c="$c1" \
        -v tck="$tck" -v w="$(diff_s "$t1" "$t0")" -v rss="$rss" -v hwm="$hwm" \
        -v idle="$idle" \
        'BEGIN { cs = c / tck;
                 printf "%-10s %8d %10d %8.2f %12.0f %8.2f %12.0f %8.1f %8.1f %7s\n",
                     name, paths, n, cs, (cs > 0 ? n / cs : 0), w, n / w,
                     rss / 1024, hwm / 1024, idle }'
}

# wait_flushed NAME LOG MARK N: until both sinks logged N records after
# line MARK.  One perl follows the log (reading what was added every
# 10 ms): a process a poll (awk, date, sleep every 50 ms) took a sixth of
# the two cores during the flushes it measured, and polling --stats
# and Redis before that more
wait_flushed() {
    perl -e '
        my ($log, $mark, $n, $timeout) = @ARGV;
        my %got = (postgres => 0, redis => 0);
        my $deadline = time + $timeout;
        open my $fh, "<", $log or die "$log: $!\n";
        my ($line, $buf) = (0, "");
        while (1) {
            while (defined(my $l = <$fh>)) {
                $buf .= $l;
                next unless $buf =~ /\n\z/;
                $l = $buf; $buf = "";
                next if ++$line <= $mark;
                $got{$1} += $2
                    if $l =~ /event=flush sink=(postgres|redis) .*\brecords=(\d+)/;
            }
            exit 0 if $got{postgres} >= $n && $got{redis} >= $n;
            if (time >= $deadline) {
                print STDERR "($ARGV[4]: flushed postgres $got{postgres}, ",
                    "redis $got{redis} of $n records after ${timeout}s)\n";
                exit 1;
            }
            select(undef, undef, undef, 0.01);
            seek($fh, 0, 1);
        }' "$2" "$3" "$4" "$DRAIN_TIMEOUT" "$1" || true
}

# settled NAME PATHS WARM [aggregator args...]: the aggregator started on
# an empty zone and left SETTLE seconds (its views' first reads from
# PostgreSQL, which a fresh start does at once, are over); with WARM > 0
# Redis is emptied first and the aggregator writes the hour's first
# WARM paths (each once, --sequential) before the phase measured: it is
# then the hour's only writer since the hour began, as an aggregator
# that has run since before the hour is; with WARM = 0 the hour was
# written before (by the earlier phases and runs): the first flush of
# an aggregator restarted in the hour.  Then RINGS producers write
# CAPACITY records each (--block: all of them arrive) while it reads;
# returns once both sinks logged their flushes.  $WORK/agg-log-mark:
# the lines of its log before the phase measured.
settled() {
    local name=$1 paths=$2 warm=$3 zone=$WORK/zone log=$WORK/agg-$1-$2.log
    shift 3
    local n=$((RINGS * CAPACITY)) i mark
    rm -f "$zone"
    "$prod" --zone "$zone" --rings "$RINGS" --capacity "$CAPACITY" \
        --create-only >/dev/null
    [ "$warm" -gt 0 ] && redis-cli -p "$REDIS_PORT" flushall >/dev/null
    start_agg "$zone" "$log" "$@"
    sleep "$SETTLE"
    if [ "$warm" -gt 0 ]; then
        taskset -c "$PRODUCER_CPU" "$prod" --zone "$zone" --paths "$warm" \
            --count "$warm" --sequential --seed 99 --block >/dev/null
        wait_flushed "$name warm-up" "$log" 0 "$warm"
    fi
    mark=$(wc -l <"$log")
    echo "$mark" >"$WORK/agg-log-mark"
    wc -l <"$WORK/pg/postgres.log" >"$WORK/pg-log-mark"
    # the servers' CPU before the records: their share of the flush
    if [ -d "$WORK/pg" ]; then
        pg_cpu_ns >"$WORK/pg-cpu-before"
        redis_script_us >"$WORK/redis-us-before"
        redis_cpu_ns >"$WORK/redis-ns-before"
    fi
    for i in $(seq 1 "$RINGS"); do
        taskset -c "$PRODUCER_CPU" "$prod" --zone "$zone" --paths "$paths" \
            --count "$CAPACITY" --seed "$i" --block >/dev/null
    done
    wait_flushed "$name" "$log" "$mark" "$n"
    if [ -d "$WORK/pg" ]; then
        pg_cpu_ns >"$WORK/pg-cpu-after"
        redis_script_us >"$WORK/redis-us-after"
        redis_cpu_ns >"$WORK/redis-ns-after"
    fi
    stop_agg
}

# sustain FLUSH PATHS: producer and aggregator concurrently
sustain() {
    local flush=$1 paths=$2 zone=$WORK/zone log=$WORK/agg-sustain-$1.log
    local c0 c1 k0 k1 t0 t1 out
    rm -f "$zone"
    "$prod" --zone "$zone" --rings "$RINGS" --capacity "$CAPACITY" \
        --create-only >/dev/null
    start_agg "$zone" "$log" --flush-interval "$flush"
    sleep 0.3
    k0=$(zone_total "$zone" consumed)
    c0=$(cpu_ticks "$agg_pid")
    t0=$(now)
    out=$(taskset -c "$PRODUCER_CPU" "$prod" --zone "$zone" --paths "$paths" \
              --duration "$SUSTAIN_SECONDS" --rate "$SUSTAIN_RATE")
    t1=$(now)
    k1=$(zone_total "$zone" consumed)
    c1=$(cpu_ticks "$agg_pid")
    stop_agg
    perl -MJSON::PP -e '
        my ($json, $flush, $paths, $k, $w, $c, $tck) = @ARGV;
        my $p = decode_json($json);
        printf "%-8s %8d %12.0f %12.0f %9.1f%% %12.0f %6.0f%%\n",
            $flush, $paths, $p->{seen} / $w, $k / $w,
            $p->{seen} ? 100 * $p->{dropped} / $p->{seen} : 0,
            $c > 0 ? $k / ($c / $tck) : 0, 100 * $c / $tck / $w;' \
        "$out" "$flush" "$paths" "$((k1 - k0))" "$(diff_s "$t1" "$t0")" \
        "$((c1 - c0))" "$tck"
}

echo "# pathstats aggregator throughput  $(date -u +%FT%TZ)  build=$BUILD"
echo "# aggregator: GLIBC_TUNABLES=${tunables:-(none)}, THP mode ${thp_mode:-unknown}"
echo "# rings=$RINGS capacity=$CAPACITY ($((RINGS * CAPACITY)) records," \
     "$((RINGS * CAPACITY / 2048)) MB)  producer cpu $PRODUCER_CPU," \
     "aggregator cpu $AGG_CPU  work=$WORK"
echo
echo "## drain: preloaded rings, aggregator alone on one core, sinks off"
echo "## target >= 2 000 000 records/s (by CPU time); RSS at 100000 keys <= 200 MB"
hdr="phase         paths    records  cpu_s  rec/s(cpu)   wall_s  rec/s(wall) anon_MB  rss_MB  idle_%"
echo "$hdr"
for p in $PATHS; do
    drain sinks-off "$p" --flush-interval 100ms --log-level debug
done

echo
# the producer's --duration 0 is "no limit": 0 here skips the phase
if awk -v s="$SUSTAIN_SECONDS" 'BEGIN { exit !(s + 0 > 0) }'; then
    echo "## sustain: producer at ${SUSTAIN_RATE}/s (0: flat out; drops when full) + aggregator, ${SUSTAIN_SECONDS}s"
    echo "## the rings are released only after a flush: one ring holds at most"
    echo "## CAPACITY records per flush interval ($CAPACITY here)"
    echo "flush       paths   offered/s   consumed/s   dropped  rec/s(cpu)  agg_cpu"
    for fl in 1s 100ms; do
        sustain "$fl" 100000
    done
else
    echo "## sustain: skipped (SUSTAIN_SECONDS=$SUSTAIN_SECONDS)"
fi

# sinks ------------------------------------------------------------------

pg_bin=/usr/lib/postgresql/15/bin

# PostgreSQL statement log on stdin -> one line per transaction of the
# aggregator: BEGIN..COMMIT wall time, statements, time in statements
pg_flush_times() {
    perl -ne '
        next unless /^\d{4}-\d\d-\d\d (\d\d):(\d\d):([\d.]+) \S+ \[(\d+)\] LOG:  duration: ([\d.]+) ms  (?:statement|execute [^:]*): (.*)/;
        my ($t, $pid, $d, $sql) = ($1 * 3600 + $2 * 60 + $3, $4, $5, $6);
        if ($sql =~ /^BEGIN/i) {
            $tx{$pid} = { start => $t - $d / 1000, n => 0, sum => 0 };
        }
        next unless $tx{$pid};
        $tx{$pid}{n}++;
        $tx{$pid}{sum} += $d;
        if ($sql =~ /^(COMMIT|ROLLBACK)/i) {
            my $x = delete $tx{$pid};
            printf "pg transaction (pid %d): %s %.1f ms, %d statements, %.1f ms in statements\n",
                $pid, lc $1, 1000 * ($t - $x->{start}), $x->{n}, $x->{sum};
        }'
}

start_sinks() {
    mkdir -p "$WORK/pg" "$WORK/redis"
    chown nobody:nogroup "$WORK/pg"
    chmod 0700 "$WORK/pg"
    pg_data=$WORK/pg/data
    (cd "$WORK" && runuser -u nobody -- "$pg_bin/initdb" -D "$pg_data" -U pathstats \
        --auth=trust -E UTF8 --locale=C --no-sync --no-instructions \
        >"$WORK/initdb.log" 2>&1) || { cat "$WORK/initdb.log" >&2; return 1; }
    cat >>"$pg_data/postgresql.conf" <<EOF
port = $PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK/pg'
shared_buffers = 128MB
max_wal_size = 1GB
logging_collector = off
log_min_duration_statement = 0
log_line_prefix = '%m [%p] '
log_timezone = 'UTC'
EOF
    (cd "$WORK" && runuser -u nobody -- "$pg_bin/pg_ctl" -D "$pg_data" \
        -l "$WORK/pg/postgres.log" -w -t 30 start >/dev/null) || return 1
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
        --appendonly no --dir "$WORK/redis" --daemonize no \
        --logfile "$WORK/redis.log" &
    redis_pid=$!
    local i
    for i in $(seq 1 100); do
        [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.05
    done
    return 1
}

conninfo="host=127.0.0.1 port=$PG_PORT dbname=postgres user=pathstats"
redis_url="redis://127.0.0.1:$REDIS_PORT"

echo
if [ "$SINKS" = off ]; then
    echo "## sinks: skipped (SINKS=off)"
else
    if ! start_sinks; then
        echo "## sinks: could not start PostgreSQL/Redis; skipped"
    elif ! "$agg" --postgres "$conninfo" --migrate >"$WORK/migrate.log" 2>&1; then
        echo "## sinks: skipped, aggregator --migrate failed: $(tail -1 "$WORK/migrate.log")"
        [ "$SINKS" = on ] && exit 1
    else
        echo "## drain with PostgreSQL + Redis on (throwaway servers on :$PG_PORT, :$REDIS_PORT)"
        echo "$hdr"
        RINGS_SAVE=$RINGS
        RINGS=$SINK_RINGS
        for p in $PATHS; do
            drain sinks-on "$p" --postgres "$conninfo" --redis "$redis_url" \
                --log-level debug
        done
        RINGS=$RINGS_SAVE
        echo
        # PG_KEYS keys written into the rings of an aggregator that has
        # settled SETTLE s after its start: flushes at half-full rings;
        # each run a new aggregator on the same hour, whose rows exist;
        # first SETTLED_RUNS runs of an aggregator that is the hour's
        # only writer in Redis (WARM_PATHS written first), then as many
        # of one restarted in an hour written before
        CAPACITY_SAVE=$CAPACITY
        RINGS=2; CAPACITY=65536
        for kind in alone restarted; do
          if [ "$kind" = alone ]; then
            echo "## flushes of ~$PG_KEYS keys in a settled aggregator, $SETTLED_RUNS runs (event=flush lines of its log): Redis emptied, the aggregator the hour's only writer, $WARM_PATHS paths written first"
            warm=$WARM_PATHS; tag=""
          else
            echo
            echo "## restarted: the first flush of ~$PG_KEYS keys of an aggregator started in an hour written before, $SETTLED_RUNS runs"
            warm=0; tag=" (restarted)"
          fi
          for r in $(seq 1 "$SETTLED_RUNS"); do
            settled "pg-flush-$kind-$r" "$PG_KEYS" "$warm" \
                --postgres "$conninfo" --redis "$redis_url" \
                --log-level debug --flush-interval 5s >/dev/null
            log=$WORK/agg-pg-flush-$kind-$r-$PG_KEYS.log
            mark=$(cat "$WORK/agg-log-mark")
            if ! tail -n +"$((mark + 1))" "$log" | grep -h 'event=flush ' \
                   | grep -v 'keys=0 ' | head -20; then
                echo "($kind run $r: no flush in the aggregator's log; its last lines:)"
                tail -5 "$log" | sed 's/^/  /'
            fi
            tail -n +"$(( $(cat "$WORK/pg-log-mark") + 1))" "$WORK/pg/postgres.log" \
                | pg_flush_times | tee "$WORK/pg-flush-tx"
            # CPU time of each flush, this process's (cpu_ms) and the
            # server's: the backend that ran the flush's transaction
            # (from the statement log), Redis's over the phase (its
            # scripts' own timer as scripts_ms); other processes on the
            # 2 cores stretch wall time, not this
            pg_pid=$(awk '/^pg transaction/ { gsub(/\)|:/, "", $4); print $4; exit }' "$WORK/pg-flush-tx")
            pg_ms=$(awk -v p="$pg_pid" 'FNR == NR { if ($1 == p) b = $2; next }
                                         $1 == p { printf "%.1f", ($2 - b) / 1e6 }' \
                        "$WORK/pg-cpu-before" "$WORK/pg-cpu-after")
            rd_ms=$(awk -v b="$(cat "$WORK/redis-ns-before")" -v a="$(cat "$WORK/redis-ns-after")" \
                        'BEGIN { printf "%.1f", (a - b) / 1e6 }')
            rs_ms=$(awk -v b="$(cat "$WORK/redis-us-before")" -v a="$(cat "$WORK/redis-us-after")" \
                        'BEGIN { printf "%.1f", (a - b) / 1000 }')
            for sk in postgres redis; do
                tail -n +"$((mark + 1))" "$log" \
                    | { grep -h "event=flush sink=$sk " || true; } \
                    | { grep -v 'keys=0 ' || true; } | head -1 \
                    | SRV="$([ $sk = postgres ] && echo "${pg_ms:-0}" || echo "$rd_ms")" \
                      EXTRA="$([ $sk = redis ] && echo " scripts_ms=$rs_ms")" \
                      TAG="$tag" \
                      perl -ne 'printf "flush cpu%s: sink=%s keys=%d client_ms=%.1f server_ms=%s total_ms=%.1f%s\n",
                                    $ENV{TAG}, $1, $2, $3, $ENV{SRV}, $3 + $ENV{SRV}, $ENV{EXTRA}
                                    if /sink=(\w+) keys=(\d+) .*cpu_ms=([\d.]+)/'
            done
          done
        done
        RINGS=$RINGS_SAVE; CAPACITY=$CAPACITY_SAVE
        echo
        echo "## every PostgreSQL flush of the sinks-on drains (BEGIN..COMMIT, server side)"
        pg_flush_times <"$WORK/pg/postgres.log" | head -40
    fi
fi

echo
echo "# total run time: $(diff_s "$(now)" "$started" | cut -d. -f1) s"
