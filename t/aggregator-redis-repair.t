#!/usr/bin/perl
# Redis loses its data (FLUSHALL, a restart without persistence): the
# aggregator keeps running and, once Redis answers again, writes its own
# contribution to the live hour again, so that Redis holds exactly what
# was served (and what PostgreSQL holds), with one node or with two.  A
# Redis outage without data loss is not repaired (nothing doubles).
# Every sum is over all hours present, so crossing a UTC hour boundary
# during the test changes nothing (the previous hour is repaired too for
# its first 10 minutes).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

sub nginx_conf {
    my ($zone) = @_;
    return <<"EOF";
http {
    pathstats_zone $zone size=4m;

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name repair.test;
        pathstats on;

        location = /a   { return 200 "a\\n"; }
        location = /b   { return 200 "b\\n"; }
        location = /c   { return 204; }
        location = /err { return 503; }
    }
}
EOF
}

sub aggregator_conf {
    my ($name, $zone, $url, $node, $pg) = @_;
    my $file = test_dir() . "/$name.conf";
    spew($file, "zone = $zone\nredis = $url\nnode_id = $node\n"
                . "flush_interval = 200ms\nredis_ttl = 2h\n"
                . "postgres = \"$pg\"\n");
    return $file;
}

sub hour_keys {
    my ($kind) = @_;
    return sort @{ redis_cmd('KEYS', "pathstats:{*}:$kind") };
}

sub hash_sum {
    my ($kind) = @_;
    my %sum;
    for my $k (hour_keys($kind)) {
        my %h = @{ redis_cmd('HGETALL', $k) };
        $sum{$_} += $h{$_} for keys %h;
    }
    return \%sum;
}

sub zset_sum {
    my ($kind) = @_;
    my %sum;
    for my $k (hour_keys($kind)) {
        my %z = @{ redis_cmd('ZRANGE', $k, 0, -1, 'WITHSCORES') };
        $sum{$_} += $z{$_} for keys %z;
    }
    return \%sum;
}

sub redis_total { hash_sum('totals')->{requests} // 0 }

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
    my $req = hash_sum('req');
    is_deeply([map { $req->{ field($_) } // 0 } qw(/a /b /c /err)],
              [map { $n * $_ / 10 } 4, 3, 2, 1], "$what: per path exact");
    is(zset_sum('top')->{ field('/a') }, $n * 4 / 10, "$what: top exact");
    is(hash_sum('err')->{ field('/err') }, $n / 10, "$what: errors exact");
    is(zset_sum('clients:top')->{'127.0.0.1'}, $n,
       "$what: top clients exact");
    my @u = hour_keys('clients:uniq');
    is(redis_cmd('PFCOUNT', @u), 1, "$what: one unique client");
    return $ok;
}

# every 10 requests: /a 4, /b 3, /c 2, /err 1
my @paths = (('/a') x 4, ('/b') x 3, ('/c') x 2, '/err');

start_nginx(nginx_conf('%%ZONE%%'), workers => 2);
my $url = start_redis();
my $pg = start_postgres();
my ($rc, undef, $err) = run_aggregator('--postgres', $pg, '--migrate');
is($rc, 0, '--migrate exits 0') or diag($err);

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
ok(log_count($agg1, qr/event=redis_state_lost hour=\d{10} node=n1 /),
   'the loss is logged');
ok(log_count($agg1, qr/event=redis_repaired hour=\d{10} node=n1 zone_id=\d+ keys=4 requests=\d+$/),
   'the repair is logged with keys and requests');

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
ok(log_count($agg1, qr/event=redis_repaired \S+ node=n1 /) > $before{n1},
   'node n1 repaired its part');
ok(log_count($agg2, qr/event=redis_repaired \S+ node=n2 /) > $before{n2},
   'node n2 repaired its part');
my @nodes = hour_keys('nodes');
my %members = map { $_ => 1 } map { @{ redis_cmd('SMEMBERS', $_) } } @nodes;
is_deeply([sort keys %members], ['n1', 'n2'], 'nodes: n1 and n2');

is(stop_aggregator($agg2), 0, 'second aggregator exits 0');
is(stop_aggregator($agg1), 0, 'first aggregator exits 0');

finish();
