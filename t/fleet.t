#!/usr/bin/perl
# A fleet: three nginx, each with its own zone and aggregator (node ids
# a, b, c), sharing one PostgreSQL, serving overlapping paths.  Exact:
# one Redis Cluster (three masters, three replicas), serving
# overlapping paths.  Exact: each box's scope=node equals what it served; scope=fleet (24h rows
# and summary, from every node's hourly rows) equals the sum; node=ID
# from any box shows that node's own view; /api/nodes lists the three
# with their numbers; after a kill -9 of c's aggregator, c shows as
# stale in /api/nodes, /health?scope=fleet and /metrics, while the
# fleet's totals stay exact and the building of the fleet's view (one
# node at a time, c first) passes to a or b (PostgreSQL and the cluster, also after a
# FLUSHALL of one master and the kill of another); restarted, c's own 24h window equals what
# c served (its rows only) and the fleet is ok again.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use File::Path qw(make_path);
use PathStats::Test;
use PathStats::Cluster;

my $JSON = JSON::PP->new->utf8;
my $NGINX_BIN = $ENV{PS_NGINX} || '/usr/sbin/nginx';

my $pg = start_migrated_postgres();
my $url = start_redis_cluster(masters => 3, replicas => 1);

my (%node, @ids);
@ids = qw(a b c);

for my $id (@ids) {
    my $d = test_dir() . "/node-$id";
    make_path("$d/tmp", "$d/html");
    my ($port, $admin) = (free_port(), free_port());
    my $body = <<"EOF";
http {
    pathstats_zone $d/zone size=8m;

    server {
        listen 127.0.0.1:$port;
        server_name fleet.test;
        pathstats on;
        location / { return 200 "ok\\n"; }
    }

    server {
        listen 127.0.0.1:$admin;
        location /pathstats/ { pathstats_admin; }
    }
}
EOF
    my $conf = "$d/nginx.conf";
    spew($conf, PathStats::Test::build_conf($body, $port, dir => $d,
                                            workers => 1,
                                            log_level => 'info'));
    my $pid = PathStats::Test::spawn([$NGINX_BIN, '-p', "$d/", '-c', $conf],
                                     stdout => "$d/nginx.stdout",
                                     stderr => "$d/nginx.stderr",
                                     chdir => $d, env => nginx_env());
    at_cleanup(sub { PathStats::Test::terminate($pid, 'QUIT', 10) });
    ok(wait_until(sub {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $admin,
                              Proto => 'tcp', Timeout => 1) ? 1 : 0 }, 15),
       "nginx of node $id up")
        or BAIL_OUT(slurp("$d/nginx.stderr") // '');
    add_error_log("$d/error.log");
    my $aconf = write_aggregator_conf("agg-$id", zone => "$d/zone",
                                      postgres => $pg, redis => $url,
                                      node_id => $id,
                                      flush_interval => '200ms',
                                      snapshot_interval => '200ms',
                                      fleet_interval => '300ms',
                                      node_stale => '2s', node_gone => '1h');
    $node{$id} = { dir => $d, port => $port, admin => $admin,
                   conf => $aconf };
}

# c first: it takes the fleet view's lock, so that its kill -9 below
# hands the building of the fleet's view over to a or b
$node{c}{agg} = start_aggregator('-c', $node{c}{conf});
ok(wait_until(sub { (slurp($node{c}{agg}{stderr}) // '')
                    =~ /event=fleet_view_builder node_id=c\b/ }, 15, 0.1),
   'c builds the fleet\'s view');
$node{$_}{agg} = start_aggregator('-c', $node{$_}{conf}) for qw(a b);

sub builder { scalar psql_query('SELECT node_id FROM pathstats_fleet_view') }

sub api {
    my ($id, $path) = @_;
    my ($st, $body) = http_get("/pathstats/$path",
                               port => $node{$id}{admin});
    my $data = eval { $JSON->decode($body // '') };
    return wantarray ? ($st, $data) : $data;
}

# overlapping paths: every node serves /shared/x and y, each its own too;
# node a 60, b 45, c 30 requests
my %served = (a => 0, b => 0, c => 0);
my %per_path;
sub send_load {
    my ($id, $n) = @_;
    for my $i (1 .. $n) {
        my $p = $i % 3 ? "/shared/" . ('', 'x', 'y')[$i % 3] : "/only-$id";
        my ($st) = http_get($p, port => $node{$id}{port});
        next unless $st == 200;
        $served{$id}++;
        $per_path{$id}{$p}++;
        $per_path{fleet}{$p}++;
    }
}
send_load('a', 60);
send_load('b', 45);
send_load('c', 30);
is_deeply(\%served, { a => 60, b => 45, c => 30 }, 'every request answered');

is_pg_requests(135, 'PostgreSQL holds the fleet: 60 + 45 + 30', 30);
sub redis_requests { cluster_hash_sum('totals')->{requests} // 0 }
sub redis_exact {
    my ($want, $what) = @_;
    wait_until(sub { redis_requests() >= $want }, 30, 0.2);
    sleep 0.5;
    is(redis_requests(), $want, "Redis Cluster: $what");
}
redis_exact(135, 'the fleet, 60 + 45 + 30');

# one master loses its data: each shard repaired by every node from its
# own counts
my @m = cluster_masters();
cluster_at($m[0], 'FLUSHALL');
redis_exact(135, '135 again after a FLUSHALL of one master');

is(psql_query("SELECT string_agg(node_id || '=' || s, ',' ORDER BY node_id)"
              . " FROM (SELECT node_id, sum(requests) s FROM pathstats_hourly"
              . " GROUP BY node_id) x"), 'a=60,b=45,c=30',
   'one row set per node');

sub summary_24h {
    my ($id, $q) = @_;
    my $d = api($id, "api/summary?$q") or return -1;
    return $d->{data}{windows}{'24h'}{requests} // -1;
}

sub rows_of {
    my ($id, $q) = @_;
    my $d = api($id, "api/paths?window=24h&per_page=100&$q") or return {};
    return { map { $_->{path} => $_->{requests} } @{ $d->{data} || [] } };
}

# the fleet's view catches up within a few fleet intervals
for my $id (@ids) {
    ok(wait_until(sub { summary_24h($id, 'scope=fleet') == 135 }, 20, 0.2),
       "box $id: scope=fleet 24h = 135")
        or diag(explain(scalar api($id, 'api/summary?scope=fleet')));
}

is(builder(), 'c', 'pathstats_fleet_view: built by c');
is_deeply([map { api($_, 'api/summary?scope=fleet')->{data}{built_by} } @ids],
          [qw(c c c)], 'every box serves the view c built');
ok(!grep({ /event=fleet_view_builder/ }
         map { slurp($node{$_}{agg}{stderr}) // '' } qw(a b)),
   '  a and b never built it');

for my $id (@ids) {
    ok(wait_until(sub { summary_24h($id, 'scope=node') == $served{$id} },
                  10, 0.2), "box $id: scope=node 24h = $served{$id}");
    is(summary_24h($id, ''), $served{$id}, "box $id: the default is node");
    is_deeply(rows_of($id, 'scope=node'), $per_path{$id},
              "box $id: its own rows, path by path");
}

is_deeply(rows_of('b', 'scope=fleet'), $per_path{fleet},
          'scope=fleet rows: the sum over nodes, path by path');

# a path of one node: its fleet row, read back from PostgreSQL, is that
# node's own row from its windows, in everything the row shows
sub whole_row {
    my ($id, $q, $path) = @_;
    my $d = api($id, "api/paths?window=24h&per_page=100&$q") or return {};
    my ($r) = grep { $_->{path} eq $path } @{ $d->{data} || [] };
    return {} unless $r;
    return { map { $_ => $r->{$_} }
             qw(requests status latency_ms bytes_out unique_clients
                first_seen last_seen) };
}
my $own = whole_row('b', 'scope=node', '/only-b');
is($own->{unique_clients}, 1, "/only-b on box b: one client");
is_deeply(whole_row('b', 'scope=fleet', '/only-b'), $own,
          "/only-b in the fleet's rows: box b's row, latencies, clients, "
          . 'first and last seen included');
my $d = api('b', 'api/paths?window=24h&scope=fleet');
is($d->{metadata}{scope}, 'fleet', 'metadata says scope fleet');
$d = api('b', 'api/paths?window=24h');
is_deeply([$d->{metadata}{scope}, $d->{metadata}{node}], ['node', 'b'],
          'metadata says scope node, node b');
my ($st) = api('a', 'api/paths?window=1m&scope=fleet');
is($st, 400, 'scope=fleet has no 1m rows: 400');
($st) = api('a', 'api/summary?scope=everything');
is($st, 400, 'a bad scope: 400');
($st) = api('a', 'api/summary?node=zz');
is($st, 404, 'an unknown node: 404');

# another node's view, from any box
for my $pair (['a', 'c'], ['c', 'a'], ['b', 'a']) {
    my ($from, $of) = @$pair;
    ok(wait_until(sub { summary_24h($from, "node=$of") == $served{$of} },
                  10, 0.2), "box $from: node=$of 24h = $served{$of}");
}
is_deeply(rows_of('a', 'node=c'), $per_path{c}, 'node=c rows from box a');

# the nodes
$d = api('a', 'api/nodes');
my @n = @{ $d->{data} || [] };
is_deeply([map { $_->{node} } @n], [qw(a b c)], '/api/nodes: a, b, c');
is_deeply([map { $_->{state} } @n], [qw(ok ok ok)], '  all ok');
is_deeply([map { $_->{requests}{'24h'} } @n], [60, 45, 30],
          '  requests 24h of each');
is_deeply([map { $_->{self} ? 1 : 0 } @n], [1, 0, 0], '  self is a');
ok(!grep({ !$_->{last_flush_at} || !$_->{zone_generation} } @n),
   '  each has a last flush and a zone generation');
is_deeply([map { $_->{version} =~ /^\d+\.\d+\.\d+/ ? 1 : 0 } @n], [1, 1, 1],
          '  and its version');
($st) = api('a', 'health?scope=fleet');
is($st, 200, '/health?scope=fleet: ok with every node fresh');

# c's aggregator dies: c goes stale, the fleet's numbers stay exact
is(stop_aggregator($node{c}{agg}, 'KILL'), 128 + 9, 'kill -9 of c');
send_load('a', 12);
ok(wait_until(sub {
    my $x = api('a', 'api/nodes');
    my ($c) = grep { $_->{node} eq 'c' } @{ $x->{data} || [] };
    $c && $c->{state} eq 'stale' }, 15, 0.2), '/api/nodes: c is stale');
my ($hst, $h);
ok(wait_until(sub { ($hst, $h) = api('b', 'health?scope=fleet');
                    $hst == 503 }, 10, 0.2),
   '/health?scope=fleet on b: 503 while c is stale');
ok(scalar(grep { /node c is stale/ } @{ $h->{reasons} || [] }),
   '  naming c') or diag(explain($h));
my $metrics;
wait_until(sub { (undef, $metrics) = http_get('/pathstats/metrics',
                                              port => $node{a}{admin});
                 $metrics =~ /node="c",state="stale"/ }, 10, 0.2);
like($metrics, qr/^pathstats_fleet_node_up\{node="c",state="stale"\} 0$/m,
     '/metrics: c down');
like($metrics, qr/^pathstats_fleet_node_up\{node="a",state="ok"\} 1$/m,
     '/metrics: a up');
ok(wait_until(sub { summary_24h('b', 'scope=fleet') == 147 }, 20, 0.2),
   'scope=fleet 24h = 147 with c stale');
my $next = builder();
ok($next eq 'a' || $next eq 'b', "$next builds the fleet's view after c");
my ($took) = grep { (slurp($node{$_}{agg}{stderr}) // '')
                    =~ /event=fleet_view_builder/ } qw(a b);
is($took, $next, "  $next logged taking it over");
ok(wait_until(sub { (api('a', 'api/summary?scope=fleet')->{data}{built_by}
                     // '') eq $next
                    && (api('b', 'api/summary?scope=fleet')->{data}{built_by}
                        // '') eq $next }, 10, 0.2),
   '  a and b serve its view');
$d = api('a', 'api/summary?node=c');
ok($d && $d->{metadata}{stale}, 'node=c: its last view, marked stale');

# c back: its windows are its own rows, the fleet ok
$node{c}{agg} = start_aggregator('-c', $node{c}{conf});
send_load('c', 9);
ok(wait_until(sub { summary_24h('c', 'scope=node') == 39 }, 20, 0.2),
   'c restarted: scope=node 24h = 30 + 9, its own rows only');
ok(wait_until(sub { summary_24h('a', 'scope=fleet') == 156 }, 20, 0.2),
   'scope=fleet 24h = 156');
ok(wait_until(sub { (api('b', 'health?scope=fleet'))[0] == 200 }, 15, 0.3),
   '/health?scope=fleet ok again');
is_pg_requests(156, 'PostgreSQL: 156, nothing lost or doubled');
# The restarted aggregator's Redis sink starts from its done marker and
# skips per shard what that shard's watermark holds: the cluster exact
# too (once failed about one run in two: the marker was written from
# freed memory after a repair)
redis_exact(156, '156 after the kill -9');

# a master dies and its replica takes over
cluster_kill($m[1]);
ok(cluster_wait_ok(30), 'a replica promoted');
send_load('b', 15);
is_pg_requests(171, 'PostgreSQL: 171 after the failover', 30);
redis_exact(171, '171 after the failover');
ok(wait_until(sub { summary_24h('c', 'scope=fleet') == 171 }, 20, 0.2),
   'scope=fleet 24h = 171 after the failover');

# A FLUSHALL after an aggregator's restart: the restarted node repairs
# the flushed shards from what it holds, which is only what it read
# since the restart, so its earlier counts in those shards are lost
# from Redis (PostgreSQL keeps them).  Known, not fixed yet.
TODO: {
    local $TODO = 'Redis repair after a restart lacks the earlier counts';
    cluster_at((cluster_masters())[0], 'FLUSHALL');
    redis_exact(171, '171 after a FLUSHALL that follows a restart');
}

for my $id (@ids) {
    is(stop_aggregator($node{$id}{agg}), 0, "aggregator $id exits 0");
}
finish();
