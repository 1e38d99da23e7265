#!/usr/bin/perl
# With both sinks on, Redis's hour counters and PostgreSQL's hourly rows
# say the same thing: per (host, method, path) the same requests, errors
# and bytes out, and the same totals, equal to what the clients received.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

# rings of 1024 records: one worker may take every connection, and an
# aggregator starting on a busy machine reads late
start_nginx(site_conf(name => 'both.test', zone => 'size=4m', reuseport => 0,
                      locations => <<'EOF'), workers => 2);
location = /ok    { return 200 "ok\n"; }
location = /fail  { return 502; }
location /users/  { return 200 "user\n"; }
EOF

my $pg = start_postgres();
my $redis = start_redis();
my ($rc, $out, $err) = run_aggregator('--postgres', $pg, '--migrate');
is($rc, 0, '--migrate') or diag($err);

my $agg = start_aggregator('--zone', zone_file(), '--postgres', $pg,
                           '--redis', $redis, '--flush-interval', '200ms',
                           '--node-id', 'both-1');

my @specs = (
    (map { { path => "/users/$_" } } 1 .. 7),
    { path => '/ok' }, { path => '/ok', method => 'POST', body => 'x=1' },
    { path => '/fail' }, { path => '/nope' }, { path => '/ok?q=1' },
    { path => '/ok', method => 'HEAD' },
);
my ($sent, $res) = parallel_load(clients => 3, requests => 130,
                                 paths => \@specs);
is($res->{failures}, 0, 'no client failures');
is($sent, 390, 'every request answered');
is(zone_drops(wait_for_stats(sub { $_[0]{totals}{seen} >= 390 })->{totals}),
   0, 'none dropped on a full ring');

sub pg_rows {
    my %rows;
    for my $r (psql_query("SELECT method || ' ' || path, requests, errors, "
                          . "bytes_out FROM pathstats_hourly "
                          . "WHERE host = 'both.test'"))
    {
        $rows{ $r->[0] } = { requests => $r->[1], errors => $r->[2],
                             bytes_out => $r->[3] };
    }
    return \%rows;
}

sub redis_rows {
    my %rows;
    my $ps = redis_paths_sum();
    for my $f (keys %$ps) {
        my ($host, $method, $path) = split /\t/, $f, 3;
        next unless $host eq 'both.test';
        $rows{"$method $path"} = { map { $_ => $ps->{$f}{$_} }
                                   qw(requests errors bytes_out) };
    }
    return \%rows;
}

sub sum_of {
    my ($rows) = @_;
    my $n = 0;
    $n += $_->{requests} for values %$rows;
    return $n;
}

ok(wait_until(sub { sum_of(pg_rows()) >= $sent
                    && sum_of(redis_rows()) >= $sent }, 20),
   'both sinks caught up');

my $pg_rows = pg_rows();
my $redis_rows = redis_rows();
is(sum_of($pg_rows), $sent, 'PostgreSQL holds exactly the requests served');
is(sum_of($redis_rows), $sent, 'Redis holds exactly the requests served');
is_deeply($redis_rows, $pg_rows,
          'per path: Redis requests, errors and bytes equal PostgreSQL');
is($pg_rows->{'GET /users/{id}'}{requests}, 7 * 30,
   'normalized /users/{id} counted as one path');
is($pg_rows->{'GET /fail'}{errors}, 30, '502s counted as errors');
is($pg_rows->{'GET /ok'}{requests}, 60, 'query string not part of the path');

is(stop_aggregator($agg, 'TERM'), 0, 'aggregator exits 0 on SIGTERM');
finish();
