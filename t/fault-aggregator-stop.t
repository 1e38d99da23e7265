#!/usr/bin/perl
# A stalled aggregator never stalls nginx: with small rings (256 records
# each) and the aggregator frozen by SIGSTOP, three times more requests
# than the rings hold are all answered (200), the surplus is counted as
# dropped, and once the aggregator runs again PostgreSQL holds exactly
# the served requests minus the counted drops.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use PathStats::Test;

# 128k over 8 rings (4 x 2 workers): 512 units of 32 bytes a ring, 256
# records of this test (2 units each), 512 for the two live workers
start_nginx(site_conf(name => 'stop.test',
                      zone => 'size=128k'), workers => 2);

my $pg = start_migrated_postgres();

my $agg = start_aggregator('--zone', zone_file(), '--postgres', $pg,
                           '--flush-interval', '100ms', '--node-id', 'stop-1');
my @paths = ('/a', '/b', '/c/d', '/e?x=1');

sub totals { zone_stats()->{totals} }

my $zs = zone_stats();
my $per = record_units(host => 'stop.test', path => '/c/d');
my $cap = $zs->{ring_capacity} / $per
          * grep { $_->{owner_pid} } @{ $zs->{rings} };
is($cap, 512, 'two live rings of 256 records');

# some traffic with the aggregator running
my ($served, $res) = parallel_load(clients => 2, requests => 100,
                                   paths => \@paths);
is($res->{failures}, 0, 'warm-up: no client failures');
ok(wait_until(sub { pg_requests() == $served }, 15),
   "warm-up: $served requests in PostgreSQL") or diag('have ' . pg_requests());

# freeze the aggregator and overfill the rings
ok(kill('STOP', $agg->{pid}), 'aggregator stopped with SIGSTOP');
my $want = 3 * $cap;
my $t0 = time;
my ($n, $res2) = parallel_load(clients => 3, requests => int($want / 3) + 1,
                               paths => \@paths);
my $secs = time - $t0;
is($res2->{failures}, 0, 'no client failure while the aggregator is frozen');
is($n, 3 * (int($want / 3) + 1), "every one of $n requests answered");
is_deeply([keys %{ $res2->{by_status} }], ['200'], '  all with 200');
ok($secs < 20, "  without waiting for the aggregator (${secs}s)");
$served += $n;

my $t = totals();
ok($t->{dropped} > 0, "the surplus was dropped ($t->{dropped} drops, "
                      . "rings hold $cap)");
is($t->{seen}, $served, 'seen counts every served request');
is($t->{seen}, $t->{recorded} + $t->{dropped}, 'seen = recorded + dropped');
ok(PathStats::Test::pid_alive($agg->{pid}), 'the aggregator is still there');

ok(kill('CONT', $agg->{pid}), 'SIGCONT');
my $drops = zone_drops($t);
my $exp = $served - $drops;
ok(wait_until(sub { pg_requests() >= $exp }, 20), 'PostgreSQL catches up');
sleep 0.5;    # a late double count would show up now
is(pg_requests(), $exp, "PostgreSQL SUM = served $served - drops $drops");

$t = totals();
is(zone_drops($t), $drops,
   'no drop after the aggregator came back');
is($t->{in_ring}, 0, 'the rings are empty');
is($t->{consumed}, $t->{recorded} - $t->{lost}, 'consumed = recorded - lost');

# and the rings work normally again
my $m = parallel_load(clients => 2, requests => 50, paths => \@paths);
$exp += $m;
ok(wait_until(sub { pg_requests() == $exp }, 15),
   'after the stall, new requests are counted again');
is(totals()->{dropped}, $t->{dropped}, '  and none dropped');

is(stop_aggregator($agg), 0, 'SIGTERM exits 0');
finish();
