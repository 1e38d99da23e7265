#!/usr/bin/perl
# The fleet's view is built by one node (issue 16: fleet views in O(K)
# reads, not O(K^2)) and used by the others as it is, unless it does not
# fit the scopes' budget of a node's snapshot (half of one of its zone's
# two snapshot buffers): that node builds its own view from the rows, cut
# to fit.
# Node a (a 4 MiB snapshot) builds the view of 2 000 fleet rows written
# into PostgreSQL; node b (a 256 KiB snapshot, 64 KiB for the scopes)
# cannot take it and builds its own with fewer rows.  Both summaries are
# exact (every row's requests counted, shown or not).  Then a stops: b
# builds the view, cut to its own budget, and stores it so; node c, of
# b's size, takes it whole instead of building one.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use File::Path qw(make_path);
use PathStats::Test;

my $JSON = JSON::PP->new->utf8;
my $NGINX_BIN = $ENV{PS_NGINX} || '/usr/sbin/nginx';
my $N = 2000;
my $TOTAL = $N * ($N + 1) / 2;

my $pg = start_migrated_postgres();

# 2 000 keys of the current hour from a node of the past (node x): the
# fleet's rows, with requests 1 .. 2000
psql_query(<<"EOF_SQL");
INSERT INTO pathstats_hourly (hour, host, method, path, node_id, requests,
    status_2xx, first_seen, last_seen)
SELECT date_trunc('hour', now()), 'budget.test', 'GET', '/k/' || k, 'x',
       k, k, now(), now()
  FROM generate_series(1, $N) k
EOF_SQL

my %node;
for my $spec (['a', 'size=8m snapshot=4m'], ['b', 'size=1m snapshot=256k'],
              ['c', 'size=1m snapshot=256k']) {
    my ($id, $zone) = @$spec;
    my $d = test_dir() . "/node-$id";
    make_path("$d/tmp", "$d/html");
    my $admin = free_port();
    my $body = <<"EOF_CONF";
http {
    pathstats_zone $d/zone $zone;

    server {
        listen 127.0.0.1:$admin;
        location /pathstats/ { pathstats_admin; }
    }
}
EOF_CONF
    my $conf = "$d/nginx.conf";
    spew($conf, PathStats::Test::build_conf($body, $admin, dir => $d,
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
                                      postgres => $pg, node_id => $id,
                                      lifecycle => 'off',
                                      snapshot_interval => '200ms',
                                      fleet_interval => '300ms');
    $node{$id} = { admin => $admin, conf => $aconf };
}

sub log_of { slurp($node{$_[0]}{agg}{stderr}) // '' }

$node{a}{agg} = start_aggregator('-c', $node{a}{conf});
ok(wait_until(sub { log_of('a') =~ /event=fleet_view_builder node_id=a\b/ },
              15, 0.1), 'a builds the fleet\'s view');
$node{b}{agg} = start_aggregator('-c', $node{b}{conf});

sub api {
    my ($id, $path) = @_;
    my ($st, $body) = http_get("/pathstats/$path",
                               port => $node{$id}{admin});
    return eval { $JSON->decode($body // '') } // {};
}

# [built_by, 24h requests, rows_total, rows_shown] of a box's fleet scope
sub fleet_of {
    my ($id) = @_;
    my $s = api($id, 'api/summary?scope=fleet');
    my $p = api($id, 'api/paths?window=24h&scope=fleet&per_page=1');
    return [$s->{data}{built_by}, $s->{data}{windows}{'24h'}{requests},
            @{ $p->{metadata}{window_info} || {} }{qw(rows_total
                                                      rows_shown)}];
}

my $got;
ok(wait_until(sub { $got = fleet_of('a'); ($got->[1] // 0) == $TOTAL },
              20, 0.2), "a: the fleet's 24h = $TOTAL");
is_deeply($got, ['a', $TOTAL, $N, $N], '  its own view, every row shown')
    or diag(explain($got));
is_deeply([psql_query('SELECT node_id, rows FROM pathstats_fleet_view')],
          [['a', $N]], "pathstats_fleet_view: a's, $N rows");

ok(wait_until(sub { $got = fleet_of('b'); ($got->[1] // 0) == $TOTAL },
              20, 0.2), "b: the fleet's 24h = $TOTAL");
is_deeply([@$got[0 .. 2]], ['b', $TOTAL, $N],
          '  a view of its own, exact: a\'s did not fit')
    or diag(explain($got));
ok(($got->[3] // 0) > 0 && ($got->[3] // $N) < $N,
   '  fewer rows shown (' . ($got->[3] // 'none') . " of $N)");
like(log_of('b'), qr/event=fleet_view_shrunk .*budget=65536 /,
     '  b logged the cut, with its budget');
unlike(log_of('b'), qr/event=fleet_view_builder/,
       '  b never built it for the fleet');
is(scalar psql_query('SELECT node_id FROM pathstats_fleet_view'), 'a',
   '  the stored view is still a\'s');

my $b_rows = $got->[3];

# a stops: b builds the view, cut to its budget, and c (the same budget)
# takes it as it is
is(stop_aggregator($node{a}{agg}), 0, 'aggregator a exits 0');
ok(wait_until(sub { log_of('b') =~ /event=fleet_view_builder node_id=b\b/ },
              20, 0.1), 'b builds the view once a is gone');
my @stored;
ok(wait_until(sub {
       @stored = psql_query('SELECT node_id, rows FROM pathstats_fleet_view');
       ($stored[0][0] // '') eq 'b' }, 20, 0.2),
   'pathstats_fleet_view: b\'s');
ok(($stored[0][1] // $N) < $N && $stored[0][1] > 0,
   "  cut to b's budget: $stored[0][1] of $N rows")
    or diag(explain(\@stored));
$node{c}{agg} = start_aggregator('-c', $node{c}{conf});
# once c beats, b's view is cut again to leave room for c's node view:
# c's rows are compared with the stored view of the same moment
ok(wait_until(sub {
       $got = fleet_of('c');
       @stored = psql_query('SELECT node_id, rows FROM pathstats_fleet_view');
       ($got->[1] // 0) == $TOTAL
           && ($got->[3] // -1) == ($stored[0][1] // -2) },
              20, 0.2), "c: the fleet's 24h = $TOTAL, as many rows as stored");
is_deeply($got, ['b', $TOTAL, $N, $stored[0][1]],
          "  b's view, taken whole: exact, b's rows shown")
    or diag(explain($got));
unlike(log_of('c'), qr/event=fleet_view_shrunk .*fleet_rows=/,
       '  c cut no view of its own')
    or diag(join '', grep { /fleet/ } split /^/m, log_of('c'));

is(stop_aggregator($node{$_}{agg}), 0, "aggregator $_ exits 0") for qw(b c);
finish();
