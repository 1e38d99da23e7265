#!/usr/bin/perl
# With nobody consuming, a full ring never slows or fails a request: every
# response is still 200, the overflow is dropped and counted, and
# seen = recorded + dropped holds exactly, ring by ring.  Once drained,
# the ring records again.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

# a small zone: 4 rings of 256 units of 32 bytes, 128 records of
# "GET full.test /flood" from 127.0.0.1 (2 units each) a ring
start_nginx(site_conf(name => 'full.test',
                      zone => 'size=32k rings=4'), workers => 2);

my $stats = zone_stats();
my $units = $stats->{ring_capacity} // $stats->{zone}{ring_capacity};
ok(defined $units && $units >= 128, '--stats reports the ring capacity '
   . '(units)') or diag(explain $stats);
$units //= 256;
my $per = record_units(host => 'full.test', path => '/flood');
is($per, 2, 'a record of this test takes 2 units');
my $cap = int($units / $per);
is(scalar @{ $stats->{rings} }, 4, 'four rings');

my $n = 1200;
my ($got, $res) = parallel_load(clients => 4, requests => $n / 4,
                                path => '/flood');
is($got, $n, "all $n requests answered");
is_deeply($res->{by_status}, { 200 => $n }, 'every response is 200');

$stats = wait_for_stats(sub { $_[0]{totals}{seen} >= $n }, 5);
my $t = $stats->{totals};
is($t->{seen}, $n, "seen = $n");
is($t->{seen}, $t->{recorded} + $t->{dropped}, 'seen = recorded + dropped');
ok($t->{dropped} >= $n - 2 * $cap, "at least $n - 2 x $cap dropped");

my $expect = 0;
for my $r (@{ $stats->{rings} }) {
    is($r->{seen}, $r->{recorded} + $r->{dropped},
       "ring $r->{ring}: seen = recorded + dropped");
    my $want = $r->{seen} < $cap ? $r->{seen} : $cap;
    is($r->{recorded}, $want, "ring $r->{ring}: recorded = min(seen, $cap)");
    $expect += $want;
}
is($t->{recorded}, $expect, 'totals add up the rings');
is($t->{in_ring}, $t->{recorded}, 'everything recorded is in the rings');

my ($recs, $bad) = tail_once();
is(scalar @$bad, 0, 'every --tail line is JSON');
is(scalar @$recs, $t->{recorded}, "--tail --once prints exactly the "
                                  . "$t->{recorded} recorded");

# drained rings record again
my $more = parallel_load(clients => 1, requests => 10, path => '/after');
is($more, 10, '10 more answered');
$stats = wait_for_stats(sub { $_[0]{totals}{seen} >= $n + 10 }, 5);
is($stats->{totals}{seen}, $n + 10, 'seen grows by 10');
is($stats->{totals}{recorded}, $expect + 10, 'all 10 recorded after draining');
($recs) = tail_once();
is(scalar(grep { $_->{path} eq '/after' } @$recs), 10, '10 records of /after');

finish();
