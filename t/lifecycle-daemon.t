#!/usr/bin/perl
# The lifecycle scheduler in the daemon: with lifecycle_at passed and no
# run today it rolls up, archives and drops on its own, in a thread of
# its own, while the rings are drained exactly (no drop, every request
# in PostgreSQL); the run is in /api/summary (lifecycle, consistency),
# /metrics, the log and pathstats_lifecycle_runs; /health turns 503 when
# archive_dir has less free space than archive_min_free.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Path qw(make_path);
use JSON::PP ();
use PathStats::Test;

start_nginx(site_conf(name => 'sched.test', locations => <<'EOF'),
location /pathstats/ { pathstats_admin; }
location / { return 200 "ok\n"; }
EOF
            workers => 2);
my $pg = start_migrated_postgres();
my $arch = test_dir() . '/archive';
make_path($arch);

# 20 past days of hourly rows, 200 keys an hour: 96 000 rows
my $today = psql_query("SELECT (now() AT TIME ZONE 'UTC')::date");
psql_query(<<"EOF_SQL");
INSERT INTO pathstats_hourly (hour, host, method, path, node_id, requests,
    status_2xx, latency_hist, unique_clients)
SELECT h, 'old.test', 'GET', '/k' || k, 'old', k, k,
       decode('1400050000000' || (k % 7 + 1), 'hex'),
       hll_add(hll_empty(), hll_hash_integer(k))
  FROM generate_series('$today'::timestamptz - interval '20 days',
                       '$today'::timestamptz - interval '1 hour',
                       interval '1 hour') h,
       generate_series(1, 200) k
EOF_SQL
my $old = psql_query('SELECT sum(requests) FROM pathstats_hourly');

my $conf = write_aggregator_conf('sched', zone => zone_file(),
                                 postgres => $pg, node_id => 'sched-1',
                                 flush_interval => '200ms',
                                 lifecycle_at => '00:00',
                                 lifecycle_grace => '0',
                                 hourly_retention => '7d',
                                 archive_dir => $arch);
my $agg = start_aggregator('-c', $conf);

# load while the lifecycle runs
my $load = start_load(clients => 4, requests => 500, path => '/live');
ok(wait_until(sub {
       psql_query("SELECT count(*) FROM pathstats_lifecycle_runs WHERE "
                  . "kind = 'lifecycle'") > 0 }, 60),
   'the scheduler ran the lifecycle on its own');
my $res = $load->wait;
is($res->{responses}, 2000, '2000 requests served during the run');
is_pg_requests($old + 2000 - dropped_requests(),
               '  every one of them in PostgreSQL, once', 30);
is(zone_drops(zone_stats()->{totals}), 0, '  none dropped on a full ring');

# the requests of the dropped days are in the daily rollups (and the
# archives): the hourly table keeps the rest
sub dropped_requests {
    return psql_query("SELECT coalesce(sum(requests), 0) FROM "
                      . "pathstats_daily WHERE day < '$today'::date - 7");
}

my @run = psql_query("SELECT ok, node_id, rolled_up, archived, dropped "
                     . "FROM pathstats_lifecycle_runs WHERE kind = "
                     . "'lifecycle'");
is(scalar(@run), 1, 'exactly one run recorded');
is_deeply($run[0], ['t', 'sched-1', 96000, 96000, 13 * 4800],
          '  ok: 96000 rows rolled up and archived, 13 days x 4800 dropped');
is(psql_query('SELECT sum(requests) FROM pathstats_daily'), $old,
   '  the daily rollups hold every old request');
is(psql_query("SELECT count(*) FROM pathstats_archives WHERE verified_at "
              . "IS NOT NULL AND kind = 'hourly'"), 20,
   '  twenty verified archives');

# the summary and the metrics say so
my $JSON = JSON::PP->new->utf8;
my $sum;
ok(wait_until(sub {
       my ($st, $body) = http_get('/pathstats/api/summary');
       $sum = $st == 200 ? eval { $JSON->decode($body)->{data} } : undef;
       $sum && $sum->{lifecycle} && $sum->{lifecycle}{runs} }, 60),
   '/api/summary reports the run');
is($sum->{lifecycle}{rows_rolled_up}, 96000, '  rows_rolled_up 96000');
is($sum->{lifecycle}{rows_dropped}, 62400, '  rows_dropped 62400');
is($sum->{lifecycle}{failures}, 0, '  no failure');
like($sum->{lifecycle}{last_success} // '', qr/^\d{4}-\d\d-\d\dT/,
     '  last_success is a time');
ok($sum->{lifecycle}{archive_bytes} > 0, '  archive_bytes > 0');
ok(exists $sum->{consistency}, '  consistency is there');

my ($st, $metrics) = http_get('/pathstats/metrics');
like($metrics, qr/^pathstats_lifecycle_runs_total 1$/m,
     '/metrics: pathstats_lifecycle_runs_total 1');
like($metrics, qr/^pathstats_lifecycle_rows\{step="drop"\} 62400$/m,
     '  pathstats_lifecycle_rows{step="drop"} 62400');
like(slurp($agg->{stderr}),
     qr/event=lifecycle_finished dry_run=0 .*failures=0/,
     'event=lifecycle_finished logged');

# verify, run by the CLI, shows as the summary's consistency
my ($rc, $out, $err) = run_aggregator('-c', $conf, 'verify');
is($rc, 0, 'verify: exit 0') or diag($out . $err);
ok(wait_until(sub {
       my ($s, $body) = http_get('/pathstats/api/summary');
       my $d = $s == 200 ? eval { $JSON->decode($body)->{data} } : undef;
       $sum = $d;
       $d && $d->{consistency}{checked_at} }, 60),
   '  the summary\'s consistency has it');
is($sum->{consistency}{mismatches}, 0, '  0 mismatches');
ok($sum->{consistency}{checked} >= 20, '  20 archives and more checked');

is(stop_aggregator($agg), 0, 'the aggregator stops cleanly');

# archive_dir nearly full: archive_min_free larger than any disk
$conf = write_aggregator_conf('sched-full', zone => zone_file(),
                              postgres => $pg, node_id => 'sched-1',
                              archive_dir => $arch,
                              archive_min_free => '1000000t');
$agg = start_aggregator('-c', $conf);
my $body;
ok(wait_until(sub {
       ($st, $body) = http_get('/pathstats/health');
       $st == 503 }, 60), '/health is 503 with archive_dir "nearly full"');
like($body, qr/archive_dir is nearly full/, '  saying so');
is(stop_aggregator($agg), 0, 'the aggregator stops cleanly');

finish();
