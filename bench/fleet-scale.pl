#!/usr/bin/perl
# A fleet of K nodes on one PostgreSQL and a local Redis Cluster (3
# masters + 3 replicas): flush latency and store CPU against K (issue 16,
# item 5).  Targets on the 2-core machine: >= 10 nodes at 10 000 keys a
# node a second with flush p99 <= 1 s, and the Redis writes spread over
# every master (per-master operations within 2x of each other).
#
#   bench/fleet-scale.pl                 # K = 1,2,5,10, 3 runs (~7 min)
#   bench/fleet-scale.pl --quick         # K = 1,10, 1 run of 8 s (~1 min)
#   bench/fleet-scale.pl --k 1,5,10,15 --runs 3 --window 15
#
# A node is a real pathstats-aggregator (node_id nNN, flush_interval 1s,
# snapshot_interval 5s, every other setting its default, the fleet
# thread included) on a zone of its own on /dev/shm (2 rings of 65 536
# records), fed by one bench-ring-producer --sequential at
# RATE records/s over KEYS keys (defaults 10 000 and 10 000): every key
# of the node is touched once a second, so every flush of every sink
# holds 10 000 distinct keys.  All nodes serve the same 10 000 paths (a
# fleet behind one load balancer), so PostgreSQL holds 10 000 rows per
# node and hour, Redis 10 000 fields per hour fleet-wide.
#
# A run: the K aggregators and producers start together; after WARMUP
# seconds (the first flushes insert the rows, later ones update them)
# the CPU counters are read and the masters' stats reset; WINDOW seconds
# later they are read again.  The producers then stop, and the run checks
# that PostgreSQL holds exactly what each producer wrote (sum(requests)
# per node, KEYS rows per node) and the cluster's totals their sum; then
# the aggregators stop and their event=flush lines (log_level debug: the
# time from a flush's hand-over to its flusher thread until the main loop
# collected its result; flushes of at least one key) inside the window
# give the latency per sink.  Between runs the aggregators' backends
# are gone (terminated if need be), the tables truncated, a CHECKPOINT
# taken and the masters flushed.  Runs go K by K, round after round,
# so slow moments of the shared machine spread over every K.
#
#   store CPU   PostgreSQL: postmaster + its live children (schedstat) +
#               the children it reaped (cutime/cstime), per second of
#               the window; "fleet" is the part of the backends whose
#               last statement was the fleet thread's (heartbeat, nodes,
#               the fleet's rows of the last two hours), "flushes" the
#               sinks' (COPY, UPDATE, COMMIT); the rest is trends,
#               silences, lifecycle status and the background processes.
#               Redis: INFO cpu (user + sys) of each master, and of the
#               replicas together.
#   ops         per master, INFO commandstats after CONFIG RESETSTAT: the
#               commands it ran (those of scripts included; the scripts
#               use variadic commands, so a command carries many fields);
#               ratio max/min over the masters, also of the scripts
#               (EVALSHA/EVAL) alone and of the masters' CPU, the ratio
#               that follows the fields written
#   busy        the machine's non-idle share of both cores (/proc/stat):
#               the K aggregators and producers, which a real fleet runs
#               on K boxes, share these 2 cores with the stores here
#   dropped     records the producers could not write (ring full)
#
# Each figure of the table is the median of the runs with its range.
# Options (or environment, upper case): --k LIST, --runs N, --window S,
# --warmup S, --keys N, --rate R, --fleet-interval T (the aggregators'
# fleet_interval; default: theirs, 2s), --snapshot-interval T (5s: a
# node's local snapshot, which costs its own box and not the stores,
# less often than the default 500ms, since the K nodes share 2 cores
# here), --driver (each node a bench-fleet-driver: the node's two sinks
# and its fleet thread, the aggregator's own code, without rings, live
# windows or snapshots: what K nodes cost the stores rather than what K
# aggregators cost these two cores; the exactness checks are the same),
# --view-bytes N (--driver: the size of the own view each heartbeat
# carries; 290000, a real node's at 10 000 keys).  VERBOSE=1 prints each
# PostgreSQL process's CPU and role.
# BUILD, KEEP as for the other benches.  Run as root (PostgreSQL runs
# as nobody); loopback only; it stops what it started.

use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/lib";
use PathStatsBench;     # first: it sets PS_BUILD_DIR and PS_KEEP
use PathStats::Test;
use PathStats::Cluster;
use Getopt::Long qw(GetOptions);
use POSIX qw(strftime);
use Test::More;
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);

$| = 1;

# --quick: smaller defaults, which options and the environment override
my $quick = grep { $_ eq '--quick' } @ARGV;
my %o = (k => $ENV{K} // ($quick ? '1,10' : '1,2,5,10'),
         runs => $ENV{RUNS} // ($quick ? 1 : 3),
         window => $ENV{WINDOW} // ($quick ? 8 : 15),
         warmup => $ENV{WARMUP} // ($quick ? 4 : 5),
         keys => $ENV{KEYS} // 10000, rate => $ENV{RATE} // 10000,
         fleet_interval => $ENV{FLEET_INTERVAL},
         snapshot_interval => $ENV{SNAPSHOT_INTERVAL} // '5s', quick => 0,
         driver => $ENV{DRIVER} // 0,
         view_bytes => $ENV{VIEW_BYTES} // 290000);
GetOptions(\%o, 'k=s', 'runs=i', 'window=f', 'warmup=f', 'keys=i',
           'rate=f', 'fleet-interval=s' => \$o{fleet_interval},
           'snapshot-interval=s' => \$o{snapshot_interval}, 'quick',
           'driver', 'view-bytes=i' => \$o{view_bytes})
    or die "usage: $0 [--quick] [--k 1,2,5,10] [--runs 3] [--window 15]"
           . " [--warmup 5] [--keys 10000] [--rate 10000]"
           . " [--fleet-interval 2s] [--driver [--view-bytes N]]\n";
my @K = split /,/, $o{k};

my $prod = "$ENV{PS_BUILD_DIR}/bench/bench-ring-producer";
-x $prod or die "missing $prod: build first\n";
my $driver = "$ENV{PS_BUILD_DIR}/bench/bench-fleet-driver";
-x $driver or die "missing $driver: build first\n";
my $tck = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;

my $started = time;
my @load0 = (split ' ', slurp('/proc/loadavg'))[0 .. 2];
printf "# fleet-scale  %s  %d cores, load %s  build=%s\n",
       strftime('%FT%TZ', gmtime), scalar(() = slurp('/proc/cpuinfo')
                                           =~ /^processor/mg),
       "@load0", $ENV{PS_BUILD_DIR};
printf "# K = %s, %d run(s) each, window %g s after %g s of warm-up;"
       . " %d keys a node, %g records/s a node (--sequential);"
       . " flush_interval 1s, fleet_interval %s\n",
       "@K", $o{runs}, $o{window}, $o{warmup}, $o{keys}, $o{rate},
       $o{fleet_interval} // 'default (2s)';

# the stores -----------------------------------------------------------------

my $maxk = (sort { $b <=> $a } @K)[0];
my $pg = start_postgres(settings => {
    shared_buffers => '128MB', max_connections => 20 + 8 * $maxk,
    max_wal_size => '1GB' });
my ($mrc, undef, $merr) = run_aggregator('--postgres', $pg, '--migrate');
die "--migrate failed: $merr" if $mrc != 0;
my $pg_pid = (split /\n/, slurp(test_dir() . '/pg/data/postmaster.pid'))[0];
# Redis's default node timeout (the harness's 1 s makes a master that an
# overloaded machine starves look failed, and its replica take over)
my $redis = start_redis_cluster(masters => 3, replicas => 1,
                                node_timeout => 15000);
my (@masters, @replicas);

# the roles now: a failover may have swapped a master and its replica
sub cluster_roles {
    cluster_wait_ok(60) or die "the Redis Cluster is not ok\n";
    @masters = cluster_masters();
    @replicas = map { $_->[0] } grep { $_->[1] eq 'slave' } cluster_nodes();
}
cluster_roles();
printf "# PostgreSQL %s (shared_buffers 128MB, fsync on), Redis Cluster"
       . " masters %s, replicas %s\n",
       scalar psql_query('SHOW server_version'), "@masters", "@replicas";

# measuring ------------------------------------------------------------------

# ticks of utime, stime, cutime, cstime and the parent of a process
sub stat_of {
    my ($pid) = @_;
    my $s = slurp("/proc/$pid/stat") // return;
    $s =~ s/^.*\)\s+//s;
    my @f = split ' ', $s;
    return { ppid => $f[1], ticks => $f[11] + $f[12],
             child_ticks => $f[13] + $f[14] };
}

# PostgreSQL's CPU so far: { pid => ns } of the postmaster and its live
# children, plus 'reaped' => ns of the children it waited for
sub pg_cpu {
    my %c;
    opendir my $dh, '/proc' or die "/proc: $!";
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        my $st = stat_of($pid) or next;
        next unless $pid == $pg_pid || $st->{ppid} == $pg_pid;
        $c{$pid} = cpu_ns($pid);
        $c{reaped} = $st->{child_ticks} * 1e9 / $tck if $pid == $pg_pid;
    }
    return \%c;
}

# INFO cpu of a Redis node: user + sys seconds
sub redis_cpu {
    my ($port) = @_;
    my $info = cluster_at($port, 'INFO', 'cpu') // '';
    my ($u) = $info =~ /used_cpu_user:([\d.]+)/;
    my ($s) = $info =~ /used_cpu_sys:([\d.]+)/;
    return ($u // 0) + ($s // 0);
}

# per master: [commands (scripts' included), scripts] since RESETSTAT
sub redis_ops {
    my %ops;
    for my $port (@masters) {
        my $info = cluster_at($port, 'INFO', 'commandstats') // '';
        my ($all, $scripts) = (0, 0);
        while ($info =~ /^cmdstat_([^:]+):calls=(\d+)/mg) {
            my ($cmd, $calls) = ($1, $2);
            next if $cmd eq 'info' || $cmd eq 'config';   # this bench's own
            $all += $calls;
            $scripts += $calls if $cmd =~ /^eval/;
        }
        $ops{$port} = [$all, $scripts];
    }
    return \%ops;
}

sub iso_time {
    my ($y, $mo, $d, $h, $mi, $s) =
        $_[0] =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):([\d.]+)Z/ or return;
    return timegm(0, $mi, $h, $d, $mo - 1, $y) + $s;
}

sub med {
    my @v = sort { $a <=> $b } grep { defined } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

# the fleet's backends: pid => 'fleet' or 'flush', by their last statement
sub pg_roles {
    my %role;
    for my $r (psql_query("SELECT pid, backend_type, translate(left(query,"
                          . " 2000), E'\\n\\r|', '   ') FROM"
                          . " pg_stat_activity WHERE pid <>"
                          . " pg_backend_pid()")) {
        my ($pid, $type, $q) = @$r;
        print "# backend $pid $type: $q\n" if $ENV{VERBOSE};
        next unless $type eq 'client backend';
        # the fleet thread: its heartbeat, the nodes, the fleet view's
        # lock (7065746873746176) and row, the fleet's rows; the sink:
        # the hourly rows' COPY, UPDATE, COMMIT; the rest: silences,
        # lifecycle status, trends
        $role{$pid} = $q =~ /pathstats_fleet_nodes|pathstats_fleet_view
                             |7065746873746176|FROM\s+pathstats_hourly
                             \s+WHERE\s+hour\s*>=\s*to_timestamp\(\$1/x
                      ? 'fleet'
                    : $q =~ /pathstats_silences|pg_partition_tree|unnest\(/
                      ? 'other' : 'flush';
    }
    return \%role;
}

# the machine's busy and total ticks so far (/proc/stat, all cores)
sub busy_ticks {
    my ($cpu) = (slurp('/proc/stat') // '') =~ /^cpu\s+(.*)$/m;
    my @t = split ' ', $cpu // '';
    my $total = 0;
    $total += $_ for @t[0 .. 7];
    return [$total - $t[3] - $t[4], $total];     # idle, iowait
}

sub sleep_until {
    my $d = $_[0] - time;
    sleep $d if $d > 0;
}

sub reset_stores {
    # a backend of a stopped aggregator may still be running its last
    # statement (a backlog's flush after a run that fell behind) and hold
    # the locks of its node_id, which the next run reuses; then a
    # checkpoint, so that no run starts with the last one's dirty pages
    psql_query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
               . " WHERE application_name = 'pathstats-aggregator'");
    wait_until(sub {
        !psql_query("SELECT count(*) FROM pg_stat_activity"
                    . " WHERE application_name = 'pathstats-aggregator'")
    }, 30, 0.2);
    psql_query('TRUNCATE pathstats_hourly, pathstats_watermark,'
               . ' pathstats_nodes, pathstats_fleet_nodes');
    psql_query('CHECKPOINT', timeout => 120);
    cluster_roles();
    for my $port (@masters) {
        my $r = cluster_at($port, 'FLUSHALL');
        die "FLUSHALL on $port: $r->{error}\n" if ref $r eq 'HASH';
    }
}

# one run of K nodes; returns its figures
sub run_fleet {
    my ($k, $round) = @_;
    my $dir = test_dir();
    my $dur = $o{warmup} + $o{window} + 1;
    my (@nodes, %r);

    reset_stores();
    for my $i (1 .. $k) {
        my $id = sprintf 'n%02d', $i;
        my %conf = (postgres => $pg, redis => $redis, node_id => $id,
                    flush_interval => '1s', log_level => 'debug');
        if ($o{driver}) {
            # --driver: the node's two sinks alone (bench/fleet-driver.c)
            my $conf = write_aggregator_conf("fleet-$id", %conf,
                                             zone => '/nonexistent');
            push @nodes, { id => $id, conf => $conf };
            next;
        }
        my $zone = bench_zone();
        my ($rc, $out, $err) = run_cmd([$prod, '--zone', $zone, '--rings', 2,
                                        '--capacity', 65536,
                                        '--create-only']);
        die "zone $zone: $err" if $rc != 0;
        my $conf = write_aggregator_conf(
            "fleet-$id", %conf, zone => $zone,
            snapshot_interval => $o{snapshot_interval},
            defined $o{fleet_interval}
                ? (fleet_interval => $o{fleet_interval}) : ());
        push @nodes, { id => $id, zone => $zone,
                       agg => start_aggregator({ name => "agg-$k-$round-$id" },
                                               '-c', $conf) };
    }
    my $t0 = time;
    for my $i (0 .. $#nodes) {
        my $n = $nodes[$i];
        $n->{out} = "$dir/producer-$k-$round-$n->{id}.out";
        unlink $n->{out};
        if ($o{driver}) {
            my $err = "$dir/driver-$k-$round-$n->{id}.err";
            $n->{prod} = PathStats::Test::spawn(
                [$driver, '-c', $n->{conf}, '--keys', $o{keys}, '--rate',
                 $o{rate}, '--duration', $dur, '--seed', $i + 1,
                 '--view-bytes', $o{view_bytes}],
                stdout => $n->{out}, stderr => $err);
            $n->{agg} = { pid => $n->{prod}, stderr => $err };
            next;
        }
        $n->{prod} = PathStats::Test::spawn(
            [$prod, '--zone', $n->{zone}, '--paths', $o{keys}, '--rate',
             $o{rate}, '--sequential', '--duration', $dur, '--seed', $i + 1],
            stdout => $n->{out}, stderr => $n->{out});
    }

    sleep_until($t0 + $o{warmup});
    my $ws = time;
    cluster_at($_, 'CONFIG', 'RESETSTAT') for @masters;
    my $pg0 = pg_cpu();
    my %r0 = map { $_ => redis_cpu($_) } @masters, @replicas;
    my %a0 = map { $_->{id} => cpu_ns($_->{agg}{pid}) } @nodes;
    my $busy0 = busy_ticks();
    my $lsn0 = psql_query('SELECT pg_current_wal_lsn()');

    sleep_until($ws + $o{window});
    my $pg1 = pg_cpu();
    my %r1 = map { $_ => redis_cpu($_) } @masters, @replicas;
    my %a1 = map { $_->{id} => cpu_ns($_->{agg}{pid}) } @nodes;
    my $ops = redis_ops();
    $r{failover} = join(' ', cluster_masters()) ne "@masters" ? 1 : 0;
    my $roles = pg_roles();
    my $busy1 = busy_ticks();
    my $we = time;
    $r{view_bytes} = psql_query('SELECT coalesce(avg(length(view)), 0)::bigint'
                                . ' FROM pathstats_fleet_nodes') // 0;
    my $w = $we - $ws;
    $r{wal} = psql_query("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(),"
                         . " '$lsn0')") / $w / 1e6;

    my %pgc = (fleet => 0, flush => 0, other => 0, background => 0);
    for my $pid (keys %$pg1) {
        my $d = $pg1->{$pid} - ($pg0->{$pid} // 0);
        printf "# pg %s: %.3f s/s (%s)\n", $pid, $d / 1e9 / $w,
               $roles->{$pid} // 'background' if $ENV{VERBOSE};
        $pgc{ $roles->{$pid} // 'background' } += $d / 1e9 / $w;
    }
    $r{pg_cpu} = $pgc{fleet} + $pgc{flush} + $pgc{other}
                 + $pgc{background};
    $r{pg_fleet} = $pgc{fleet};
    $r{pg_flush} = $pgc{flush};
    $r{redis_cpu} = [map { ($r1{$_} - $r0{$_}) / $w } @masters];
    $r{replica_cpu} = 0;
    $r{replica_cpu} += ($r1{$_} - $r0{$_}) / $w for @replicas;
    my @all = map { $ops->{$_}[0] } @masters;
    my @scr = map { $ops->{$_}[1] } @masters;
    $r{ops_ratio} = (sort { $b <=> $a } @all)[0]
                    / ((sort { $a <=> $b } @all)[0] || 1);
    $r{scripts_ratio} = (sort { $b <=> $a } @scr)[0]
                        / ((sort { $a <=> $b } @scr)[0] || 1);
    $r{ops_per_s} = [map { $_ / $w } @all];
    my @rc = sort { $a <=> $b } @{ $r{redis_cpu} };
    $r{cpu_ratio} = $rc[-1] / ($rc[0] || 1e-9);
    $r{busy} = ($busy1->[0] - $busy0->[0])
               / (($busy1->[1] - $busy0->[1]) || 1);
    $r{agg_cpu} = med(map { ($a1{$_} - $a0{$_}) / 1e9 / $w } keys %a1);

    # the producers finish; every record must arrive, exactly
    my ($written, $dropped) = (0, 0);
    my %want;
    for my $n (@nodes) {
        PathStats::Test::wait_pid($n->{prod}, $dur + ($o{driver} ? 60 : 10))
            // die "producer of $n->{id} did not stop\n"
                   . join("\n", grep { !/event=(sink_)?flush / }
                                 split /\n/, slurp($n->{agg}{stderr}) // '');
        my ($j) = grep { /^\{/ } split /\n/, slurp($n->{out}) // '';
        my ($rec) = ($j // '') =~ /"recorded":(\d+)/;
        my ($drop) = ($j // '') =~ /"dropped":(\d+)/;
        $drop //= 0 if $o{driver};
        die "producer of $n->{id}: $j\n" unless defined $rec;
        $want{ $n->{id} } = $rec;
        $written += $rec;
        $dropped += $drop;
    }
    $r{dropped} = $dropped;
    $r{written} = $written;
    my $got;
    wait_until(sub {
        $got = { map { $_->[0] => [$_->[1], $_->[2]] }
                 psql_query('SELECT node_id, sum(requests), count(*)'
                            . ' FROM pathstats_hourly GROUP BY 1') };
        !grep { ($got->{$_}[0] // 0) != $want{$_} } keys %want;
    }, 90, 0.5);
    my $exact_pg = !grep { ($got->{$_}[0] // 0) != $want{$_} } keys %want;
    # a run that crosses an hour has a node's keys in two hours
    my $rows_ok = !grep { ($got->{$_}[1] // 0) % $o{keys} } keys %want;
    my $redis_sum;
    wait_until(sub {
        $redis_sum = cluster_hash_sum('totals')->{requests} // 0;
        $redis_sum == $written;
    }, 90, 0.5);
    ok($exact_pg, "K=$k run $round: PostgreSQL holds every node's records"
                  . " exactly ($written)")
        or diag(join ' ', map { "$_: want $want{$_} got "
                                . ($got->{$_}[0] // 0) } sort keys %want);
    ok($rows_ok, "K=$k run $round: $o{keys} rows an hour per node")
        or diag(join ' ', map { "$_: " . ($got->{$_}[1] // 0) . ' rows' }
                          sort keys %want);
    is($redis_sum, $written, "K=$k run $round: the cluster's totals are"
                             . " their sum");
    $r{row_bytes} = psql_query("SELECT sum(pg_total_relation_size(relid))"
                               . " / greatest(1, (SELECT count(*) FROM"
                               . " pathstats_hourly)) FROM"
                               . " pg_partition_tree('pathstats_hourly')");
    $r{exact} = $exact_pg && $rows_ok && $redis_sum == $written ? 1 : 0;

    # the flushes inside the window, per sink
    my %lat = (postgres => [], redis => [], pg_thread => []);
    my @keys;
    kill 'TERM', $_->{agg}{pid} for grep { !$o{driver} } @nodes;
    for my $n (@nodes) {
        stop_aggregator($n->{agg}) unless $o{driver};
        for my $line (split /\n/, slurp($n->{agg}{stderr}) // '') {
            # the PostgreSQL sink's own time, BEGIN to COMMIT, in its
            # flusher thread (no wait for the main loop to collect it)
            if ($line =~ /event=sink_flush\ sink=postgres\ keys=(\d+)
                          .*duration_ms=([\d.]+)/x && $1 > 0) {
                my $ms = $2;
                my $t = iso_time($line) // next;
                push @{ $lat{pg_thread} }, $ms if $t >= $ws && $t <= $we;
                next;
            }
            next unless $line =~ /event=flush\ sink=(\w+)\ keys=(\d+)
                                  .*duration_ms=([\d.]+)/x && $2 > 0;
            my ($sink, $nk, $ms) = ($1, $2, $3);
            my $t = iso_time($line) // next;
            next unless $t >= $ws && $t <= $we;
            push @{ $lat{$sink} }, $ms;
            push @keys, $nk;
        }
        unlink $n->{zone} if $n->{zone};
    }
    # --sequential: a second's records touch every key once (at random,
    # 10 000 records would touch about 6 300 of 10 000 keys)
    is(med(@keys), $o{keys}, "K=$k run $round: a flush holds $o{keys}"
                             . " distinct keys (median)");
    for my $sink (qw(postgres redis pg_thread)) {
        my @s = sort { $a <=> $b } @{ $lat{$sink} };
        $r{"${sink}_n"} = scalar @s;
        $r{"${sink}_p50"} = pct(\@s, 50);
        $r{"${sink}_p99"} = pct(\@s, 99);
        $r{"${sink}_max"} = $s[-1];
    }
    $r{load} = (split ' ', slurp('/proc/loadavg'))[0];

    printf "K=%-3d run %d: flush ms pg p50 %s p99 %s (%d; in its thread"
           . " p50 %s p99 %s), redis p50 %s"
           . " p99 %s (%d); PostgreSQL CPU %.2f s/s (flushes %.2f, fleet"
           . " reads %.2f), WAL %.1f MB/s, %.0f bytes a row, own view %d"
           . " bytes; Redis"
           . " CPU/master %s, replicas %.2f;"
           . " ops/s/master %s (max/min %.2f, scripts %.2f, CPU %.2f);"
           . " aggregator"
           . " CPU %.3f s/s; machine busy %.0f %%; written %d, dropped %d;"
           . " exact %s;%s load %s\n",
           $k, $round, map({ $_ // '-' } @r{qw(postgres_p50 postgres_p99)}),
           $r{postgres_n},
           map({ $_ // '-' } @r{qw(pg_thread_p50 pg_thread_p99)}),
           map({ $_ // '-' } @r{qw(redis_p50 redis_p99)}),
           $r{redis_n}, $r{pg_cpu}, $r{pg_flush}, $r{pg_fleet}, $r{wal},
           $r{row_bytes}, $r{view_bytes},
           join('/', map { sprintf '%.2f', $_ } @{ $r{redis_cpu} }),
           $r{replica_cpu},
           join('/', map { sprintf '%.0f', $_ } @{ $r{ops_per_s} }),
           $r{ops_ratio}, $r{scripts_ratio}, $r{cpu_ratio}, $r{agg_cpu},
           100 * $r{busy},
           $written, $dropped, $r{exact} ? 'yes' : 'NO',
           $r{failover} ? ' A REDIS FAILOVER;' : '', $r{load};
    return \%r;
}

my %res;
for my $round (1 .. $o{runs}) {
    for my $k (@K) {
        push @{ $res{$k} }, run_fleet($k, $round);
    }
}

# the table ------------------------------------------------------------------

# "median (min-max)" of a figure over the runs
sub mr {
    my ($k, $get, $fmt) = @_;
    my @v = sort { $a <=> $b } grep { defined } map { $get->($_) }
            @{ $res{$k} };
    return '-' unless @v;
    my $m = sprintf $fmt, med(@v);
    return $m if @v == 1;
    return sprintf "$fmt (%s-%s)", med(@v), map { sprintf $fmt, $_ }
                                                $v[0], $v[-1];
}

my @load1 = (split ' ', slurp('/proc/loadavg'))[0 .. 2];
print "\n# load average at the end: @load1; run time ",
      int(time - $started), " s\n";
print "# each cell: median of $o{runs} run(s) (min-max); flush latency:"
      . " event=flush duration_ms of flushes with keys > 0 in the window,"
      . " all nodes pooled\n\n";
print "| K | PostgreSQL flush p50 / p99 (ms) | the same in its thread"
      . " | Redis flush p50 / p99 (ms)"
      . " | PostgreSQL CPU (s/s): all / flushes / fleet reads | WAL (MB/s)"
      . " | Redis CPU per master (s/s) | per-master max/min: commands / CPU"
      . " | aggregator CPU per node (s/s) | machine busy (%) | dropped"
      . " | exact |\n";
print "| ---: |", " --- |" x 11, "\n";
for my $k (@K) {
    my $rs = $res{$k};
    my @pm = map { my $i = $_; mr($k, sub { $_[0]{redis_cpu}[$i] }, '%.2f') }
             0 .. $#masters;
    print '| ', join(' | ', $k,
        mr($k, sub { $_[0]{postgres_p50} }, '%.0f') . ' / '
        . mr($k, sub { $_[0]{postgres_p99} }, '%.0f'),
        mr($k, sub { $_[0]{pg_thread_p50} }, '%.0f') . ' / '
        . mr($k, sub { $_[0]{pg_thread_p99} }, '%.0f'),
        mr($k, sub { $_[0]{redis_p50} }, '%.0f') . ' / '
        . mr($k, sub { $_[0]{redis_p99} }, '%.0f'),
        mr($k, sub { $_[0]{pg_cpu} }, '%.2f') . ' / '
        . mr($k, sub { $_[0]{pg_flush} }, '%.2f') . ' / '
        . mr($k, sub { $_[0]{pg_fleet} }, '%.2f'),
        mr($k, sub { $_[0]{wal} }, '%.1f'),
        join(' / ', @pm),
        mr($k, sub { $_[0]{ops_ratio} }, '%.2f') . ' / '
        . mr($k, sub { $_[0]{cpu_ratio} }, '%.2f'),
        mr($k, sub { $_[0]{agg_cpu} }, '%.3f'),
        mr($k, sub { 100 * $_[0]{busy} }, '%.0f'),
        mr($k, sub { $_[0]{dropped} }, '%d'),
        scalar(grep { $_->{exact} } @$rs) . ' of ' . scalar(@$rs)), " |\n";
}

# the verdict: every K >= 10 run with both sinks' p99 <= 1 s, ratio <= 2
my @big = grep { $_ >= 10 } @K;
for my $k (@big) {
    my $p99 = med(map { my $r = $_; (sort { $b <=> $a }
                  grep { defined } $r->{postgres_p99}, $r->{redis_p99})[0] }
                  @{ $res{$k} });
    my $ratio = med(map { $_->{ops_ratio} } @{ $res{$k} });
    my $cratio = med(map { $_->{cpu_ratio} } @{ $res{$k} });
    printf "\n# target, K=%d at %d keys/node/s: flush p99 (the slower"
           . " sink) %s ms (<= 1000: %s), per-master max/min commands %.2f,"
           . " CPU %.2f (<= 2: %s)\n", $k, $o{rate}, $p99 // '-',
           defined $p99 && $p99 <= 1000 ? 'MET' : 'NOT MET', $ratio,
           $cratio, $ratio <= 2 && $cratio <= 2 ? 'MET' : 'NOT MET';
}

stop_redis_cluster();
stop_postgres();
done_testing();
