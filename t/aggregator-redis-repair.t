#!/usr/bin/perl
# Redis loses its data (FLUSHALL, a restart without persistence): the
# aggregator keeps running and, once Redis answers again, writes its own
# contribution to the live hour again, so that Redis holds exactly what
# was served (and what PostgreSQL holds), with one node or with two.  A
# Redis outage without data loss is not repaired (nothing doubles).
# Every sum is over all hours present, so crossing a UTC hour boundary
# during the test changes nothing (the previous hour is repaired too for
# its first 10 minutes).  Then a repair in many small chunks, with a
# second FLUSHALL in its middle; a normal batch larger than a chunk,
# written in chunks too, with a FLUSHALL in its middle; and the sink's
# protocol script by script (the C test t/unit/test_sink_redis.c
# against this Redis).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

sub nginx_conf {
    my ($zone) = @_;
    return site_conf(name => 'repair.test', zone_file => $zone,
                     zone => 'size=4m', reuseport => 0,
                     locations => <<'EOF');
location = /a   { return 200 "a\n"; }
location = /b   { return 200 "b\n"; }
location = /c   { return 204; }
location = /err { return 503; }
EOF
}

sub aggregator_conf {
    my ($name, $zone, $url, $node, $pg, $shards) = @_;
    return write_aggregator_conf($name, zone => $zone, redis => $url,
                                 node_id => $node, flush_interval => '200ms',
                                 redis_ttl => '2h', postgres => $pg,
                                 redis_shards => $shards // 16);
}

sub redis_total { redis_hash_sum('totals')->{requests} // 0 }

sub pg_total {
    return psql_query('SELECT coalesce(sum(requests), 0) '
                      . 'FROM pathstats_hourly') // 0;
}

sub field { "repair.test\tGET\t$_[0]" }

sub log_count {
    my ($agg, $re) = @_;
    return scalar grep { /$re/ } split /\n/, slurp($agg->{stderr}) // '';
}

# Waits until Redis and PostgreSQL both hold $n, then checks what a user
# sees: totals, per path, top, clients.
sub converged {
    my ($n, $what) = @_;
    my $ok = wait_until(sub { redis_total() == $n && pg_total() == $n }, 30);
    sleep 0.5;
    is(redis_total(), $n, "$what: Redis holds exactly $n requests");
    is(pg_total(), redis_total(), "$what: as many as PostgreSQL");
    my $ps = redis_paths_sum();
    is_deeply([map { $ps->{ field($_) }{requests} // 0 } qw(/a /b /c /err)],
              [map { $n * $_ / 10 } 4, 3, 2, 1], "$what: per path exact");
    is(redis_zset_sum('top')->{ field('/a') }, $n * 4 / 10, "$what: top exact");
    is($ps->{ field('/err') }{errors}, $n / 10, "$what: errors exact");
    is(redis_zset_sum('clients:top')->{'127.0.0.1'}, $n,
       "$what: top clients exact");
    my @u = redis_hour_keys('clients:uniq');
    is(redis_cmd('PFCOUNT', @u), 1, "$what: one unique client");
    return $ok;
}

# every 10 requests: /a 4, /b 3, /c 2, /err 1
my @paths = (('/a') x 4, ('/b') x 3, ('/c') x 2, '/err');

start_nginx(nginx_conf('%%ZONE%%'), workers => 2);
my $url = start_redis();
my $pg = start_migrated_postgres();

my $agg1 = start_aggregator('-c',
    aggregator_conf('agg1', zone_file(), $url, 'n1', $pg));
my $n = parallel_load(clients => 4, requests => 50, paths => \@paths);
is($n, 200, '200 requests answered');
converged($n, 'before any loss');

# --- FLUSHALL under load --------------------------------------------------
my $load = start_load(clients => 2, requests => 300, paths => \@paths);
sleep 0.7;
redis_cmd('FLUSHALL');
my $res = $load->wait;
is($res->{responses}, 600, 'load during FLUSHALL answered');
$n += $res->{responses};
converged($n, 'after FLUSHALL under load');
ok(log_count($agg1, qr/event=redis_state_lost hour=\d{10} shard=\d+ node=n1 /),
   'the loss is logged, per shard');
ok(log_count($agg1, qr/event=redis_repaired\ hour=\d{10}\ shard=\d+\ node=n1
                       \ zone_id=\d+\ keys=[1-4]\ requests=\d+\ chunks=1$/x),
   'the repair of each shard is logged with keys, requests and chunks');

# --- FLUSHALL with no traffic: repaired by the next heartbeat ---------------
redis_cmd('FLUSHALL');
converged($n, 'after FLUSHALL without traffic');

# --- restart without persistence ------------------------------------------
my $losses = log_count($agg1, qr/event=redis_state_lost/);
stop_redis();
$n += parallel_load(clients => 2, requests => 50, paths => \@paths);
sleep 1;
start_redis();                          # --save '' --appendonly no: empty
converged($n, 'after a restart without persistence');
ok(log_count($agg1, qr/event=redis_state_lost/) > $losses,
   'the restart was seen as a loss');

# --- outage without data loss: resent, never repaired -----------------------
# A snapshot taken while the aggregator is idle holds everything it
# wrote; Redis loads it at start, so the watermarks are still there.
my $repairs = log_count($agg1, qr/event=redis_repaired/);
redis_cmd('SAVE');
stop_redis();
$n += parallel_load(clients => 2, requests => 50, paths => \@paths);
sleep 1;
start_redis();
ok(redis_total() > 0, 'Redis came back with its data');
converged($n, 'after an outage without loss');
is(log_count($agg1, qr/event=redis_repaired/), $repairs,
   'nothing was repaired');
unlink test_dir() . '/redis/dump.rdb';

# --- two nodes, two zones, one Redis, one PostgreSQL ------------------------
# node n1 keeps running on its zone (nginx no longer writes it); nginx
# now writes zone2, read by node n2; FLUSHALL; n1 repairs from its
# heartbeat, n2 when the next requests come, and the sum is exact.
stop_nginx();
start_nginx(nginx_conf('%%DIR%%/zone2'), workers => 2);
my $zone2 = test_dir() . '/zone2';
my $agg2 = start_aggregator('-c',
    aggregator_conf('agg2', $zone2, $url, 'n2', $pg));
$n += parallel_load(clients => 4, requests => 25, paths => \@paths);
converged($n, 'two nodes');
my %before = map { $_ => log_count($_ eq 'n1' ? $agg1 : $agg2,
                                   qr/event=redis_repaired/) } qw(n1 n2);
$load = start_load(clients => 2, requests => 100, paths => \@paths);
sleep 0.5;
redis_cmd('FLUSHALL');
$res = $load->wait;
is($res->{responses}, 200, 'load during FLUSHALL answered');
$n += $res->{responses};
converged($n, 'two nodes after FLUSHALL');
ok(log_count($agg1, qr/event=redis_repaired hour=\S+ shard=\d+ node=n1 /) > $before{n1},
   'node n1 repaired its part');
ok(log_count($agg2, qr/event=redis_repaired hour=\S+ shard=\d+ node=n2 /) > $before{n2},
   'node n2 repaired its part');
my @nodes = redis_hour_keys('nodes');
my %members = map { $_ => 1 } map { @{ redis_cmd('SMEMBERS', $_) } } @nodes;
is_deeply([sort keys %members], ['n1', 'n2'], 'nodes: n1 and n2');

is(stop_aggregator($agg2), 0, 'second aggregator exits 0');
is(stop_aggregator($agg1), 0, 'first aggregator exits 0');

# --- a repair in many chunks ------------------------------------------------
# 7 fields per script (PATHSTATS_TEST_REDIS_REPAIR_CHUNK) and 150 ms
# between two scripts (PATHSTATS_TEST_REDIS_REPAIR_PAUSE_MS): 60 paths
# and a client take 9 chunks, all in one shard (redis_shards = 1).  Node n3 alone writes the host chunk.test;
# Redis must hold per hour and path exactly what PostgreSQL holds, after
# a FLUSHALL and after a second FLUSHALL in the middle of the repair.

# per "YYYYMMDDHH\tfield": requests, errors, bytes_in, bytes_out,
# latency_sum_us, latency_max_us, top score
sub chunk_redis {
    my %v;
    for my $k (redis_hour_keys('paths'), redis_hour_keys('top')) {
        my ($h) = $k =~ /\{(\d{10})\./;
        my $top = $k =~ /:top$/;
        my %x = $top ? @{ redis_cmd('ZRANGE', $k, 0, -1, 'WITHSCORES') }
                     : @{ redis_cmd('HGETALL', $k) };
        for my $f (grep { /^chunk\.test\t/ } keys %x) {
            $v{"$h\t$f"} //= [(0) x 7];
            if ($top) {
                $v{"$h\t$f"}[6] = $x{$f};
            } else {
                @{ $v{"$h\t$f"} }[0 .. 5] = split / /, $x{$f};
            }
        }
    }
    return \%v;
}

sub chunk_pg {
    my %v;
    for my $r (psql_query(
            "SELECT to_char(hour AT TIME ZONE 'UTC', 'YYYYMMDDHH24'), "
            . "host, method, path, requests, errors, bytes_in, bytes_out, "
            . "latency_sum_us, latency_max_us, requests "
            . "FROM pathstats_hourly WHERE host = 'chunk.test'")) {
        my ($h, $host, $m, $path, @c) = @$r;
        $v{"$h\t$host\t$m\t$path"} = [@c];
    }
    return \%v;
}

sub chunk_total {
    my $sum = 0;
    $sum += $_->[0] for values %{ chunk_redis() };
    return $sum;
}

sub repair_markers {
    return grep { /^repair:/ } map { @{ redis_cmd('HKEYS', $_) } }
           redis_hour_keys('wm:n3');
}

# Waits until Redis holds per hour and field exactly what PostgreSQL
# holds for chunk.test ($n requests, no repair under way), then checks.
sub chunk_exact {
    my ($n, $what) = @_;
    wait_until(sub {
        my $v = eval { psql_query("SELECT coalesce(sum(requests), 0) "
                                  . "FROM pathstats_hourly "
                                  . "WHERE host = 'chunk.test'") } // -1;
        $v == $n && chunk_total() == $n && redis_total() == $n
            && !repair_markers();
    }, 30);
    sleep 0.5;
    my ($r, $p) = (chunk_redis(), chunk_pg());
    # the paths whatever their hours (a load across an hour's end
    # counts a path in both)
    my %paths = map { (split /\t/, $_, 2)[1] => 1 } keys %$r;
    is(scalar(keys %paths), 60, "$what: Redis holds the 60 paths");
    is_deeply($r, $p, "$what: per hour and path, every counter as in "
                      . "PostgreSQL");
    is(redis_total(), $n, "$what: totals exact ($n requests)");
    is(redis_zset_sum('clients:top')->{'127.0.0.1'}, $n,
       "$what: top clients exact");
    is(scalar(repair_markers()), 0, "$what: no repair marker left");
}

redis_cmd('FLUSHALL');
stop_nginx();
start_nginx(<<'EOF', workers => 2);
http {
    pathstats_zone %%DIR%%/zone3 size=4m;

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name chunk.test;
        pathstats on;
        pathstats_normalize off;

        location /p/ { return 200 "p\n"; }
        location /e/ { return 503; }
    }
}
EOF
my $agg3 = start_aggregator(
    { env => { PATHSTATS_TEST_REDIS_REPAIR_CHUNK => 7,
               PATHSTATS_TEST_REDIS_REPAIR_PAUSE_MS => 150 } },
    '-c', aggregator_conf('agg3', test_dir() . '/zone3', $url, 'n3', $pg,
                          1));
my @cpaths = ((map { "/p/$_" } 1 .. 50), (map { "/e/$_" } 1 .. 10));
my $cn = parallel_load(clients => 3, requests => 120, paths => \@cpaths);
is($cn, 360, '360 requests on 60 paths answered');
chunk_exact($cn, 'chunks: before any loss');

redis_cmd('FLUSHALL');
chunk_exact($cn, 'chunks: after FLUSHALL');
my @rep = grep { /event=redis_repaired hour=\S+ shard=\d+ node=n3 / }
          split /\n/, slurp($agg3->{stderr}) // '';
# 4 units per field, 1 per client, 28 per chunk: 60 paths take 9 chunks
ok(@rep && $rep[-1] =~ /keys=(\d+) requests=\d+ chunks=(\d+)$/
   && $2 == int(($1 * 4 + 1 + 27) / 28) && $2 > 1,
   'the repair took several chunks') or diag($rep[-1] // 'none logged');

# Waits (25 s at most) for node n3's chunk marker "repair:<zone_id>" in
# an hour's watermark hash; its value "<id>:<next chunk>", or undef.
sub wait_marker {
    my $marker;
    wait_until(sub {
        for my $k (redis_hour_keys('wm:n3')) {
            my %h = @{ redis_cmd('HGETALL', $k) };
            ($marker) = map { $h{$_} } grep { /^repair:/ } keys %h;
            return 1 if defined $marker;
        }
        return 0;
    }, 25, 0.01);
    return $marker;
}

# a second FLUSHALL while the repair is at one of its first chunks
my $restart_re = qr/event=redis_state_lost hour=\S+ shard=\d+ node=n3 .*during_repair=1/;
my $restarts = log_count($agg3, $restart_re);
redis_cmd('FLUSHALL');
my $marker = wait_marker();
ok(defined $marker && $marker =~ /:(\d+)$/ && $1 < 8,
   'a repair is under way (marker ' . ($marker // 'none') . ')');
redis_cmd('FLUSHALL');
chunk_exact($cn, 'chunks: after a FLUSHALL in the middle of a repair');
is(log_count($agg3, $restart_re), $restarts + 1,
   'the repair started again from its first chunk');

# --- a normal batch in many chunks ------------------------------------------
# An outage without loss (a snapshot taken while idle): the requests
# served meanwhile reach Redis in one batch of the 60 paths once it is
# back, written in chunks of 7 fields like a repair.
my $chunked_re = qr/event=redis_batch_chunked hour=\S+ shard=\d+ node=n3 .* chunks=(\d+)$/;
my $rdb = test_dir() . '/redis/dump.rdb';
sub outage_load {
    redis_cmd('SAVE');
    stop_redis();
    my $m = parallel_load(clients => 3, requests => 120, paths => \@cpaths);
    is($m, 360, 'outage: 360 requests answered');
    sleep 1;
    start_redis();
    return $m;
}
my $nchunked = log_count($agg3, $chunked_re);
my $rep_before = log_count($agg3, qr/event=redis_repaired/);
$cn += outage_load();
chunk_exact($cn, 'chunked batch after an outage');
my @chunked = grep { /$chunked_re/ } split /\n/, slurp($agg3->{stderr});
ok(@chunked > $nchunked && $chunked[-1] =~ /keys=(\d+) .*chunks=(\d+)$/
   && $2 == int(($1 * 4 + 1 + 27) / 28) && $2 > 1,
   'the batch was written in several chunks')
    or diag($chunked[-1] // 'none logged');
is(log_count($agg3, qr/event=redis_repaired/), $rep_before,
   'and nothing was repaired');

# the same with a FLUSHALL in the middle of that batch: its next chunk
# finds the hour lost and the sink repairs the whole hour, the batch
# included
my $lost_re = qr/event=redis_state_lost hour=\S+ shard=\d+ node=n3 .*during_batch=1/;
my $lost_before = log_count($agg3, $lost_re);
$cn += outage_load();
$marker = wait_marker();
ok(defined $marker && $marker =~ /:(\d+)$/ && $1 < 8,
   'a chunked batch is under way (marker ' . ($marker // 'none') . ')');
redis_cmd('FLUSHALL');
chunk_exact($cn, 'chunks: after a FLUSHALL in the middle of a batch');
is(log_count($agg3, $lost_re), $lost_before + 1,
   'the loss was found in the middle of the batch');
ok(log_count($agg3, qr/event=redis_repaired/) > $rep_before,
   'and the hour repaired');
unlink $rdb;

is(stop_aggregator($agg3), 0, 'third aggregator exits 0');

# --- the sink's repair protocol, script by script ---------------------------
# t/unit/test_sink_redis.c against this Redis (it FLUSHALLs it)
my ($urc, $uout, $uerr) = PathStats::Test::run_cmd(
    [build_dir() . '/unit/unit-test_sink_redis'], timeout => 120,
    env => { PS_TEST_REDIS => redis_port() });
my $un = 0;
for my $line (split /\n/, $uout) {
    if ($line =~ /^(not )?ok\b\s*\d*\s*(?:- )?(.*)$/) {
        ok(!$1, "C: $2");
        $un++;
    } elsif ($line =~ /^#\s?(.*)$/) {
        diag($1);
    }
}
ok($un > 40, "the C test ran ($un tests)");
is($urc, 0, 'and exited 0') or diag($uerr);

finish();
