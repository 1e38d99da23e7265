#!/usr/bin/perl
# Schema version 2: pathstats_hourly rows per node.  Migrating a version 1
# database keeps every row and every sum: its rows go to the one node of
# pathstats_nodes, or to 'legacy' when several nodes shared them.  After
# the migration each node writes rows of its own, fleet sums are the sums
# over nodes, and an aggregator restarted within the hour primes its
# windows (/api/paths) from its own rows only, not from another node's.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use PathStats::Test;

start_nginx(<<'EOF', workers => 1);
http {
    pathstats_zone %%ZONE%% size=1m snapshot=1m;

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name pernode.test;

        location /pathstats/ { pathstats_admin; }
        location /a { pathstats on; return 200 "a\n"; }
    }
}
EOF

my $pg = start_postgres();
my $v1 = slurp(repo_dir() . '/schema/001_initial.sql');
my $hour = psql_query("SELECT date_trunc('hour', now() AT TIME ZONE 'UTC') "
                      . "AT TIME ZONE 'UTC'");

# A version 1 database: $nodes in pathstats_nodes, three fleet rows of
# the current hour (one with a histogram and clients).
sub version1 {
    my ($db, @nodes) = @_;
    psql_query("CREATE DATABASE $db") if $db ne 'postgres';
    (my $ci = $pg) =~ s/dbname=postgres/dbname=$db/;
    psql_query($v1, conninfo => $ci);
    psql_query("INSERT INTO pathstats_schema_version (version, name) VALUES "
               . "(1, '001_initial.sql')", conninfo => $ci);
    for my $n (@nodes) {
        psql_query("INSERT INTO pathstats_nodes (node_id, zone_id, version,"
                   . " started_at) VALUES ('$n', 1, '0.1.0', now())",
                   conninfo => $ci);
    }
    psql_query("INSERT INTO pathstats_hourly (hour, host, method, path, "
               . "requests, status_2xx, latency_sum_us, latency_hist, "
               . "unique_clients) VALUES "
               . "('$hour', 'pernode.test', 'GET', '/a', 7, 7, 700, "
               . "'\\x14006400000007', hll_add(hll_empty(), "
               . "hll_hash_integer(1))), "
               . "('$hour', 'pernode.test', 'GET', '/b', 5, 5, 50, NULL, "
               . "NULL), "
               . "('$hour'::timestamptz - interval '1 hour', "
               . "'pernode.test', 'GET', '/a', 3, 3, 30, NULL, NULL)",
               conninfo => $ci);
    return $ci;
}

my $one = version1('postgres', 'box1');
my $many = version1('fleet', 'box1', 'box2');

for my $case ([$one, 'box1', 'one node'], [$many, 'legacy', 'two nodes']) {
    my ($ci, $owner, $what) = @{$case};
    my ($rc, $out, $err) = run_aggregator('--postgres', $ci, '--migrate');
    is($rc, 0, "$what: --migrate exits 0") or diag($err);
    like($out, qr/^applied 002_hourly_per_node\.sql \(schema version 2\)$/m,
         "  applied 002 only");
    unlike($out, qr/001_initial/, '  not 001 again');
    is(psql_query('SELECT count(*) || \',\' || sum(requests) || \',\' || '
                  . 'sum(latency_sum_us) FROM pathstats_hourly',
                  conninfo => $ci), '3,15,780', '  every row and sum kept');
    is(psql_query('SELECT string_agg(DISTINCT node_id, \',\') FROM '
                  . 'pathstats_hourly', conninfo => $ci), $owner,
       "  rows belong to $owner");
    is(psql_query("SELECT encode(latency_hist, 'hex') || ',' || "
                  . "hll_cardinality(unique_clients) FROM pathstats_hourly "
                  . "WHERE path = '/a' AND hour = '$hour'", conninfo => $ci),
       '14006400000007,1', '  histogram and clients kept');
    is(psql_query("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                  . "WHERE conname = 'pathstats_hourly_pkey'",
                  conninfo => $ci),
       'PRIMARY KEY (hour, host, method, path, node_id)',
       '  node_id is in the primary key');
}

# box1 (the one node of the first database) goes on counting into its
# rows; a node box2 writes rows of its own beside them
(my $rc, my $out, my $err) = run_aggregator('--zone', zone_file(),
                                            '--postgres', $one,
                                            '--node-id', 'legacy',
                                            '--check');
is($rc, 2, 'node_id "legacy" is refused');
like($out . $err, qr/reserved/, '  as reserved');

psql_query("INSERT INTO pathstats_hourly (hour, host, method, path, "
           . "node_id, requests, status_2xx) VALUES ('$hour', "
           . "'pernode.test', 'GET', '/a', 'box2', 1000, 1000)");

my $agg = start_aggregator('--zone', zone_file(), '--postgres', $one,
                           '--node-id', 'box1', '--flush-interval', '100ms');
my $n = parallel_load(clients => 2, requests => 20, path => '/a');
is($n, 40, '40 requests served');
ok(wait_until(sub {
       psql_query("SELECT requests FROM pathstats_hourly WHERE path = '/a' "
                  . "AND hour = '$hour' AND node_id = 'box1'") == 47 }, 20),
   'box1 adds them to its own row (7 + 40)');
is(psql_query("SELECT requests FROM pathstats_hourly WHERE path = '/a' "
              . "AND hour = '$hour' AND node_id = 'box2'"), 1000,
   '  box2\'s row untouched');
is(psql_query("SELECT sum(requests) FROM pathstats_hourly WHERE path = "
              . "'/a' AND hour = '$hour'"), 1047,
   '  the fleet\'s hour is the sum over nodes');
is(stop_aggregator($agg), 0, 'box1 stops');

# restarted, box1's windows come from its rows only: 47 + 3 from the
# hour before in the 24h window, not box2's 1000
my $JSON = JSON::PP->new->utf8;
sub paths24h {
    my ($st, $body) = http_get('/pathstats/api/paths?window=24h');
    return $st == 200 ? eval { $JSON->decode($body) } : undef;
}
my $before = paths24h()->{metadata}{version};
$agg = start_aggregator('--zone', zone_file(), '--postgres', $one,
                        '--node-id', 'box1');
my %req;
ok(wait_until(sub {
       my $d = paths24h();
       return 0 unless $d && $d->{metadata}{version} > $before;
       %req = map { $_->{path} => $_->{requests} } @{ $d->{data} || [] };
       defined $req{'/a'} }, 20),
   'the restarted box1 publishes a snapshot of its own');
is($req{'/a'}, 50, '  /a in 24h: box1\'s own 47 + 3, not box2\'s rows');
is($req{'/b'}, 5, '  /b: the row it kept from before the migration');
is(stop_aggregator($agg), 0, 'box1 stops again');

finish();
