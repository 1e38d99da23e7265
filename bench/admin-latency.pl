#!/usr/bin/perl
# Latency of the admin location: /pathstats/api/paths with 10 000 paths
# in the snapshot, idle and while nginx is under load (target: p99 <=
# 2 ms).  See bench/README.md.
#
# One throwaway nginx and one pathstats-aggregator in the embedded mode
# (no PostgreSQL, no Redis), both on 127.0.0.1.
#
# 1. fill: one request each to /fill/00000 .. /fill/<PATHS-1> (pathstats
#    on, pathstats_normalize off), 100 pipelined on a keep-alive
#    connection at a time; then the script waits until the snapshot's
#    pagination.total is PATHS.
# 2. idle: REQUESTS sequential /api/paths requests on one keep-alive
#    connection, one every INTERVAL_MS (so that they span several
#    snapshot publications), REQUESTS / 5 for each parameter set in
#    turn, nothing else running.  The nginx workers' CPU time per
#    request (/proc/PID/schedstat) is the handler's cost, which other
#    jobs on the machine do not move much.
# 3. load: the same while wrk (-t1 -c CONNS, at most LOAD_SECONDS)
#    requests the same PATHS paths round robin, so that the snapshot
#    keeps its PATHS rows and the aggregator republishes it every
#    second.
#
# Each request is timed in this process from before its write to the
# last byte of the answer (Content-Length or chunked, parsed here).
# Pinning (PIN=1, the default): nginx worker i on CPU i mod 2 (one
# worker by default: the admin request shares it with the load), wrk and
# the aggregator on LOAD_CPU (1), this script on CLIENT_CPU (0).
#
# ADVERSARIAL=1 (issue 10, finding 4): every path is 368 bytes, the
# longest key nginx records, '/fill/' then 'a's then '/NNNNN', and the
# parameter sets are q values built against a substring search: 63 bytes
# that fail at the last one everywhere, 63 that match at once, one that
# fails in its middle, a NUL byte, one that matches a single row at its
# end, and one letter (every row).  The naive search spent 0.43-0.71 s
# on such a request; the target is the same p99 <= 2 ms.
#
# Environment: BUILD (build directory, default <repo>/build), PATHS
# (10000), REQUESTS (2000 per phase), LOAD_SECONDS (40, a bound on each
# phase; the load stops when the requests are done), INTERVAL_MS (5,
# 0: back to back), CONNS (8), WORKERS (1), PIN (1), LOAD_CPU (1),
# CLIENT_CPU (0), IDLE (1: run the idle phase), ADVERSARIAL (0), PORT
# (18710), ZONE_DIR (/dev/shm), KEEP (1 keeps the directory and the
# zone), MAX_ROWS (the aggregator's snapshot_max_rows, for PATHS above
# its default 10 000), SNAPSHOT (the zone's snapshot area; default 32m,
# 128m with ADVERSARIAL, about 3.2 KB a path above 10 000 paths).

use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/lib";
use PathStatsBench;     # first: it sets PS_BUILD_DIR and PS_KEEP
use PathStats::Test;
use JSON::PP ();
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);

$| = 1;

my $PATHS = $ENV{PATHS} // 10000;
my $REQUESTS = $ENV{REQUESTS} // 2000;
my $LOAD_SECONDS = $ENV{LOAD_SECONDS} // 40;
my $CONNS = $ENV{CONNS} // 8;
my $WORKERS = $ENV{WORKERS} // 1;
my $PIN = $ENV{PIN} // 1;
my $LOAD_CPU = $ENV{LOAD_CPU} // 1;
my $CLIENT_CPU = $ENV{CLIENT_CPU} // 0;
my $IDLE = $ENV{IDLE} // 1;
my $INTERVAL = ($ENV{INTERVAL_MS} // 5) / 1000;
my $PORT = $ENV{PORT} // 18710;
my $ADVERSARIAL = $ENV{ADVERSARIAL} // 0;
my $MAX_ROWS = $ENV{MAX_ROWS};
my $SNAPSHOT = $ENV{SNAPSHOT}
               // ($ADVERSARIAL ? '128m'
                   : $PATHS > 10000 ? int($PATHS * 3.2 / 1024 + 1) . 'm'
                   : '32m');
my $TARGET_MS = 2;

# the path of fill request $i, and its length in wrk's Lua
my $FILL_PAD = 368 - length('/fill/') - length('/00000');
sub fill_path {
    my ($i) = @_;
    return sprintf '/fill/%05d', $i unless $ADVERSARIAL;
    return '/fill/' . ('a' x $FILL_PAD) . sprintf('/%05d', $i);
}

my @SETS = $ADVERSARIAL ? (
    [ 'a*62 b',    '/pathstats/api/paths?q=' . ('a' x 62) . 'b' ],
    [ 'a*63',      '/pathstats/api/paths?q=' . ('a' x 63) ],
    [ 'a*31 b a*31', '/pathstats/api/paths?q=' . ('a' x 31) . 'b'
                     . ('a' x 31) ],
    [ '%00',       '/pathstats/api/paths?q=%00' ],
    [ 'end',       '/pathstats/api/paths?q=' . ('A' x 57) . '/09999' ],
    [ 'a',         '/pathstats/api/paths?q=a' ],
) : (
    [ 'default',   '/pathstats/api/paths' ],
    [ 'sort=p95',  '/pathstats/api/paths?sort=p95' ],
    [ 'q=',        '/pathstats/api/paths?q=/fill/0042' ],
    [ 'page=50',   '/pathstats/api/paths?page=50' ],
    [ 'limit=200', '/pathstats/api/paths?limit=200' ],
);

my $JSON = JSON::PP->new->utf8;


# Processes ----------------------------------------------------------------

my @WRK;                      # pids of wrk runs still going

END {
    for my $pid (@WRK) {
        kill 'TERM', $pid;
        waitpid $pid, 0;
    }
}

sub pin {
    my ($cpu, $pid) = @_;
    return unless $PIN;
    system("taskset -a -pc $cpu $pid >/dev/null") == 0
        or die "taskset -a -pc $cpu $pid failed\n";
}

# wrk round robin over /fill/00000 .. /fill/<PATHS-1>; returns its pid,
# its output goes to $out.
sub start_wrk {
    my ($threads, $conns, $seconds, $out) = @_;
    my $lua = test_dir() . '/fill.lua';
    spew($lua, <<"LUA") unless -e $lua;
local tid = 0
local nthreads = $threads
setup = function(thread)
    thread:set("id", tid)
    tid = tid + 1
end
local k = 0
local pad = ""
if $ADVERSARIAL == 1 then pad = string.rep("a", $FILL_PAD) .. "/" end
request = function()
    local i = (id + nthreads * k) % $PATHS
    k = k + 1
    return wrk.format("GET", string.format("/fill/%s%05d", pad, i))
end
LUA
    my @cmd = ('wrk', "-t$threads", "-c$conns", "-d${seconds}s", '-s', $lua,
               "http://127.0.0.1:$PORT/");
    unshift @cmd, 'taskset', '-c', $LOAD_CPU if $PIN;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out;
        open STDERR, '>&', \*STDOUT;
        exec @cmd or _exit(127);
    }
    push @WRK, $pid;
    return $pid;
}

sub wait_wrk {
    my ($pid) = @_;
    waitpid $pid, 0;
    @WRK = grep { $_ != $pid } @WRK;
    return $?;
}

sub stop_wrk {
    my ($pid) = @_;
    kill 'INT', $pid;            # wrk prints its summary on SIGINT
    my $deadline = time + 5;
    while (time < $deadline) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            @WRK = grep { $_ != $pid } @WRK;
            return;
        }
        sleep 0.05;
    }
    kill 'KILL', $pid;
    wait_wrk($pid);
}

sub wrk_rate {
    my ($out) = @_;
    my ($rps) = (slurp($out) // '') =~ m{Requests/sec:\s+([\d.]+)};
    return $rps // 0;
}


# The bench ----------------------------------------------------------------

my $affinity = $PIN ? 'worker_cpu_affinity '
                      . join(' ', map { $_ % 2 ? '10' : '01' }
                             0 .. $WORKERS - 1) . ";\n"
             : '';

# the zone on tmpfs, removed at exit (PathStatsBench)
my $ZONE = bench_zone();

my $nginx_conf = <<'EOF';
http {
    pathstats_zone ZONE size=64m snapshot=SNAPSHOT;
    large_client_header_buffers 4 8k;
    access_log off;

    server {
        listen 127.0.0.1:%%PORT%%;
        keepalive_requests 1000000;

        location /pathstats/ {
            pathstats_admin;
            add_header X-Worker-Pid $pid always;
        }
        location /fill/ {
            pathstats on;
            pathstats_normalize off;
            return 200 "ok\n";
        }
    }
}
EOF
$nginx_conf =~ s/\bZONE\b/$ZONE/;
# 10 000 rows in three windows: ~12 MB a buffer, ~40 MB with 368-byte
# paths
$nginx_conf =~ s/\bSNAPSHOT\b/$SNAPSHOT/;
start_nginx($affinity . $nginx_conf, workers => $WORKERS, port => $PORT);

# PATHS near the default max_keys_per_hour (100 000) raise it: the
# paths beyond it would count under {other}
my @agg_args = ('--zone', $ZONE);
if ($MAX_ROWS || $PATHS + 1000 > 100000) {
    my $conf = test_dir() . '/agg.conf';
    spew($conf, "zone = $ZONE\n"
                . ($MAX_ROWS ? "snapshot_max_rows = $MAX_ROWS\n" : '')
                . ($PATHS + 1000 > 100000
                   ? 'max_keys_per_hour = ' . ($PATHS + 1000) . "\n" : ''));
    @agg_args = ('-c', $conf);
}
my $agg = start_aggregator(@agg_args);
pin($LOAD_CPU, $agg->{pid});
pin($CLIENT_CPU, $$);

my $admin = ka_new($PORT);

sub api {
    my ($path) = @_;
    my ($st, $body) = ka_get($admin, $path);
    return ($st, eval { $JSON->decode($body) } // {});
}

wait_until(sub { (eval { ka_get($admin, '/pathstats/health') })[0] // 0
                 == 200 }, 10)
    or die "the aggregator did not make /pathstats/health 200\n";

# 1. fill

my $t = time;
for (my $i = 0; $i < $PATHS; $i += 100) {
    my $n = $PATHS - $i < 100 ? $PATHS - $i : 100;
    my @r = ka_pipeline($admin, map { fill_path($_) } $i .. $i + $n - 1);
    die "fill: status $r[0]\n" if grep { $_ != 200 } @r;
}
my $sent = time - $t;
my $total = wait_until(sub {
    my ($st, $d) = api('/pathstats/api/paths?limit=1');
    my $n = $d->{pagination}{total} // 0;
    return $n >= $PATHS ? $n : 0;
}, 20, 0.2);
die "the snapshot did not reach $PATHS paths\n" unless $total;
printf "fill: %d requests sent in %.1f s (pipelined, 100 a write), "
       . "%d paths in the snapshot after %.1f s\n", $PATHS, $sent, $total,
       time - $t;

# 2., 3. the timed requests

# % of @$l over the target
sub over {
    my ($l) = @_;
    return 0 unless @$l;
    return 100 * (grep { $_ * 1000 > $TARGET_MS } @$l) / @$l;
}

# CPU time (ns) of all the nginx workers
sub workers_cpu_ns {
    my $ns = 0;
    $ns += cpu_ns($_) for worker_pids();
    return $ns;
}

sub worker_cpu {
    my ($pid) = @_;
    my $stat = slurp("/proc/$pid/stat") // return '?';
    $stat =~ s/.*\)\s+//s;
    return (split ' ', $stat)[36] // '?';    # field 39: last CPU
}

sub measure {
    my ($name) = @_;
    my (%lat, %versions, %workers, %cpu);
    my $t0 = time;
    my $agg0 = cpu_ns($agg->{pid});
    my $per_set = int($REQUESTS / @SETS) || 1;
    # one block of requests per parameter set, so that the workers' CPU
    # time can be charged to it
    for my $s (@SETS) {
        my ($set, $path) = @$s;
        my $w0 = workers_cpu_ns();
        my $n = 0;
        for my $i (1 .. $per_set) {
            last if time - $t0 > $LOAD_SECONDS - 2;
            my $t1 = time;
            my ($st, $body) = ka_get($admin, $path);
            my $t2 = time;
            die "$path: status $st\n" unless $st == 200;
            $workers{ $admin->{pid} // '?' }++;
            push @{ $lat{$set} }, $t2 - $t1;
            $versions{$1} = 1 if $body =~ /"version"\s*:\s*(\d+)/;
            $n++;
            my $left = $t1 + $INTERVAL - time;
            sleep $left if $left > 0;
        }
        $cpu{$set} = $n ? (workers_cpu_ns() - $w0) / $n / 1e6 : 0;
    }
    my $secs = time - $t0;
    my @all = sort { $a <=> $b } map { @$_ } values %lat;
    printf "%s: %d requests in %.1f s, %d snapshot versions seen, "
           . "aggregator CPU %.0f%%, served by worker %s\n", $name,
           scalar @all, $secs, scalar keys %versions,
           (cpu_ns($agg->{pid}) - $agg0) / 1e7 / $secs,
           join(', ', map { "$_ (CPU " . worker_cpu($_) . ")" }
                      sort keys %workers);
    printf "  %-10s %6s %7s %7s %7s %7s %7s %9s\n", 'params', 'n', 'p50',
           'p99', 'max', ">${TARGET_MS}ms", 'bytes', 'nginx-cpu';
    for my $s (@SETS) {
        my @l = sort { $a <=> $b } @{ $lat{ $s->[0] } || [] };
        my ($st, $body) = ka_get($admin, $s->[1]);
        printf "  %-10s %6d %7.3f %7.3f %7.3f %6.1f%% %7d %9s\n", $s->[0],
               scalar @l,
               map({ ($_ // 0) * 1000 } pct(\@l, 50), pct(\@l, 99), $l[-1]),
               over(\@l), length $body,
               $name eq 'idle' ? sprintf('%.3f', $cpu{ $s->[0] }) : '-';
    }
    printf "  %-10s %6d %7.3f %7.3f %7.3f %6.1f%%   (ms)\n", 'overall',
           scalar @all,
           map({ ($_ // 0) * 1000 } pct(\@all, 50), pct(\@all, 99),
               $all[-1]), over(\@all);
    return pct(\@all, 99);
}

# the answers are what they claim to be
for my $s (@SETS) {
    my ($st, $d) = api($s->[1]);
    die "$s->[1]: status $st\n" unless $st == 200;
    die "$s->[1]: total $d->{pagination}{total}, want $PATHS\n"
        if !$ADVERSARIAL && $s->[0] ne 'q='
           && $d->{pagination}{total} != $PATHS;
}

printf "GET /pathstats/api/paths, %d paths%s, one keep-alive connection, "
       . "pinning %s\n", $total,
       $ADVERSARIAL ? ' of 368 bytes, adversarial q' : '',
       $PIN ? "nginx workers on CPUs " . join(',', map { $_ % 2 }
                                                  0 .. $WORKERS - 1)
              . ", wrk and the aggregator on CPU $LOAD_CPU, "
              . "this client on CPU $CLIENT_CPU" : 'off';

my $idle_p99;
$idle_p99 = measure('idle') if $IDLE;

my $load_out = test_dir() . '/wrk-load.out';
my $wrk = start_wrk(1, $CONNS, $LOAD_SECONDS, $load_out);
sleep 1;                          # let the load settle
my $load_p99 = measure("load (wrk -t1 -c$CONNS on /fill/*)");
stop_wrk($wrk);
printf "  wrk during the load phase: %.0f req/s\n", wrk_rate($load_out);

my ($st, $d) = api('/pathstats/api/paths?limit=1');
printf "after the load: %d paths, snapshot age %.2f s\n",
       $d->{pagination}{total} // 0, $d->{metadata}{age_seconds} // -1;
printf "target p99 <= %d ms under load: %s (p99 %.3f ms%s)\n", $TARGET_MS,
       $load_p99 * 1000 <= $TARGET_MS ? 'MET' : 'NOT MET', $load_p99 * 1000,
       defined $idle_p99 ? sprintf(', idle %.3f ms', $idle_p99 * 1000) : '';

my @bad = grep { /\[(alert|emerg)\]/ }
          split /\n/, slurp(error_log_path()) // '';
print "nginx error log: ", (@bad ? "\n" . join("\n", @bad) : 'clean'), "\n";
exit 0;
