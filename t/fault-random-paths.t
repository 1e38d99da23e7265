#!/usr/bin/perl
# Cardinality is bounded: requests over a million random paths (by
# default 150 000 draws from 1e6 keys: 139 000 distinct paths; with
# PS_RANDOM_PATHS_COUNT=1000000, 632 000) with max_keys_per_hour = 500.
# PostgreSQL gets at most 500 path rows per hour plus the overflow row
# (path '{other}'), and SUM(requests) stays exact; /pathstats/metrics
# keeps a bounded number of series; the aggregator's memory stays small.
#
# That many requests through nginx and Perl clients would take minutes,
# so they come from bench-ring-producer, which writes records into
# the zone's rings with the module's exact producer protocol (--block: a
# fixed count arrives whole).  On top, 2 000 real requests over 2 000
# distinct random paths go through nginx with pathstats_normalize off, to
# cover the module's side of the same zone.  Then the aggregator is
# restarted and more random paths arrive: the hour's existing rows count
# toward the limit (no max_keys_per_hour more rows after a restart).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use PathStats::Test;

my $MAX_KEYS = 500;
# The issue's million random paths (PS_RANDOM_PATHS_COUNT changes it);
# written straight into the zone, so it takes seconds.
my $COUNT = $ENV{PS_RANDOM_PATHS_COUNT} || 1_000_000;
my $PATHS = 1_000_000;
my $HTTP_CLIENTS = 4;
my $HTTP_PER_CLIENT = 500;

# 64m over 8 rings: 262144 units of 32 bytes per ring, 65536 to 131072
# records of this test (2 to 4 units each)
start_nginx(site_conf(name => 'random.test', zone => 'size=64m',
                      server => 'pathstats_normalize off;',
                      locations => <<'EOF'), workers => 2);
location /            { return 200 "ok\n"; }
location /pathstats/  { pathstats off; pathstats_admin; }
EOF

my $producer = build_dir() . '/bench/bench-ring-producer';
plan skip_all => "$producer not built" unless -x $producer;

my $pg = start_migrated_postgres();

my $cfg = test_dir() . '/aggregator.conf';
spew($cfg, join '', map { "$_\n" }
     'zone = ' . zone_file(),
     "postgres = $pg",
     'node_id = random-1',
     'flush_interval = 200ms',
     'snapshot_interval = 1s',
     "max_keys_per_hour = $MAX_KEYS");
my $agg = start_aggregator('-c', $cfg);

sub rss_kb {
    my $st = slurp("/proc/$agg->{pid}/status") // return 0;
    return $st =~ /^VmRSS:\s+(\d+)\s+kB/m ? $1 : 0;
}

# sample the aggregator's RSS while it works
my $rss_file = test_dir() . '/rss.max';
my $sampler = fork // die "fork: $!";
if ($sampler == 0) {
    my $max = 0;
    my $deadline = time + 60;
    while (time < $deadline && !-e "$rss_file.stop") {
        my $r = rss_kb();
        $max = $r if $r > $max;
        sleep 0.05;
    }
    spew($rss_file, $max);
    POSIX::_exit(0);
}

# 1. a million records over a million random paths, straight into a ring
my $t0 = time;
my ($prc, $pout, $perr) = PathStats::Test::run_cmd(
    [$producer, '--zone', zone_file(), '--paths', $PATHS, '--count', $COUNT,
     '--block', '--seed', 7], timeout => 120);
my $psecs = time - $t0;
is($prc, 0, sprintf('bench-ring-producer wrote %d records in %.1fs', $COUNT,
                    $psecs)) or diag("$pout$perr");
my ($pres) = grep { ref } map { eval { JSON::PP->new->decode($_) } }
             grep { /^\{/ } split /\n/, $pout;
$pres //= {};
my $written = $pres->{written} // $pres->{records} // $COUNT;
is($pres->{dropped} // 0, 0, '  none dropped (--block)');

# 2. real requests, every one with a distinct random path
my ($served, $res) = parallel_load(
    clients => $HTTP_CLIENTS, requests => $HTTP_PER_CLIENT,
    path => sub {
        my ($c, $i) = @_;
        sprintf '/rnd/%d/%08x%08x', $c, int(rand(2**32)), $i;
    });
is($res->{failures}, 0, 'no client failures');
is($served, $HTTP_CLIENTS * $HTTP_PER_CLIENT, "$served requests answered");

my $t;
wait_until(sub { $t = zone_stats()->{totals}; $t->{in_ring} == 0 }, 60, 0.2);
is($t->{in_ring}, 0, 'the aggregator drained the rings');
my $drops = zone_drops($t);
my $exp = $written + $served - $drops;
wait_until(sub { pg_requests() >= $exp }, 30, 0.2);
sleep 0.5;
is(pg_requests(), $exp, "PostgreSQL SUM = $written produced + $served served - "
                     . "$drops drops");
is($t->{seen}, $t->{recorded} + $t->{dropped}, 'seen = recorded + dropped');

# rows per hour: at most max_keys_per_hour paths plus the overflow row(s)
my @hours = psql_query(
    "SELECT hour, count(*) FILTER (WHERE path <> '{other}'), "
    . "count(*) FILTER (WHERE path = '{other}'), "
    . "coalesce(sum(requests) FILTER (WHERE path = '{other}'), 0) "
    . 'FROM pathstats_hourly GROUP BY hour ORDER BY hour');
ok(@hours >= 1, scalar(@hours) . ' hour(s) of rows');
for my $h (@hours) {
    my ($hour, $keys, $others, $other_req) = @$h;
    ok($others >= 1 && $others <= 2,
       "hour $hour: $others '{other}' row(s) with $other_req requests");
    ok($keys <= $MAX_KEYS, "hour $hour: $keys path rows <= $MAX_KEYS");
}
my $all = psql_query('SELECT count(*) FROM pathstats_hourly');
ok($all <= @hours * ($MAX_KEYS + 2), "$all rows in all");

# the Prometheus endpoint stays bounded
my $metrics;
ok(wait_until(sub {
    my ($st, $body) = http_get('/pathstats/metrics');
    $metrics = $body if $st && $st == 200;
    $metrics && $metrics =~ /pathstats_requests_24h\{/;
}, 10), 'GET /pathstats/metrics');
my @series = grep { /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{|\s)/ } split /\n/, $metrics // '';
my @paths24 = grep { /^pathstats_requests_24h\{/ } @series;
ok(@series > 0 && @series <= 5000,
   scalar(@series) . ' series in /pathstats/metrics (<= 5000)');
my %mpaths = map { /path="((?:[^"\\]|\\.)*)"/ ? ($1 => 1) : () } @paths24;
ok(keys %mpaths <= 200,
   scalar(keys %mpaths) . ' distinct paths in pathstats_requests_24h (<= 200)');
ok($mpaths{'{other}'}, '  the rest in path="{other}"');

# memory: 500 keys with a latency histogram and an HLL sketch each are a
# few megabytes (measured: about 24 MB RSS in all, the zone's touched
# pages included).  Unbounded, at even 500 bytes a key (key, counters,
# histogram, sketch), 139 000 keys would add about 70 MB; a million,
# 500 MB.  64 MB leaves room for libpq, jansson and allocator slack.
spew("$rss_file.stop", '');
waitpid($sampler, 0);
my $rss_max = slurp($rss_file) // 0;
my $rss_now = rss_kb();
ok($rss_max > 0 && $rss_max < 64 * 1024,
   "aggregator peak VmRSS ${rss_max} kB < 64 MB (now ${rss_now} kB)");

# 3. restarted within the hour: the keys that the hour's rows already
#    have count toward max_keys_per_hour, so new random paths go to
#    '{other}' instead of adding up to max_keys_per_hour rows more
is(stop_aggregator($agg), 0, 'SIGTERM exits 0');
my %before = map { $_->[0] => $_->[1] } @hours;
$agg = start_aggregator('-c', $cfg);
my ($served2, $res2) = parallel_load(
    clients => 2, requests => 300,
    path => sub {
        my ($c, $i) = @_;
        sprintf '/after/%d/%08x%08x', $c, int(rand(2**32)), $i;
    });
is($res2->{failures}, 0, "restarted: $served2 more random paths answered");
wait_until(sub { $t = zone_stats()->{totals}; $t->{in_ring} == 0 }, 30, 0.2);
$drops = zone_drops($t);
$exp = $written + $served + $served2 - $drops;
wait_until(sub { pg_requests() >= $exp }, 30, 0.2);
sleep 0.5;
is(pg_requests(), $exp, "PostgreSQL SUM = $exp after the restart");
like(slurp($agg->{stderr}) // '', qr/event=pipeline_started/,
     '  the aggregator started') ;
@hours = psql_query(
    "SELECT hour, count(*) FILTER (WHERE path <> '{other}') "
    . 'FROM pathstats_hourly GROUP BY hour ORDER BY hour');
for my $h (@hours) {
    my ($hour, $keys) = @$h;
    ok($keys <= $MAX_KEYS, "after the restart, hour $hour: $keys path rows "
       . "<= $MAX_KEYS" . (defined $before{$hour} ? " (was $before{$hour})"
                                                  : ' (a new hour)'));
}

is(stop_aggregator($agg), 0, 'SIGTERM exits 0');
finish();
