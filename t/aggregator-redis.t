#!/usr/bin/perl
# What a user sees in Redis: per-hour counters per path, totals, a top
# sorted set, unique and top clients, every key under pathstats:{HOUR.S}
# (the hour spread over 16 shards, each path and client in the shard its
# CRC-32 names) with a TTL; restarts never count a request twice, and two
# aggregators (two nginx zones, two node ids) sharing one Redis add up
# exactly.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

my $TTL_MS = 2 * 3600 * 1000;

sub nginx_conf {
    my ($zone) = @_;
    return site_conf(name => 'redis.test', zone_file => $zone,
                     zone => 'size=4m', reuseport => 0,
                     locations => <<'EOF');
location = /a   { return 200 "a\n"; }
location = /b   { return 200 "b\n"; }
location = /c   { return 204; }
location = /err { return 503; }
EOF
}

sub aggregator_conf {
    my ($name, $zone, $url, $node) = @_;
    return write_aggregator_conf($name, zone => $zone, redis => $url,
                                 node_id => $node, flush_interval => '200ms',
                                 redis_ttl => '2h');
}

use Compress::Zlib ();

# the hours with keys of a kind (each has a key per shard written)
sub hour_count {
    my %h = map { /\{(\d{10})\./ ? ($1 => 1) : () } redis_hour_keys($_[0]);
    return scalar keys %h;
}

sub total_requests { redis_hash_sum('totals')->{requests} // 0 }

sub field { "redis.test\tGET\t$_[0]" }

# every 10 requests: /a 4, /b 3, /c 2, /err 1
my @paths = (('/a') x 4, ('/b') x 3, ('/c') x 2, '/err');
my %weight = ('/a' => 4, '/b' => 3, '/c' => 2, '/err' => 1);

start_nginx(nginx_conf('%%ZONE%%'), workers => 2);
my $url = start_redis();
my $zone1 = zone_file();
my $conf1 = aggregator_conf('agg1', $zone1, $url, 'n1');
my $agg1 = start_aggregator('-c', $conf1);

# --- counters, totals, top, clients, TTL ---------------------------------
my $n = parallel_load(clients => 4, requests => 50, paths => \@paths);
is($n, 200, '200 requests answered');
ok(wait_until(sub { total_requests() >= $n }, 15), 'Redis caught up');
sleep 0.5;

my $ps = redis_paths_sum();
my $top = redis_zset_sum('top');
for my $p (sort keys %weight) {
    is($ps->{ field($p) }{requests}, $weight{$p} * 20,
       "requests of $p are exact");
    is($top->{ field($p) }, $weight{$p} * 20, "top score of $p is exact");
}
is(scalar keys %$ps, 4, 'no other fields in paths');
is($ps->{ field('/err') }{errors}, 20, 'errors count the 503s');
is($ps->{ field('/a') }{errors}, 0, 'no errors for /a');
ok($ps->{ field('/a') }{bytes_out} > 0 && $ps->{ field('/a') }{bytes_in} > 0
   && $ps->{ field('/a') }{latency_max_us} <= $ps->{ field('/a') }{latency_sum_us},
   'bytes and latency per path');
my $misplaced = 0;
for my $k (redis_hour_keys('paths')) {
    my ($shard) = $k =~ /\{\d{10}\.(\d+)(?:\.\d+)?\}/;
    for my $f (@{ redis_cmd('HKEYS', $k) }) {
        $misplaced++ if Compress::Zlib::crc32($f) % 16 != $shard;
    }
}
is($misplaced, 0, 'each path in the shard crc32(field) mod 16 names');

my $tot = redis_hash_sum('totals');
is($tot->{requests}, 200, 'totals: requests');
is($tot->{errors}, 20, 'totals: errors');
is($tot->{status_2xx}, 180, 'totals: 2xx');
is($tot->{status_5xx}, 20, 'totals: 5xx');
ok($tot->{bytes_out} > 0 && $tot->{bytes_in} > 0, 'totals: bytes');
ok(defined $tot->{latency_sum_us} && defined $tot->{latency_max_us},
   'totals: latency');

SKIP: {
    skip 'an hour boundary was crossed', 1 if hour_count('top') != 1;
    my @keys = redis_hour_keys('top');
    redis_cmd('ZUNIONSTORE', 'ps-test-top', scalar @keys, @keys);
    is_deeply(redis_cmd('ZREVRANGE', 'ps-test-top', 0, -1),
              [map { field($_) } qw(/a /b /c /err)],
              'top over the shards is ordered by requests');
    redis_cmd('DEL', 'ps-test-top');
}

is(redis_zset_sum('clients:top')->{'127.0.0.1'}, 200,
   'top clients: 127.0.0.1 made every request');
my @ukeys = redis_hour_keys('clients:uniq');
is(redis_cmd('PFCOUNT', @ukeys), 1, 'unique clients: one');
is(scalar @ukeys, 1, '  in the shard of its address');

my @all = @{ redis_cmd('KEYS', '*') };
is(scalar(grep { !/^pathstats:\{\d{10}\.(\d|1[0-5])(\.\d+)?\}:/
                 && !/^pathstats:\{node\.n1\}:done:\d+$/ } @all), 0,
   'every key is under pathstats:{YYYYMMDDHH.S[.K]}:, S in 0..15, or the '
   . "node's done marker");
my @nottl = grep {
    my $t = redis_cmd('PTTL', $_);
    !($t > $TTL_MS - 60_000 && $t <= $TTL_MS + 3600 * 1000)
} @all;
is("@nottl", '', 'every key expires ttl after the end of its hour');

my @wm = redis_hour_keys('wm:n1');
my @tk = redis_hour_keys('totals');
is(scalar @wm, scalar @tk,
   'a watermark hash of node n1 in every shard written') or diag("@wm / @tk");
my %wmh = @wm ? @{ redis_cmd('HGETALL', $wm[0]) } : ();
ok((grep { $_ > 0 } values %wmh), 'watermark positions stored');
is_deeply(redis_cmd('SMEMBERS', (redis_hour_keys('nodes'))[0]), ['n1'],
          'nodes: n1');

# --- clean restart: requests served while it was down count once --------
is(stop_aggregator($agg1), 0, 'SIGTERM: aggregator exits 0');
$n += parallel_load(clients => 2, requests => 50, paths => \@paths);
$agg1 = start_aggregator('-c', $conf1);
ok(wait_until(sub { total_requests() >= $n }, 15), 'caught up after restart');
sleep 1;
is(total_requests(), $n, "after a clean restart: exactly $n");
is(redis_paths_sum()->{ field('/a') }{requests}, $n * 4 / 10, '/a exact');

# --- kill -9 during load: never doubled ----------------------------------
# Without a durable sink (PostgreSQL) the rings are released as soon as
# records are read, so a kill -9 may lose what was read but not yet
# flushed; Redis must never hold more than was sent.
my $load = start_load(clients => 2, requests => 200, paths => \@paths);
sleep 0.5;
stop_aggregator($agg1, 'KILL');
sleep 0.3;
$agg1 = start_aggregator('-c', $conf1);
my $res = $load->wait;
is($res->{responses}, 400, 'load during kill -9 answered');
$n += $res->{responses};
wait_until(sub { total_requests() >= $n }, 5);
sleep 1;
my $got = total_requests();
ok($got <= $n, "after kill -9: nothing doubled ($got <= $n)");
note('lost to kill -9 without a durable sink: ' . ($n - $got));
my $sum = 0;
$sum += $_->{requests} for values %{ redis_paths_sum() };
is($sum, $got, 'per-path counts add up to the totals');

# --- two nodes, two zones, one Redis -------------------------------------
my $base = total_requests();
stop_nginx();
start_nginx(nginx_conf('%%DIR%%/zone2'), workers => 2);
my $zone2 = test_dir() . '/zone2';
my $agg2 = start_aggregator('-c', aggregator_conf('agg2', $zone2, $url, 'n2'));
my $m = parallel_load(clients => 4, requests => 25, paths => \@paths);
is($m, 100, 'second node: 100 requests');
ok(wait_until(sub { total_requests() >= $base + $m }, 15),
   'second node caught up');
sleep 1;
is(total_requests(), $base + $m, 'two nodes add up exactly');
SKIP: {
    skip 'an hour boundary was crossed', 1 if hour_count('nodes') != 1;
    is_deeply([sort @{ redis_cmd('SMEMBERS', (redis_hour_keys('nodes'))[0]) }],
              ['n1', 'n2'], 'nodes: n1 and n2');
}
ok(hour_count('wm:n2') >= 1, 'node n2 has its own watermark');

is(stop_aggregator($agg2), 0, 'second aggregator exits 0');
is(stop_aggregator($agg1), 0, 'first aggregator exits 0');

# --- replays below the Redis watermark are not counted again -------------
# With PostgreSQL (durable) the rings are held back to what PostgreSQL
# committed, so a restart rereads records that Redis already has: Redis
# skips them by its own watermarks.
my $pg = start_migrated_postgres();
my $conf3 = aggregator_conf('agg3', $zone2, $url, 'n2');
spew($conf3, slurp($conf3) . "postgres = \"$pg\"\n");
$base = total_requests();
# a kill -9 above may have lost part of a round of 10 paths
my $a_base = redis_paths_sum()->{ field('/a') }{requests} // 0;

# both sinks up: the records of zone2 were released already, so
# PostgreSQL starts from the rings' current positions
my $agg3 = start_aggregator('-c', $conf3);
ok(wait_until(sub { grep { /sink_ready sink=postgres/ }
                    split /\n/, slurp($agg3->{stderr}) // '' }, 15),
   'aggregator with PostgreSQL and Redis started');
sleep 1;
is(total_requests(), $base, 'nothing counted again at start');

# PostgreSQL down: Redis runs ahead; kill -9; PostgreSQL back; the
# restart rereads everything PostgreSQL lacks and Redis skips it
stop_postgres();
my $k = parallel_load(clients => 2, requests => 50, paths => \@paths);
ok(wait_until(sub { total_requests() >= $base + $k }, 15),
   'Redis went on while PostgreSQL was down');
stop_aggregator($agg3, 'KILL');
# requests while it is down: the first flush after the restart holds
# them next to the reread ones, so only the watermarks can tell apart
$k += parallel_load(clients => 2, requests => 10, paths => \@paths);
start_postgres();
$agg3 = start_aggregator('-c', $conf3);
ok(wait_until(sub {
    (psql_query('SELECT coalesce(sum(requests), 0) FROM pathstats_hourly')
     // 0) >= $k
}, 20), 'PostgreSQL caught up after the restart');
sleep 1;
is(total_requests(), $base + $k, 'kill -9 and replay: Redis exact');
is(redis_paths_sum()->{ field('/a') }{requests}, $a_base + $k * 4 / 10,
   '/a exact');
is(psql_query('SELECT sum(requests) FROM pathstats_hourly'), $k,
   'PostgreSQL holds the requests served since it joined');
# --- Redis loses its data (FLUSHALL): repaired, counting goes on --------
# The aggregator writes its own contribution to the hour again: since
# its restart above, that is the 20 requests served while it was down
# (what an earlier process of it wrote is gone from Redis for good;
# t/aggregator-redis-repair.t covers a whole hour).
redis_cmd('FLUSHALL');
my $j = parallel_load(clients => 1, requests => 10, paths => \@paths);
ok(wait_until(sub { total_requests() >= 20 + $j }, 15), 'counting goes on');
sleep 1;
is(total_requests(), 20 + $j, 'its own part of the hour is repaired');
my $log = slurp($agg3->{stderr}) // '';
ok($log =~ /event=redis_state_lost hour=\d{10} shard=\d+ node=n2/,
   'the loss is logged as redis_state_lost');
my $keys = 0;
$keys += $1 while $log =~ /event=redis_repaired hour=\d{10} shard=\d+ node=n2 \S+ keys=(\d+) /g;
is($keys, 4, 'and the repairs of its shards as redis_repaired, 4 keys');

# --- Redis outage: what was served meanwhile arrives when it is back ----
my $before = total_requests();
stop_redis();
my $o = parallel_load(clients => 1, requests => 30, paths => \@paths);
sleep 1;
start_redis();                          # empty: no persistence
ok(wait_until(sub { total_requests() >= $before + $o }, 30),
   'requests served during the outage arrive');
sleep 1;
is(total_requests(), $before + $o,
   'and count exactly once, next to the repaired hour');

is(stop_aggregator($agg3), 0, 'aggregator with both sinks exits 0');

finish();
