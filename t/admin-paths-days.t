#!/usr/bin/perl
# /api/paths?window=7d and 30d (issue 12, longer views) end to end: real
# requests through nginx (today's hourly rows, flushed by the
# aggregator) plus past days written into PostgreSQL.  Each window sums,
# per key, this node's daily rollup rows for the days rolled up and its
# hourly rows for the others (a rolled-up day counted once even with its
# hourly rows still there; other nodes' rows not at all); a key seen
# only 7 or more days ago is in 30d, not in 7d; snapshot_max_rows bounds
# the rows with the usual window_info; sort, order, page, limit, q, host
# and method work as for 24h; scope=fleet with a day window is a 400.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use PathStats::Test;

start_nginx(site_conf(name => 'days.test', zone => 'size=1m snapshot=1m',
                      reuseport => 0, record => 0,
                      locations => <<'EOF'), workers => 1);
location /pathstats/ { pathstats_admin; }
location /d/ {
    pathstats on;
    if ($arg_fail) { return 500; }
    return 200 "d\n";
}
EOF

my $JSON = JSON::PP->new->utf8->canonical;
my $pg = start_migrated_postgres();

my $today = psql_query("SELECT (now() AT TIME ZONE 'UTC')::date");
sub day { scalar psql_query("SELECT '$today'::date - $_[0]") }

sub daily {
    my ($ago, $node, $path, $r, $e) = @_;
    my $d = day($ago);
    psql_query("INSERT INTO pathstats_daily (day, host, method, path, "
               . "node_id, requests, status_2xx, status_5xx, errors, "
               . "bytes_out, hours) VALUES ('$d', 'days.test', 'GET', "
               . "'$path', '$node', $r, $r - $e, $e, $e, 10 * $r, 24)");
}

sub hourly {
    my ($ago, $hour, $node, $path, $r, $e) = @_;
    my $d = day($ago);
    psql_query("INSERT INTO pathstats_hourly (hour, host, method, path, "
               . "node_id, requests, status_2xx, status_5xx, errors, "
               . "bytes_out, first_seen, last_seen) VALUES ('$d 00:00+00'"
               . "::timestamptz + interval '$hour hours', 'days.test', "
               . "'GET', '$path', '$node', $r, $r - $e, $e, $e, 10 * $r, "
               . "now(), now())");
}

# 3 days ago: rolled up, its hourly rows still there (once: the daily)
daily(3, 'n1', '/d/a', 100, 4);
hourly(3, 5, 'n1', '/d/a', 60, 1);
hourly(3, 6, 'n1', '/d/a', 40, 3);
# 2 days ago: not rolled up, hourly rows only (00:00 and 23:00)
hourly(2, 0, 'n1', '/d/a', 15, 1);
hourly(2, 23, 'n1', '/d/a', 5, 0);
hourly(2, 12, 'n1', '/d/b', 7, 2);
# another node's rows: not this node's windows
hourly(2, 12, 'n2', '/d/a', 999, 9);
daily(4, 'n2', '/d/b', 888, 8);
# the 7d window's first day and the day before it
daily(6, 'n1', '/d/edge', 11, 1);
daily(7, 'n1', '/d/edge', 13, 0);
# only older than 7 days: 30d only
daily(10, 'n1', '/d/old', 33, 3);
daily(10, 'n1', '/d/a', 5, 0);
# older than 30 days: in neither
daily(30, 'n1', '/d/a', 1000, 0);
daily(45, 'n1', '/d/gone', 1000, 0);

# lifecycle off: its first run would roll up the closed days written
# above (day 3 from its hourly rows) while the windows are read
my $conf = write_aggregator_conf('agg', zone => zone_file(),
                                 postgres => $pg, node_id => 'n1',
                                 lifecycle => 'off',
                                 flush_interval => '1s',
                                 day_windows_interval => '1s',
                                 snapshot_max_rows => 4);
my $agg = start_aggregator('-c', $conf);

# today: 25 + 5 failed on /d/a, 12 on /d/b, 3 on /d/c
http_get('/d/a') for 1 .. 25;
http_get('/d/a?fail=1') for 1 .. 5;
http_get('/d/b') for 1 .. 12;
http_get('/d/c') for 1 .. 3;
ok(wait_until(sub {
    (psql_query("SELECT sum(requests) FROM pathstats_hourly WHERE node_id "
                . "= 'n1' AND hour >= '$today'") // 0) == 45
}, 20), "today's 45 requests flushed");

sub api {
    my ($path) = @_;
    my ($st, $body) = http_get($path);
    return ($st, eval { $JSON->decode($body) } // {});
}

sub window_rows {
    my ($q) = @_;
    my ($st, $d) = api("/pathstats/api/paths?$q");
    return ($st, $d, { map { $_->{path} => [$_->{requests}, $_->{errors}] }
                       @{ $d->{data} || [] } });
}

my %want7 = ('/d/a' => [100 + 20 + 30, 4 + 1 + 5], '/d/b' => [7 + 12, 2],
             '/d/c' => [3, 0], '/d/edge' => [11, 1]);
my %want30 = ('/d/a' => [155, 10], '/d/b' => [19, 2], '/d/edge' => [24, 1],
              '/d/old' => [33, 3]);

my ($st, $d, $rows);
ok(wait_until(sub {
    ($st, $d, $rows) = window_rows('window=7d&limit=200');
    return $st == 200 && ($rows->{'/d/a'} // [0])->[0] == 150;
}, 20), '7d has today\'s requests') or diag(explain($d));
is_deeply($rows, \%want7, '7d: per key, requests and errors exact');
is_deeply([@{ $d->{metadata}{window_info} }{qw(window rows_total
                                                rows_shown limited_by)}],
          ['7d', 4, 4, undef], '7d: window_info, every row shown');

($st, $d, $rows) = window_rows('window=30d&limit=200');
is($st, 200, '30d: 200');
is_deeply($rows, \%want30,
          '30d: per key exact, /d/old in it, the least (/d/c) left out');
is_deeply([@{ $d->{metadata}{window_info} }{qw(window rows_total rows_shown
                                                limited_by)}],
          ['30d', 5, 4, 'snapshot_max_rows'],
          '30d: snapshot_max_rows (4) bounds it, window_info says so');
is_deeply([@{ $d->{metadata}{window_info}{other} }{qw(requests errors)}],
          [3, 0], '30d: the row left out is summed in other');
ok(!exists $want7{'/d/old'} && exists $want30{'/d/old'},
   'a key older than 7 days only: in 30d, not in 7d');

# sort, order, paging, filters
($st, $d) = api('/pathstats/api/paths?window=7d&sort=requests&order=asc'
                . '&limit=2&page=2');
is_deeply([map { $_->{path} } @{ $d->{data} }], ['/d/b', '/d/a'],
          '7d: ascending by requests, page 2 of 2-row pages');
is_deeply([@{ $d->{pagination} }{qw(total total_pages has_next)}],
          [4, 2, JSON::PP::false], '7d: pagination');
($st, $d) = api('/pathstats/api/paths?window=30d&sort=errors&limit=1');
is($d->{data}[0]{path}, '/d/a', '30d: most errors first');
($st, $d, $rows) = window_rows('window=30d&q=OL');
is_deeply($rows, { '/d/old' => [33, 3] }, '30d: q, case-insensitive');
($st, $d, $rows) = window_rows('window=7d&host=days.test&method=POST');
is_deeply([$st, $rows], [200, {}], '7d: method filter');
($st, $d, $rows) = window_rows('window=7d&host=days.test&method=get');
is(scalar keys %$rows, 4, '7d: host and method filter');

# the day windows are this node's own
ok(wait_until(sub {
    (api('/pathstats/api/paths?window=24h&scope=fleet'))[0] == 200
}, 20), 'the fleet view is there');
for my $w ('7d', '30d') {
    ($st, $d) = api("/pathstats/api/paths?window=$w&scope=fleet");
    is_deeply([$st, $d->{error}, $d->{parameter}],
              [400, 'window not available in this scope', 'window'],
              "scope=fleet with window=$w: 400 naming window");
}
($st, $d) = api('/pathstats/api/paths?window=7d&scope=node');
is($st, 200, 'scope=node (this node) with 7d: 200');

is(stop_aggregator($agg), 0, 'the aggregator exits cleanly');
finish();
