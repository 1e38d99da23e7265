#!/usr/bin/perl
# What an operator sees in PostgreSQL: after --migrate, the daemon keeps
# pathstats_hourly exact per (hour, host, method, path): requests, status
# classes, errors, bytes as nginx logged them, a latency histogram whose
# counts add up to the requests, unique clients, and one watermark row per
# ring that equals what the zone says was consumed.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

start_nginx(static_site_conf('pg.test'), workers => 2);

my $pg = start_postgres();

# two nodes migrating at once: one applies, the other waits and finds
# nothing to do
my @mig = map { start_aggregator('--postgres', $pg, '--migrate') } 1 .. 2;
my @rc = map { PathStats::Test::wait_pid($_->{pid}, 60) } @mig;
is_deeply(\@rc, [0, 0], 'two concurrent --migrate both exit 0');
my $mout = join '', map { slurp($_->{stdout}) // '' } @mig;
is(scalar(() = $mout =~ /applied 001_initial\.sql/g), 1,
   '  one of them applied 001_initial.sql');
like($mout, qr/schema is up to date/, '  the other found it done');
is(psql_query('SELECT count(*) FROM pathstats_schema_version'), 3,
   '  a version row each');
$_->{pid} = undef for @mig;

my $agg = start_aggregator('--zone', zone_file(), '--postgres', $pg,
                           '--flush-interval', '200ms', '--node-id', 'pg-1');

my @paths = ('/ok', '/fail', '/moved', '/missing', '/api/users',
             '/api/orders?x=1', '/tab%09and\\back', '/bad%FFbyte%C3');
my @methods = qw(GET POST HEAD);
my @specs;
for my $m (@methods) {
    for my $p (@paths) {
        push @specs, { path => $p, method => $m,
                       $m eq 'POST' ? (body => 'a=1&b=22') : () };
    }
}

my $total = 0;
my %want;
for my $round (1 .. 2) {    # the second round updates existing rows
    my ($got, $res) = parallel_load(clients => 4, requests => 3 * @specs,
                                    paths => \@specs, track_paths => 1);
    is($res->{failures}, 0, "round $round: no client failures");
    $total += $got;
    for my $k (keys %{ $res->{by_path} }) {
        my ($m, $p, $s) = split / /, $k;
        $want{"$m $p"}{n} += $res->{by_path}{$k};
        $want{"$m $p"}{ substr($s, 0, 1) . 'xx' } += $res->{by_path}{$k};
    }
    ok(wait_until(sub { pg_requests() == $total }, 15),
       "round $round: all $total requests are in pathstats_hourly")
        or diag('have ' . pg_requests());
}

# the expected sums, from what nginx logged
my ($bytes_in, $bytes_out, $n500) = (0, 0, 0);
for my $line (split /\n/, slurp(test_dir() . '/ps.log')) {
    my ($m, $s, $uri, $in, $sent) = split /\|/, $line;
    $bytes_in += $in;
    $bytes_out += $sent;
    $n500++ if $s == 500;
}

my %have;
for my $r (psql_query(q{SELECT method, path, sum(requests), sum(status_1xx),
    sum(status_2xx), sum(status_3xx), sum(status_4xx), sum(status_5xx)
    FROM pathstats_hourly GROUP BY 1, 2})) {
    my ($m, $p, $n, @cls) = @$r;
    $have{"$m $p"} = { n => $n, map { ($_ + 1) . 'xx' => $cls[$_] } 0 .. 4 };
}
my %want_db;
for my $k (keys %want) {
    my ($m, $p) = split / /, $k, 2;
    $p =~ s/\?.*//;
    $p =~ s/%09/\t/g;
    $p =~ s/%(FF|C3)/\\x$1/g;         # invalid UTF-8 stays visible
    my $w = $want_db{"$m $p"} //= { map { ("${_}xx" => 0) } 1 .. 5 };
    $w->{$_} += $want{$k}{$_} for keys %{ $want{$k} };
}
is_deeply(\%have, \%want_db,
          'requests and status classes per (method, path) are exact');

my ($in_db, $out_db, $err_db, $s5) = @{ (psql_query(
    'SELECT sum(bytes_in), sum(bytes_out), sum(errors), sum(status_5xx) '
    . 'FROM pathstats_hourly'))[0] };
is($in_db, $bytes_in, "bytes_in equals nginx's \$request_length sum");
is($out_db, $bytes_out, "bytes_out equals nginx's \$bytes_sent sum");
is($err_db, $n500, 'errors counts the 500s');
is($s5, $n500, 'status_5xx counts the 500s');

is(psql_query("SELECT count(*) FROM pathstats_hourly WHERE host <> 'pg.test'"),
   0, 'host is the server name');
is(psql_query('SELECT round(hll_cardinality(hll_union_agg(unique_clients))) '
              . 'FROM pathstats_hourly'), 1, 'one unique client');

# latency histograms: decode the bytea, counts add up to requests
my $hist_ok = 1;
for my $r (psql_query(q{SELECT requests, encode(latency_hist, 'hex')
                        FROM pathstats_hourly})) {
    my ($n, $hex) = @$r;
    my $b = pack 'H*', $hex;
    my $fmt = ord substr($b, 0, 1, '');
    my $w = $fmt & 0xF;
    my $sum = 0;
    while (length $b >= 2 + $w) {
        substr($b, 0, 2, '');
        $sum += $w == 4 ? unpack('N', substr($b, 0, 4, ''))
                        : unpack('Q>', substr($b, 0, 8, ''));
    }
    if ($sum != $n || ($fmt >> 4) != 1 || length $b) {
        $hist_ok = 0;
        diag("histogram counts $sum, row has $n requests");
    }
}
ok($hist_ok, 'every latency histogram counts exactly its requests');

is(psql_query('SELECT count(*) FROM pathstats_hourly_default'), 0,
   'rows are in a daily partition, not the default one');
like(psql_query("SELECT string_agg(c.relname, ',') FROM pg_inherits i JOIN "
                . "pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = "
                . "'pathstats_hourly'::regclass"),
     qr/pathstats_hourly_p\d{8}/, 'daily partitions were created');
is(psql_query('SELECT bool_and(first_seen <= last_seen AND '
              . "hour = date_trunc('hour', first_seen)) FROM pathstats_hourly"),
   't', "first_seen and last_seen lie in the row's hour");

my $stats = zone_stats();
is($stats->{totals}{consumed}, $total, '--stats: everything consumed');
ok(wait_until(sub {
    psql_query("SELECT sum(committed_pos) FROM pathstats_watermark "
               . "WHERE node_id = 'pg-1'") == zone_stats()->{totals}{head}
    }, 5), 'watermark rows add up to the released ring positions (head, '
   . 'in 32-byte units)');
is(psql_query("SELECT count(*) FROM pathstats_nodes WHERE node_id = 'pg-1'"),
   1, 'the node is registered');

is(stop_aggregator($agg), 0, 'SIGTERM: exits 0');
unlike(slurp($agg->{stderr}), qr/level=error/, 'no error logged');

finish();
