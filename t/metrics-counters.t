#!/usr/bin/perl
# /metrics has counters Prometheus can rate(): N requests raise
# pathstats_requests_total by exactly N (and the response bytes and the
# latency histogram's _count with them); an nginx reload never lowers
# them; an aggregator restart resets them and they then count exactly
# what it reads; a path that leaves the top set and comes back continues
# from its value; what has no series of its own is in {other}; the text
# passes promtool check metrics.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use PathStats::Test;

start_nginx(site_conf(zone => 'size=1m snapshot=1m', locations => <<'EOF'),
location /pathstats/ { pathstats off; pathstats_admin; }
location / { return 200 "ok\n"; }
location /fail/ { return 500; }
EOF
            workers => 2);

my $conf = write_aggregator_conf('agg', zone => zone_file(), top_n => 3,
                                 snapshot_interval => '100ms');
my $agg = start_aggregator('-c', $conf);

sub req_total {
    my ($m, $path, $status) = @_;
    return $m->{"pathstats_requests_total{host=\"site.test\",method=\"GET\","
                . "path=\"$path\",status=\"$status\"}"};
}

sub other_total {
    my ($m) = @_;
    my $n = 0;
    for my $k (grep { /^pathstats_requests_total\{host="\*",method="\*",/ }
               keys %$m)
    {
        $n += $m->{$k};
    }
    return $n;
}

# $n requests to $path from two clients; the responses received
sub send_n {
    my ($path, $n) = @_;
    my $half = int($n / 2);
    my $a = parallel_load(clients => 1, requests => $n - $half,
                          path => $path);
    my $b = $half ? parallel_load(clients => 1, requests => $half,
                                  path => $path) : 0;
    return $a + $b;
}

# waits until the counter of path and status is $want; returns the metrics
sub wait_counter {
    my ($path, $status, $want) = @_;
    my $m;
    wait_until(sub {
        $m = metrics_get();
        return (req_total($m, $path, $status) // -1) == $want;
    }, 10, 0.1);
    return $m;
}

# N requests: +N

is(send_n('/a', 5), 5, '5 requests to /a served');
my $m = wait_counter('/a', '2xx', 5);
is(req_total($m, '/a', '2xx'), 5, '/a: pathstats_requests_total 5');
is(req_total($m, '/a', '5xx'), 0, '/a: the 5xx series is there, 0');

is(send_n('/a', 37), 37, '37 more');
$m = wait_counter('/a', '2xx', 42);
is(req_total($m, '/a', '2xx'), 42, '/a: exactly +37 (42)');
my $lbl = 'host="site.test",method="GET",path="/a"';
is($m->{"pathstats_request_duration_seconds_count{$lbl}"}, 42,
   '/a: histogram _count 42');
is($m->{"pathstats_request_duration_seconds_bucket{$lbl,le=\"+Inf\"}"}, 42,
   '/a: histogram +Inf bucket 42');
my $bytes = $m->{"pathstats_response_bytes_total{$lbl}"} // 0;
ok($bytes > 42 * 3 && $bytes % 42 == 0,
   "/a: response bytes $bytes, 42 equal responses with headers");

is(send_n('/fail/x', 3), 3, '3 requests to a 500');
$m = wait_counter('/fail/x', '5xx', 3);
is(req_total($m, '/fail/x', '5xx'), 3, '/fail/x: 3 in 5xx');
is(req_total($m, '/fail/x', '2xx'), 0, '/fail/x: 0 in 2xx');
is($m->{'pathstats_request_duration_seconds_count'}, 45,
   'overall histogram (no labels): 45 requests');

# an nginx reload: the counters never drop

my @seen;
my $load = start_load(clients => 2, requests => 100, path => '/a',
                      duration => 20);
for (1 .. 3) {
    push @seen, req_total(metrics_get(), '/a', '2xx') // -1;
    sleep 0.1;
}
reload_nginx(wait_old => 1);
for (1 .. 5) {
    push @seen, req_total(metrics_get(), '/a', '2xx') // -1;
    sleep 0.1;
}
my $res = $load->wait;
is($res->{responses}, 200, '200 requests across the reload');
$m = wait_counter('/a', '2xx', 242);
push @seen, req_total($m, '/a', '2xx');
is($seen[-1], 242, 'after the reload: exactly 42 + 200');
my @down = grep { $seen[$_] < $seen[$_ - 1] } 1 .. $#seen;
is_deeply(\@down, [], "the counter never went down across the reload "
          . "(@seen)");

# the top set (top_n 3): /b takes the third series; /c, with no room,
# counts in {other} until it is ranked in, and /b, ranked out, keeps its
# value and continues from it when it comes back

is(send_n('/b', 2), 2, '2 requests to /b');
$m = wait_counter('/b', '2xx', 2);
is(req_total($m, '/b', '2xx'), 2, '/b: the third series, 2');
my $other0 = other_total($m);

is(send_n('/c', 300), 300, '300 requests to /c');
ok(wait_until(sub {
    $m = metrics_get();
    return defined req_total($m, '/c', '2xx')
           && !defined req_total($m, '/b', '2xx')
           && other_total($m) - $other0 + req_total($m, '/c', '2xx') == 300;
}, 10, 0.1), '/c ranked in (most requested), /b ranked out');
cmp_ok(other_total($m) - $other0, '>=', 1,
       '{other} counted /c while it had no series');
is(other_total($m) - $other0 + req_total($m, '/c', '2xx'), 300,
   "/c's 300 requests: exactly in {other} and /c's series together");

is(send_n('/b', 400), 400, '400 requests to /b');
my $all = 45 + 200 + 2 + 300 + 400;
ok(wait_until(sub {
    $m = metrics_get();
    return defined req_total($m, '/b', '2xx')
           && ($m->{'pathstats_request_duration_seconds_count'} // 0) == $all;
}, 10, 0.1), '/b ranked in again');
cmp_ok(req_total($m, '/b', '2xx'), '>=', 2,
       '/b came back at 2 or more: never backwards');
is($m->{'pathstats_request_duration_seconds_count'}, $all,
   "every request in the overall count ($all)");
my $visible = 0;
for my $k (grep { /^pathstats_requests_total\{/ } keys %$m) {
    $visible += $m->{$k};
}
my $frozen = $all - $visible;
ok($frozen >= 0 && $frozen <= 42 + 200 + 3,
   "series + {other} = all requests but those of paths ranked out "
   . "($frozen, of /a or /fail/x)");
my @series = grep { /^pathstats_requests_total\{.*status="2xx"/ } keys %$m;
is(scalar @series, 4, 'top_n (3) paths + {other} in 2xx');

SKIP: {
    skip 'promtool not installed', 1 unless -x '/usr/bin/promtool';
    my (undef, $text) = metrics_get();
    my $file = test_dir() . '/metrics.txt';
    spew($file, $text);
    my $out = `/usr/bin/promtool check metrics < $file 2>&1`;
    is($? >> 8, 0, 'promtool check metrics: no error') or diag($out);
    is($out, '', 'and no lint remark');
}

# an aggregator restart: the counters start again from 0, then count
# exactly, the requests served while it was down included

is(stop_aggregator($agg), 0, 'the aggregator stops');
is(send_n('/a', 25), 25, '25 requests while it is down');
$agg = start_aggregator('-c', $conf);
$m = wait_counter('/a', '2xx', 25);
is(req_total($m, '/a', '2xx'), 25, 'after the restart: 25 (reset, exact)');
is(send_n('/a', 10), 10, '10 more');
$m = wait_counter('/a', '2xx', 35);
is(req_total($m, '/a', '2xx'), 35, 'then exactly +10 (35)');

is(stop_aggregator($agg), 0, 'the aggregator exits cleanly');
finish();
