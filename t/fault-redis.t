#!/usr/bin/perl
# Redis faults under load, with both sinks on.  PostgreSQL, the source of
# truth, stays exact through everything: SUM(requests) = served - drops.
#
# 1. Redis stopped and started again (it saves on shutdown and loads the
#    dump on start, so its counters and exactly-once watermarks survive):
#    the aggregator keeps running, and afterwards Redis's per-hour totals
#    equal PostgreSQL's exactly.
# 2. FLUSHALL under load (Redis loses everything, watermarks included):
#    PostgreSQL stays exact; the aggregator repairs Redis from its own
#    state, so Redis converges back to PostgreSQL's totals.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use PathStats::Test;

start_nginx(site_conf(name => 'redis-fault.test',
                      zone => 'size=64m'), workers => 2);

my @redis_args = (args => ['--save', '3600 1']);
my $pg = start_migrated_postgres();
my $redis = start_redis(@redis_args);
my $agg = start_aggregator('--zone', zone_file(), '--postgres', $pg,
                           '--redis', $redis, '--flush-interval', '100ms',
                           '--node-id', 'rf-1');

my @paths = map { "/r/$_" } 'a' .. 'h';

# hour (YYYYMMDDHH) => requests, from PostgreSQL and from Redis
sub pg_hours {
    my %h;
    for my $r (psql_query("SELECT to_char(hour AT TIME ZONE 'UTC', "
                          . "'YYYYMMDDHH24'), sum(requests) FROM "
                          . 'pathstats_hourly GROUP BY 1')) {
        $h{ $r->[0] } = $r->[1];
    }
    return \%h;
}

sub redis_hours {
    my %h;
    my $keys = eval { redis_cmd('KEYS', 'pathstats:{*}:totals') } || [];
    for my $k (@$keys) {
        my ($hour) = $k =~ /\{(\d{10})\./ or next;
        my $n = eval { redis_cmd('HGET', $k, 'requests') };
        $h{$hour} += $n if defined $n && !ref $n;
    }
    return \%h;
}

sub same_hours {
    my ($a, $b) = @_;
    return 0 unless keys %$a == keys %$b;
    for (keys %$a) {
        return 0 unless defined $b->{$_} && $a->{$_} == $b->{$_};
    }
    return 1;
}

sub pg_exact {
    my ($served, $what) = @_;
    my $t;
    wait_until(sub { $t = zone_stats()->{totals}; $t->{in_ring} == 0 }, 20);
    my $drops = zone_drops($t);
    my $exp = $served - $drops;
    wait_until(sub { pg_requests() >= $exp }, 20);
    sleep 0.5;    # a late double count would show up now
    is(pg_requests(), $exp, "$what: PostgreSQL SUM = served $served - drops "
                         . "$drops");
    is($t->{seen}, $t->{recorded} + $t->{dropped},
       "$what: seen = recorded + dropped");
    return $exp;
}

# 1. stop and start Redis under load
my $load = start_load(clients => 3, requests => 100_000, duration => 30,
                      paths => \@paths);
ok(wait_until(sub { keys %{ redis_hours() } }, 10),
   'Redis receives counts');
stop_redis();
ok(!eval { redis_cmd('PING'); 1 }, 'Redis is down');
sleep 1.5;
ok(PathStats::Test::pid_alive($agg->{pid}),
   'the aggregator keeps running while Redis is down');
start_redis(@redis_args);
sleep 1;
my $res = $load->stop;
my $served = $res->{responses};
ok($served > 300, "traffic flowed ($served responses)");
is($res->{failures}, 0, 'no request failed');
my $exp = pg_exact($served, 'Redis stop/start');

my ($pgh, $rh);
ok(wait_until(sub { $pgh = pg_hours(); $rh = redis_hours();
                    same_hours($pgh, $rh) }, 20),
   'after Redis stop/start: Redis per-hour totals = PostgreSQL\'s (exact)')
    or diag('PostgreSQL ', explain($pgh), 'Redis ', explain($rh));

# 2. FLUSHALL under load
$load = start_load(clients => 3, requests => 100_000, duration => 30,
                   paths => \@paths);
sleep 1;
is(redis_cmd('FLUSHALL'), 'OK', 'FLUSHALL under load');
sleep 1.5;
ok(PathStats::Test::pid_alive($agg->{pid}),
   'the aggregator keeps running after FLUSHALL');
$res = $load->stop;
$served += $res->{responses};
is($res->{failures}, 0, 'no request failed');
pg_exact($served, 'FLUSHALL');
ok(wait_until(sub { keys %{ redis_hours() } }, 10),
   'Redis receives counts again after FLUSHALL');

{
    ok(wait_until(sub { $pgh = pg_hours(); $rh = redis_hours();
                        same_hours($pgh, $rh) }, 10),
       'after FLUSHALL: Redis per-hour totals converge to PostgreSQL\'s')
        or diag('PostgreSQL ', explain($pgh), 'Redis ', explain($rh));
}

is(stop_aggregator($agg), 0, 'SIGTERM exits 0');
finish();
