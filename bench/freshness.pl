#!/usr/bin/perl
# Freshness of the admin location: the time from a request to its count
# in /pathstats/api/paths (target: p99 <= 1 s with the aggregator's
# defaults).  See bench/README.md.
#
# One throwaway nginx (the module, one recording location, the admin
# location) and one pathstats-aggregator in the embedded mode (no
# PostgreSQL, no Redis), both on 127.0.0.1.  Each sample requests a path
# that was never requested before (/fresh/<run>/<n>); every POLL_MS one
# request on a keep-alive connection, /pathstats/api/paths with
# q=/fresh/<run>/&window=1m&sort=last_seen&limit=200, shows which of the
# outstanding samples have reached requests == 1.  The requests are sent
# at random gaps (uniform in 0.5..1.5 x GAP_MS) that do not depend on
# when earlier samples showed up, so that they fall at every phase of
# the aggregator's snapshot cycle; several samples are outstanding at
# once (at most INFLIGHT).
#
# Runs: "default" (no config file: flush_interval and snapshot_interval
# at their default, 1 s), then "fast" (FAST=1, the default: a config file
# with snapshot_interval = FAST_INTERVAL and --flush-interval
# FAST_INTERVAL, 200ms) to show the knob.
#
# FILL=N first requests N other paths (/bg/RUN/NNNNN) once each before
# each run, so that every snapshot has N more rows to build; keep FILL +
# SAMPLES under the aggregator's snapshot_max_rows (10000, MAX_ROWS
# sets it), or the new paths are not in the snapshot at all (and when
# FILL + SAMPLES come near max_keys_per_hour, 100 000, the bench raises
# that too).
#
# Environment: BUILD (build directory, default <repo>/build), SAMPLES
# (200 per run), RUN_SECONDS (60: each run stops there even if SAMPLES
# are not in), GAP_MS (100), INFLIGHT (50), POLL_MS (5), FAST (1),
# FAST_INTERVAL (200ms), FILL (0), WORKERS (2), PORT (18700), ZONE_DIR
# (/dev/shm), KEEP (1 keeps the directory and the zone), MAX_ROWS (the
# aggregator's snapshot_max_rows, for FILL above 9 000), SNAPSHOT (the
# zone's snapshot area: 32m, about 3.2 KB a path above 10 000).

use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/lib";
use PathStatsBench;     # first: it sets PS_BUILD_DIR and PS_KEEP
use PathStats::Test;
use JSON::PP ();
use Time::HiRes qw(time sleep);

$| = 1;

my $SAMPLES = $ENV{SAMPLES} // 200;
my $RUN_SECONDS = $ENV{RUN_SECONDS} // 60;
my $GAP = ($ENV{GAP_MS} // 100) / 1000;
my $INFLIGHT = $ENV{INFLIGHT} // 50;
my $POLL = ($ENV{POLL_MS} // 5) / 1000;
my $FAST = $ENV{FAST} // 1;
my $FAST_INTERVAL = $ENV{FAST_INTERVAL} // '200ms';
my $PORT = $ENV{PORT} // 18700;
my $WORKERS = $ENV{WORKERS} // 2;
my $FILL = $ENV{FILL} // 0;
my $MAX_ROWS = $ENV{MAX_ROWS};
my $SNAPSHOT = $ENV{SNAPSHOT}
               // ($FILL > 10000 ? int($FILL * 3.2 / 1024 + 1) . 'm' : '32m');
my $SAMPLE_TIMEOUT = 10;          # a sample that never shows is a failure

my $JSON = JSON::PP->new->utf8;


# The bench ----------------------------------------------------------------

# the zone on tmpfs, removed at exit (PathStatsBench)
my $ZONE = bench_zone();

my $nginx_conf = <<'EOF';
http {
    pathstats_zone ZONE size=64m snapshot=SNAPSHOT;

    server {
        listen 127.0.0.1:%%PORT%%;
        keepalive_requests 1000000;

        location /pathstats/ { pathstats_admin; }
        location /bg/ {
            pathstats on;
            pathstats_normalize off;
            return 200 "ok\n";
        }
        location /fresh/ {
            pathstats on;
            pathstats_normalize off;
            return 200 "ok\n";
        }
    }
}
EOF
$nginx_conf =~ s/\bZONE\b/$ZONE/;
$nginx_conf =~ s/\bSNAPSHOT\b/$SNAPSHOT/;
start_nginx($nginx_conf, workers => $WORKERS, port => $PORT);

my $admin = ka_new($PORT);
my $agg;

sub wait_healthy {
    return wait_until(sub {
        my ($st) = eval { ka_get($admin, '/pathstats/health') };
        return ($st // 0) == 200;
    }, 10, 0.05);
}

# Requests FILL other paths once each (the aggregator's windows start
# empty when it starts without PostgreSQL), then waits for the snapshot.
sub fill {
    my ($name) = @_;
    return unless $FILL;
    for (my $i = 0; $i < $FILL; $i += 100) {
        my $n = $FILL - $i < 100 ? $FILL - $i : 100;
        my @st = ka_pipeline($admin, map { sprintf '/bg/%s/%05d', $name, $_ }
                                         $i .. $i + $n - 1);
        die "fill: status $st[0]\n" if grep { $_ != 200 } @st;
    }
    my $total = wait_until(sub {
        my ($st, $body) = ka_get($admin, '/pathstats/api/paths?limit=1');
        my $d = eval { $JSON->decode($body) } // {};
        return ($d->{pagination}{total} // 0) >= $FILL;
    }, 20, 0.2);
    die "the snapshot did not reach $FILL paths\n" unless $total;
}

# One run: returns a hash of figures.
sub run {
    my ($name) = @_;
    my $cpu0 = cpu_ns($agg->{pid});
    my (@delays, @cycles, %out, $failed);
    my (@periods, $last_v, $last_vt);      # snapshot versions seen
    my $seq = 0;
    my $t_start = time;
    my $t_end = $t_start + $RUN_SECONDS;
    my $next_send = $t_start;
    my $last_cycle;
    my $polls = 0;

    while ((@delays + ($failed // 0) < $SAMPLES || %out) && time < $t_end) {
        my $now = time;
        push @cycles, $now - $last_cycle if defined $last_cycle;
        $last_cycle = $now;

        if (keys %out < $INFLIGHT && $seq < $SAMPLES && $now >= $next_send) {
            my $path = sprintf '/fresh/%s/%06d', $name, $seq++;
            my $t0 = time;
            my ($st) = http_get($path, port => $PORT);
            die "GET $path: " . ($st // 'no answer') . "\n"
                unless ($st // 0) == 200;
            $out{$path} = $t0;
            # a random gap, independent of when samples show up: the
            # sends fall at every phase of the snapshot cycle
            $next_send += $GAP * (0.5 + rand(1));
            $next_send = time if $next_send < time - $GAP;
        }

        if (%out) {
            # one poll for every outstanding sample: a single scan of the
            # snapshot in nginx, whatever the number in flight
            my ($st, $body) = ka_get($admin, "/pathstats/api/paths?q=/fresh/"
                                     . "$name/&window=1m&sort=last_seen"
                                     . "&limit=200");
            my $t = time;
            $polls++;
            $body = '' unless ($st // 0) == 200;
            if ($body =~ /"version":(\d+)/) {
                my $v = $1;
                if (!defined $last_v || $v != $last_v) {
                    push @periods, $t - $last_vt if defined $last_v;
                    ($last_v, $last_vt) = ($v, $t);
                }
            }
            # rows are rendered by the aggregator: "path":"..","requests":N
            while ($body =~ /"path":"((?:[^"\\]|\\.)*)","requests":(\d+)/g) {
                my ($path, $n) = ($1, $2);
                $path =~ s{\\/}{/}g;
                next unless exists $out{$path} && $n >= 1;
                die "$path: requests $n, want 1\n" if $n != 1;
                push @delays, $t - $out{$path};
                delete $out{$path};
            }
            for my $path (keys %out) {
                next unless $t - $out{$path} > $SAMPLE_TIMEOUT;
                $failed++;
                delete $out{$path};
            }
        }

        my $left = $last_cycle + $POLL - time;
        sleep $left if $left > 0;
    }

    my @s = sort { $a <=> $b } @delays;
    my @c = sort { $a <=> $b } @cycles;
    my @p = sort { $a <=> $b } @periods;
    return {
        name => $name, samples => scalar @s, failed => $failed // 0,
        unfinished => scalar keys %out, seconds => time - $t_start,
        p50 => pct(\@s, 50), p99 => pct(\@s, 99), max => $s[-1],
        min => $s[0], cycle => pct(\@c, 50), polls => $polls,
        period50 => pct(\@p, 50), period_max => $p[-1],
        agg_cpu => (cpu_ns($agg->{pid}) - $cpu0) / 1e9 / (time - $t_start),
        agg_cpu_snap => @p ? (cpu_ns($agg->{pid}) - $cpu0) / 1e9 / @p : 0,
    };
}

sub report {
    my ($r, $what) = @_;
    printf "%-8s %-44s %4d samples (%d failed) in %4.1f s: "
           . "min %4.0f  p50 %4.0f  p99 %4.0f  max %4.0f ms  "
           . "(poll cycle p50 %.1f ms; new snapshot every p50 %.0f ms, "
           . "max %.0f ms; aggregator CPU %.0f%%, %.0f ms a snapshot)\n",
           $r->{name}, $what, $r->{samples}, $r->{failed} + $r->{unfinished},
           $r->{seconds}, map({ ($r->{$_} // 0) * 1000 } qw(min p50 p99 max)),
           $r->{cycle} * 1000, ($r->{period50} // 0) * 1000,
           ($r->{period_max} // 0) * 1000, $r->{agg_cpu} * 100,
           $r->{agg_cpu_snap} * 1000;
}

# the defaults, but for the snapshot's rows when MAX_ROWS is set, and
# the keys an hour when FILL and the samples come near the default
# max_keys_per_hour (100 000): beyond it the samples' paths would count
# under {other}, and never show
my $limits = ($MAX_ROWS ? "snapshot_max_rows = $MAX_ROWS\n" : '')
             . ($FILL + $SAMPLES + 1000 > 100000
                ? 'max_keys_per_hour = ' . ($FILL + $SAMPLES + 1000) . "\n"
                : '');
my @agg_args = ('--zone', $ZONE);
if ($limits ne '') {
    my $conf = test_dir() . '/default.conf';
    spew($conf, "zone = $ZONE\n$limits");
    @agg_args = ('-c', $conf);
}
$agg = start_aggregator(@agg_args);
wait_healthy() or die "the aggregator did not make /pathstats/health 200\n";

printf "freshness: request -> its count in /pathstats/api/paths?window=1m"
       . "%s\n", $FILL ? ", $FILL other paths in the snapshot" : '';
fill('default');
my $def = run('default');
report($def, 'defaults (flush 1s, snapshot 500ms)');
stop_aggregator($agg);

my $fast;
if ($FAST) {
    my $conf = test_dir() . '/fast.conf';
    spew($conf, "zone = " . $ZONE . "\n"
                . "snapshot_interval = $FAST_INTERVAL\n" . $limits);
    $agg = start_aggregator('-c', $conf, '--flush-interval', $FAST_INTERVAL);
    wait_healthy() or die "the aggregator (-c $conf) did not start\n";
    fill('fast');
    $fast = run('fast');
    report($fast, "flush_interval $FAST_INTERVAL, "
                  . "snapshot_interval $FAST_INTERVAL");
    stop_aggregator($agg);
}

my $ok = $def->{samples} > 0 && $def->{failed} == 0
         && $def->{p99} <= 1.0;
printf "target p99 <= 1000 ms at the defaults: %s (p99 %.0f ms)\n",
       $ok ? 'MET' : 'NOT MET', ($def->{p99} // 0) * 1000;

my @bad = grep { /\[(alert|emerg)\]/ }
          split /\n/, slurp(error_log_path()) // '';
print "nginx error log: ", (@bad ? "\n" . join("\n", @bad) : 'clean'), "\n";
exit 0;
