#!/bin/bash
# Recorder overhead: nginx worker CPU time per request with pathstats
# off, on (zone + an aggregator draining it, no sinks) and, as a
# reference, an unbuffered access_log, at 200 and 100 000 distinct paths.
#
#   BUILD=/tmp/b-bench bench/module-overhead.sh
#   ROUNDS=5 SECONDS=3 CALLGRIND=1 bench/module-overhead.sh
#
# One nginx (1 worker, pinned to CPU $NGINX_CPU) serves four variants on
# four ports, so that every run measures the same process:
#
#   none       a second nginx with the module not loaded at all
#   off        pathstats off (the module is loaded, its log handler
#              returns at once), access_log off
#   on         pathstats on, access_log off; pathstats-aggregator --zone
#              drains the zone (daemon mode, no sinks)
#   accesslog  pathstats off, access_log <file> (combined, no buffer=)
#
# Every location answers "return 200" with a short body: the cheapest
# request nginx can serve, so the module's share is as large as it gets.
# wrk (1 thread, $CONNS keepalive connections, pinned to $LOAD_CPU with
# the aggregator) picks each request's path at random from a precomputed
# list.  Runs are interleaved: ROUNDS x {200, 100000 paths} x the
# variants, in an order that rotates every round.  CPU time per request =
# the worker's CPU time (/proc/PID/schedstat, ns; or utime+stime) over
# the run / requests served (stub_status); the tables show the median of
# the rounds.
#
# CALLGRIND=1 (default) adds a deterministic measure: nginx in
# single-process mode under valgrind --tool=callgrind, CG_SECONDS of load
# per variant, instructions (user space only) collected inside
# ngx_process_events_and_timers, per request; and the inclusive
# instructions of ngx_http_pathstats_log_handler per request.
#
# Environment (defaults in brackets): BUILD [repo/build], ROUNDS [7],
# SECONDS [2] (or RUN_SECONDS), CONNS [16], PIPELINE [1] (requests per
# wrk write), CARDS ["200 100000"],
# VARIANTS ["none off on accesslog"], NGINX_CPU [0], LOAD_CPU [1],
# CALLGRIND [1], CG_SECONDS [4], PORT_BASE [18400] (uses PORT_BASE ..
# PORT_BASE+9), WORK [mktemp under /tmp], ZONE_DIR [/dev/shm], KEEP [0].

# bash's SECONDS counts from the value it inherits: read it first
want_seconds=$SECONDS
set -euo pipefail

RUN_SECONDS=${RUN_SECONDS:-}
if [ -z "$RUN_SECONDS" ]; then
    RUN_SECONDS=2
    [ "$want_seconds" -ge 1 ] 2>/dev/null && RUN_SECONDS=$want_seconds
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$repo/build}
BUILD=$(cd "$BUILD" && pwd)
ROUNDS=${ROUNDS:-7}
CONNS=${CONNS:-16}
PIPELINE=${PIPELINE:-1}
CARDS=${CARDS:-"200 100000"}
VARIANTS=${VARIANTS:-"none off on accesslog"}
NGINX_CPU=${NGINX_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
CALLGRIND=${CALLGRIND:-1}
CG_SECONDS=${CG_SECONDS:-4}
PORT_BASE=${PORT_BASE:-18400}
ZONE_DIR=${ZONE_DIR:-/dev/shm}
KEEP=${KEEP:-0}
NGINX=${NGINX:-/usr/sbin/nginx}

module=$BUILD/ngx_http_pathstats_module.so
agg=$BUILD/pathstats-aggregator
for f in "$module" "$agg"; do
    [ -f "$f" ] || { echo "missing $f: build first" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk not installed" >&2; exit 1; }
if [ "$CALLGRIND" = 1 ] && ! command -v valgrind >/dev/null; then
    echo "valgrind not installed: CALLGRIND=0" >&2
    CALLGRIND=0
fi

WORK=${WORK:-$(mktemp -d /tmp/psbench-ovh-XXXXXX)}
mkdir -p "$WORK/tmp" "$WORK/none/tmp"
chmod 0755 "$WORK" "$WORK/none"
[ -d "$ZONE_DIR" ] && [ -w "$ZONE_DIR" ] || ZONE_DIR=$WORK
zdir=$(mktemp -d "$ZONE_DIR/psbench-zone-XXXXXX")
chmod 0755 "$zdir"
zone=$zdir/zone

p_off=$PORT_BASE
p_on=$((PORT_BASE + 1))
p_log=$((PORT_BASE + 2))
p_none=$((PORT_BASE + 3))
p_cg=$((PORT_BASE + 4))

declare -A port=([off]=$p_off [on]=$p_on [accesslog]=$p_log [none]=$p_none)

master=
master_none=
agg_pid=
started=$(date +%s.%N)

stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    stop_pid "$agg_pid"
    stop_pid "$master"
    stop_pid "$master_none"
    if [ "$KEEP" = 1 ]; then
        echo "kept $WORK and $zdir"
    else
        rm -rf "$WORK" "$zdir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }

# --- configs ---------------------------------------------------------------

common_http() {
    cat <<EOF
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    default_type text/plain;
EOF
}

status_loc() {
    echo "        location = /__status { stub_status; access_log off; }"
}

body='"pathstats overhead benchmark: a short response body\n"'

# main_conf DIR PROCESS_LINES: nginx with the module, variants off/on/accesslog
main_conf() {
    local dir=$1 extra=$2
    cat <<EOF
load_module $module;
user nobody nogroup;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
$extra
worker_processes 1;
events { worker_connections 1024; }
http {
$(common_http "$dir")
    pathstats_zone $zone size=512m;

    server {
        listen 127.0.0.1:$p_off;
        pathstats off;
$(status_loc)
        location / { return 200 $body; }
    }
    server {
        listen 127.0.0.1:$p_on;
        pathstats on;
$(status_loc)
        location / { return 200 $body; }
    }
    server {
        listen 127.0.0.1:$p_log;
        pathstats off;
        access_log $dir/access.log;
$(status_loc)
        location / { return 200 $body; }
    }
}
EOF
}

none_conf() {
    local dir=$1
    cat <<EOF
user nobody nogroup;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
daemon off;
master_process on;
worker_processes 1;
worker_cpu_affinity $(cpu_mask "$NGINX_CPU");
events { worker_connections 1024; }
http {
$(common_http "$dir")
    server {
        listen 127.0.0.1:$p_none;
$(status_loc)
        location / { return 200 $body; }
    }
}
EOF
}

cpu_mask() {
    # nginx's worker_cpu_affinity bit mask for one CPU
    local cpu=$1 m=1 i
    for ((i = 0; i < cpu; i++)); do m="${m}0"; done
    echo "$m"
}

# wrk script: random path from a precomputed list of PS_PATHS paths
cat >"$WORK/paths.lua" <<'EOF'
local n = tonumber(os.getenv("PS_PATHS") or "200")
local depth = tonumber(os.getenv("PS_PIPELINE") or "1")
local reqs = {}

function init(args)
    math.randomseed(os.time())
    for i = 1, n do
        reqs[i] = wrk.format("GET", string.format("/api/v1/items/%d/detail", i))
    end
end

function request()
    if depth == 1 then
        return reqs[math.random(n)]
    end
    local t = {}
    for k = 1, depth do
        t[k] = reqs[math.random(n)]
    end
    return table.concat(t)
end
EOF

# --- helpers -------------------------------------------------------------

# children of a master that are workers
worker_of() {
    local m=$1 p
    for p in $(pgrep -P "$m" 2>/dev/null); do
        if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q 'worker process'; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# CPU time of a process in ns (schedstat; stat's utime+stime otherwise)
tck=$(getconf CLK_TCK)
cpu_ns() {
    if [ -r "/proc/$1/schedstat" ]; then
        awk '{ print $1 }' "/proc/$1/schedstat"
    else
        sed 's/.*) //' "/proc/$1/stat" \
            | awk -v t="$tck" '{ printf "%.0f\n", ($12 + $13) * 1e9 / t }'
    fi
}

# utime and stime of a process, in clock ticks
cpu_us_ticks() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12, $13 }'
}

# requests counter of stub_status on PORT
requests() {
    local out
    out=$(exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /__status HTTP/1.0\r\nHost: x\r\n\r\n' >&3 && cat <&3)
    echo "$out" | awk 'f == 1 { print $3; exit } /accepts handled requests/ { f = 1 }'
}

wait_port() {
    local i
    for i in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "port $1 did not open" >&2
    return 1
}

zone_totals() {
    "$agg" --zone "$zone" --stats 2>/dev/null \
        | perl -MJSON::PP -0777 -ne 'my $t = decode_json($_)->{totals};
                                     print "$t->{seen} $t->{dropped}"'
}

# --- CPU-time benchmark --------------------------------------------------

echo "# pathstats module overhead  $(date -u +%FT%TZ)  build=$BUILD"
echo "# nginx $($NGINX -v 2>&1 | sed 's/.*\///'), 1 worker on CPU $NGINX_CPU;" \
     "wrk -t1 -c$CONNS + aggregator on CPU $LOAD_CPU;" \
     "$ROUNDS rounds x ${RUN_SECONDS}s; zone $zone"

main_conf "$WORK" "daemon off; master_process on; worker_cpu_affinity $(cpu_mask "$NGINX_CPU");" >"$WORK/nginx.conf"
none_conf "$WORK/none" >"$WORK/none/nginx.conf"

"$NGINX" -p "$WORK/" -c "$WORK/nginx.conf" 2>>"$WORK/nginx.stderr" &
master=$!
"$NGINX" -p "$WORK/none/" -c "$WORK/none/nginx.conf" 2>>"$WORK/none/nginx.stderr" &
master_none=$!
wait_port "$p_off"
wait_port "$p_none"
sleep 0.2
worker=$(worker_of "$master")
worker_none=$(worker_of "$master_none")
declare -A wpid=([off]=$worker [on]=$worker [accesslog]=$worker [none]=$worker_none)

taskset -c "$LOAD_CPU" "$agg" --zone "$zone" --log-file "$WORK/aggregator.log" &
agg_pid=$!
sleep 0.3
kill -0 "$agg_pid" || { echo "aggregator did not start:"; cat "$WORK/aggregator.log"; exit 1; }

results=$WORK/results.txt
: >"$results"

# run VARIANT CARD SECONDS -> appends "variant card round ns/req req/s agg_ns/req dropped"
run() {
    local v=$1 card=$2 secs=$3 round=$4 p=${port[$1]} w=${wpid[$1]}
    local r0 r1 c0 c1 a0 a1 t0 t1 z0 z1 us0 us1
    [ "$v" = accesslog ] && : >"$WORK/access.log"
    r0=$(requests "$p")
    us0=$(cpu_us_ticks "$w")
    c0=$(cpu_ns "$w")
    a0=$(cpu_ns "$agg_pid")
    z0=$(zone_totals)
    t0=$(now)
    PS_PATHS=$card PS_PIPELINE=$PIPELINE taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${secs}s" \
        -s "$WORK/paths.lua" "http://127.0.0.1:$p/" >"$WORK/wrk.out" 2>&1
    t1=$(now)
    c1=$(cpu_ns "$w")
    us1=$(cpu_us_ticks "$w")
    a1=$(cpu_ns "$agg_pid")
    r1=$(requests "$p")
    z1=$(zone_totals)
    [ "$round" = 0 ] && return 0
    awk -v v="$v" -v card="$card" -v round="$round" -v r="$((r1 - r0 - 1))" \
        -v c="$((c1 - c0))" -v a="$((a1 - a0))" -v t0="$t0" -v t1="$t1" \
        -v z0="$z0" -v z1="$z1" -v us0="$us0" -v us1="$us1" \
        'BEGIN { split(z0, x, " "); split(z1, y, " ");
                 split(us0, u, " "); split(us1, w, " ");
                 printf "%s %d %d %.1f %.0f %.1f %d %d %d\n", v, card, round,
                     c / r, r / (t1 - t0), a / r, y[2] - x[2],
                     w[1] - u[1], w[2] - u[2] }' >>"$results"
}

# warm up every variant (page faults, ring pages, log file)
for v in $VARIANTS; do
    run "$v" 200 1 0
done

bench_t0=$(now)
vs=($VARIANTS)
for round in $(seq 1 "$ROUNDS"); do
    for card in $CARDS; do
        # rotate the order every round
        n=${#vs[@]}
        for ((k = 0; k < n; k++)); do
            v=${vs[$(((k + round) % n))]}
            run "$v" "$card" "$RUN_SECONDS" "$round"
        done
    done
    printf '.' >&2
done
echo >&2

zt=$(zone_totals)

echo
echo "## worker CPU ns per request (median of $ROUNDS rounds; min..max)"
perl -e '
    my (%d, %rps, %agg, %drop, %spread, %ut, %st);
    open my $fh, "<", $ARGV[0] or die;
    while (<$fh>) {
        my ($v, $c, $r, $ns, $rps, $a, $dr, $u, $sy) = split;
        $ut{$c}{$v} += $u;
        $st{$c}{$v} += $sy;
        push @{ $d{$c}{$v} }, $ns;
        push @{ $rps{$c}{$v} }, $rps;
        push @{ $agg{$c}{$v} }, $a;
        $drop{$c}{$v} += $dr;
    }
    sub med { my @s = sort { $a <=> $b } @_; my $n = @s;
              $n % 2 ? $s[$n / 2] : ($s[$n / 2 - 1] + $s[$n / 2]) / 2 }
    my @vars = split " ", $ARGV[1];
    printf "%-8s %-10s %10s %18s %10s %12s %8s\n", "paths", "variant",
        "ns/req", "min..max", "req/s", "agg ns/req", "dropped";
    my $fail = 0;
    for my $c (sort { $a <=> $b } keys %d) {
        for my $v (@vars) {
            my $x = $d{$c}{$v} or next;
            my @s = sort { $a <=> $b } @$x;
            printf "%-8d %-10s %10.0f %8.0f..%-8.0f %10.0f %12s %8d\n", $c, $v,
                med(@s), $s[0], $s[-1], med(@{ $rps{$c}{$v} }),
                $v eq "on" ? sprintf("%.0f", med(@{ $agg{$c}{$v} })) : "-",
                $drop{$c}{$v};
        }
    }
    print "\n## ratios (median of per-round ratios; target on/off <= 1.02)\n";
    printf "%-8s %12s %16s %12s %10s\n", "paths", "on/off", "accesslog/off",
        "off/none", "on <= 1.02";
    for my $c (sort { $a <=> $b } keys %d) {
        my %r;
        for my $v (qw(on accesslog none)) {
            next unless $d{$c}{$v} && $d{$c}{off};
            my @x = map { $d{$c}{$v}[$_] / $d{$c}{off}[$_] }
                    0 .. $#{ $d{$c}{off} };
            @x = sort { $a <=> $b } @x;
            $r{$v} = med(@x);
            $spread{$c}{$v} = sprintf "%.3f..%.3f", $x[0], $x[-1];
        }
        my $ok = defined $r{on} ? ($r{on} <= 1.02 ? "yes" : "NO") : "-";
        $fail = 1 if $ok eq "NO";
        printf "%-8d %12s %16s %12s %10s\n", $c,
            map({ defined $r{$_} ? sprintf("%.4f", $r{$_}) : "-" }
                qw(on accesslog)),
            defined $r{none} ? sprintf("%.4f", 1 / $r{none}) : "-", $ok;
    }
    print "per-round ratio ranges:";
    for my $c (sort { $a <=> $b } keys %spread) {
        print " $c paths: on/off $spread{$c}{on}, accesslog/off $spread{$c}{accesslog};";
    }
    print "\n";
    # for the callgrind estimate: the off variant at the smallest
    # cardinality, ns/request and its user-space share
    my ($c0) = sort { $a <=> $b } keys %d;
    if ($d{$c0}{off} && $ut{$c0}{off} + $st{$c0}{off} > 0) {
        my $uf = $ut{$c0}{off} / ($ut{$c0}{off} + $st{$c0}{off});
        printf "worker user-space share of CPU time (off, %d paths): %.1f%%\n",
            $c0, 100 * $uf;
        open my $o, ">", $ARGV[2] or die;
        printf $o "%.1f %.4f\n", med(@{ $d{$c0}{off} }), $uf;
    }
' "$results" "$VARIANTS" "$WORK/off-profile"
echo "zone totals after the runs: seen dropped = $zt"
echo "CPU-time part: $(awk -v a="$(now)" -v b="$bench_t0" 'BEGIN { printf "%.0f", a - b }') s"

stop_pid "$agg_pid"; agg_pid=
stop_pid "$master"; master=
stop_pid "$master_none"; master_none=

# --- callgrind -------------------------------------------------------------

if [ "$CALLGRIND" = 1 ]; then
    echo
    echo "## callgrind: instructions per request (user space; nginx single process, 200 paths, ${CG_SECONDS}s of wrk -c4 each)"
    cg=$WORK/cg
    mkdir -p "$cg/tmp"
    chmod 0755 "$cg"
    printf '%-10s %10s %14s %16s %14s\n' variant requests "Ir/req" "log_handler/req" "vs off"
    off_ir=
    for v in off on accesslog; do
        rm -f "$zone"
        # one server on p_cg with the variant's settings
        case $v in
            off)       set_v="pathstats off;" ;;
            on)        set_v="pathstats on;" ;;
            accesslog) set_v="pathstats off; access_log $cg/access.log;" ;;
        esac
        cat >"$cg/nginx.conf" <<EOF
load_module $module;
pid $cg/nginx.pid;
error_log $cg/error.log warn;
daemon off;
master_process off;
events { worker_connections 1024; }
http {
$(common_http "$cg")
    pathstats_zone $zone size=512m;
    server {
        listen 127.0.0.1:$p_cg;
        $set_v
$(status_loc)
        location / { return 200 $body; }
    }
}
EOF
        rm -f "$cg/callgrind.out.$v"
        taskset -c "$NGINX_CPU" valgrind --tool=callgrind \
            --callgrind-out-file="$cg/callgrind.out.$v" \
            --collect-atstart=no \
            --toggle-collect=ngx_process_events_and_timers \
            "$NGINX" -p "$cg/" -c "$cg/nginx.conf" >"$cg/valgrind.$v.log" 2>&1 &
        master=$!
        for i in $(seq 1 400); do
            (exec 3<>"/dev/tcp/127.0.0.1/$p_cg") 2>/dev/null && break
            sleep 0.05
        done
        r0=$(requests "$p_cg")
        PS_PATHS=200 taskset -c "$LOAD_CPU" wrk -t1 -c4 -d"${CG_SECONDS}s" \
            -s "$WORK/paths.lua" "http://127.0.0.1:$p_cg/" >/dev/null 2>&1
        r1=$(requests "$p_cg")
        stop_pid "$master"; master=
        n=$((r1 - r0 - 1))
        f=$cg/callgrind.out.$v
        total=$(callgrind_annotate "$f" 2>/dev/null \
            | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
        hand=$(callgrind_annotate --inclusive=yes "$f" 2>/dev/null \
            | awk '/ngx_http_pathstats_log_handler/ { gsub(",", "", $1); print $1; exit }')
        [ -n "$total" ] || { echo "callgrind failed for $v:"; tail -5 "$cg/valgrind.$v.log"; continue; }
        [ -n "$off_ir" ] || off_ir=$(awk -v t="$total" -v n="$n" 'BEGIN { printf "%.2f", t / n }')
        [ "$v" = on ] && hand_on=$(awk -v h="${hand:-0}" -v n="$n" 'BEGIN { printf "%.1f", h / n }')
        awk -v v="$v" -v n="$n" -v t="$total" -v h="${hand:-0}" -v o="$off_ir" \
            'BEGIN { printf "%-10s %10d %14.0f %16.1f %14.4f\n", v, n, t / n,
                     h / n, (t / n) / o }'
    done
    echo "(callgrind sees user-space instructions only: the syscalls that"
    echo " dominate a request, and access_log's write(2), are not in Ir)"
    if [ -s "$WORK/off-profile" ] && [ -n "${hand_on:-}" ] && [ -n "$off_ir" ]; then
        read -r off_ns off_uf <"$WORK/off-profile"
        awk -v h="$hand_on" -v ir="$off_ir" -v ns="$off_ns" -v uf="$off_uf" \
            'BEGIN { ns_per_ir = ns * uf / ir; e = h * ns_per_ir;
                     printf "estimate: user-space time of off = %.0f ns for %d Ir (%.3f ns/Ir);\n", ns * uf, ir, ns_per_ir;
                     printf "the log handler ~ %.0f Ir ~ %.0f ns = %.2f%% of %.0f ns/request -> on/off ~ %.4f\n",
                         h, e, 100 * e / ns, ns, 1 + e / ns }'
    fi
fi

echo
echo "# total run time: $(awk -v a="$(now)" -v b="$started" 'BEGIN { printf "%.0f", a - b }') s"
