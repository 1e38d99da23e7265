#!/usr/bin/perl
# Exactly once across aggregator deaths: killed with SIGKILL ten times
# under load, stopped while requests keep arriving, or crashing between
# its COMMIT and releasing the rings, the aggregator never loses and never
# doubles a request in PostgreSQL.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use PathStats::Test;

# rings of 16 384 records: room for the load while an aggregator that
# was just killed starts again on a busy machine
start_nginx(site_conf(name => 'restart.test', zone => 'size=64m',
                      locations => <<'EOF'), workers => 2);
location = /a   { return 200 "a\n"; }
location = /b   { return 404; }
location /c/    { return 500; }
EOF

my $pg = start_migrated_postgres();

my @args = ('--zone', zone_file(), '--postgres', $pg, '--flush-interval',
            '100ms', '--node-id', 'restart-1');
my @paths = ('/a', '/b', '/c/1', '/c/2', '/a?q=1');

sub recorded {
    my $s = zone_stats();
    return ($s->{totals}{recorded}, $s->{totals}{dropped});
}

# 1. SIGKILL ten times during load, at varying points of its flush cycle
my $load = start_load(clients => 3, requests => 100000, duration => 30,
                      path => sub { my ($c, $i) = @_;
                                    sleep 0.002;    # a steady pace
                                    $paths[($c + $i) % @paths] });
my $kills = 0;
for my $i (1 .. 10) {
    my $agg = start_aggregator(@args);
    sleep 0.2 + 0.05 * $i;
    $kills++ unless $load->done;
    kill 'KILL', $agg->{pid};
    stop_aggregator($agg, 'KILL');
    sleep 0.1;
}
my $res = $load->stop;
is($kills, 10, 'all ten kills came while the load ran');
is($res->{failures}, 0, 'load: no client failures');
my $total = $res->{responses};

my $agg = start_aggregator(@args);
my ($recorded, $dropped) = recorded();
is($dropped, 0, 'nothing dropped on a full ring');
is($recorded, $total, 'every response was recorded');
is_pg_requests($total, "after 10 x SIGKILL: exactly $total requests in the "
                       . 'database');

# 2. SIGTERM, requests while stopped, restart
is(stop_aggregator($agg), 0, 'SIGTERM exits 0');
my $n = parallel_load(clients => 2, requests => 50, paths => \@paths);
$total += $n;
my $s = zone_stats();
is($s->{totals}{in_ring}, $n, "$n requests wait in the rings");
$agg = start_aggregator(@args);
is_pg_requests($total, 'restart: the waiting requests counted once');

# 3. crash after COMMIT, before the rings are released
is(stop_aggregator($agg), 0, 'SIGTERM exits 0');
$n = parallel_load(clients => 2, requests => 40, paths => \@paths);
$total += $n;
$agg = start_aggregator({ env => { PATHSTATS_TEST_CRASH_AFTER_COMMIT => 1 } },
                        @args);
ok(wait_until(sub { !PathStats::Test::pid_alive($agg->{pid}) }, 15),
   'the test hook crashed the aggregator after its first commit');
is(stop_aggregator($agg), 1, '  with exit status 1');
like(slurp($agg->{stderr}), qr/event=test_crash_after_commit/,
     '  and logged it');
$s = zone_stats();
is($s->{totals}{in_ring}, $n, '  leaving the committed records in the rings');
is(pg_requests(), $total, '  while the database already has them');

$agg = start_aggregator(@args);
is_pg_requests($total, 'restart after the crash: nothing doubled');
ok(wait_until(sub { zone_stats()->{totals}{in_ring} == 0 }, 10),
   'the rings are released');

$s = zone_stats();
ok(wait_until(sub {
    psql_query("SELECT sum(committed_pos) FROM pathstats_watermark WHERE "
               . "node_id = 'restart-1'") == $s->{totals}{head} }, 5),
   'watermarks equal the released ring positions (head)');

# 4. PostgreSQL goes away while the daemon runs, and is down at its start
stop_postgres();
$n = parallel_load(clients => 2, requests => 30, paths => \@paths);
$total += $n;
sleep 0.5;
ok(PathStats::Test::pid_alive($agg->{pid}), 'the daemon survives the outage');
start_postgres();
is_pg_requests($total, 'PostgreSQL back: the outage\'s requests counted once');

is(stop_aggregator($agg), 0, 'SIGTERM exits 0');
stop_postgres();
$agg = start_aggregator(@args);
$n = parallel_load(clients => 2, requests => 30, paths => \@paths);
$total += $n;
ok(wait_until(sub { slurp($agg->{stderr}) =~ /event=sink_down sink=postgres/ },
              5), 'unreachable at start: event=sink_down sink=postgres');
is(zone_stats()->{totals}{in_ring}, $n, '  the records wait in the rings');
start_postgres();
is_pg_requests($total, '  PostgreSQL back: counted once');
like(slurp($agg->{stderr}), qr/event=pipeline_started/, '  reading started');

is(stop_aggregator($agg), 0, 'SIGTERM exits 0');

finish();
