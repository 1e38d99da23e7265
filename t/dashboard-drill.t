#!/usr/bin/perl
# A path's drill-down, with PostgreSQL: the aggregator keeps the trends
# of the trend_paths most requested paths (2 here) and
# /api/trends?range=&host=&method=&path= serves them: the right number
# of points per range (24 hourly for 24h) and the path's totals; a path
# outside the set is a 404 JSON saying why, a key without its method a
# 400.  In the browser, a drill-down URL opens the path's panel with
# exactly those points and totals for each range, its status classes,
# and a readout of the point under the pointer or the arrow keys; a
# click on another row drills into it, and the trends chart shows the
# whole traffic.  A restarted aggregator has every trend at once (within
# a snapshot interval or so), and the browser never gets a 404 for a
# path of the set.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use Time::HiRes qw(time);
use PathStats::Test;
use PathStats::Browser;

start_nginx(site_conf(name => 'drill.test', zone => 'size=1m snapshot=2m',
                      reuseport => 0, record => 0,
                      locations => <<'EOF'), workers => 2);
location /pathstats/ { pathstats_admin; }
location /d/ {
    pathstats on;
    if ($arg_fail) { return 500; }
    return 200 "d\n";
}
EOF

my $JSON = JSON::PP->new->utf8->canonical;
my $pg = start_migrated_postgres();
my $conf = test_dir() . '/aggregator.conf';
spew($conf, join '', "zone = " . zone_file() . "\n",
     "postgres = \"$pg\"\n", "flush_interval = 3s\n", "trend_paths = 2\n");

my $agg = start_aggregator('-c', $conf);

# /d/a: 25 answered, 5 failed (the query string is not in the key)
http_get('/d/a') for 1 .. 25;
http_get('/d/a?fail=1') for 1 .. 5;
http_get('/d/b') for 1 .. 12;
http_get('/d/c') for 1 .. 3;
my $sent = 45;
is_pg_requests($sent);

sub api {
    my ($path) = @_;
    my ($st, $body) = http_get($path);
    return ($st, eval { $JSON->decode($body) } // {});
}

sub trend_of {
    my ($range, $path) = @_;
    my $q = "range=$range";
    $q .= "&host=drill.test&method=GET&path=$path" if defined $path;
    return api("/pathstats/api/trends?$q");
}

sub sum_of {
    my ($points, $k) = @_;
    my $s = 0;
    $s += $_->{$k} // 0 for @$points;
    return $s;
}

# the trends thread loads a new path's history a moment after the set
# names it, and its last hours again a moment later: the set comes from
# the live windows, ahead of the flushes (3 s apart here, the first
# snapshot names the paths before any); a restart loads everything
# PostgreSQL has
ok(wait_until(sub {
    my ($st, $d) = trend_of('24h', '/d/a');
    return $st == 200 && sum_of($d->{data}, 'requests') == 30;
}, 15), 'the trend of /d/a, most requested, is there');

my %points;
for my $range (qw(24h 7d 30d)) {
    my ($st, $d) = trend_of($range, '/d/a');
    is($st, 200, "/d/a $range: 200");
    is_deeply([sum_of($d->{data}, 'requests'), sum_of($d->{data}, 'errors'),
               $d->{metadata}{range}], [30, 5, $range],
              "/d/a $range: 30 requests, 5 errors");
    $points{$range} = scalar @{ $d->{data} };
    my ($ost, $all) = trend_of($range);
    is($points{$range}, scalar @{ $all->{data} },
       "/d/a $range: as many points as the overall trend ($points{$range})");
}
is($points{'24h'}, 24, '24h: 24 hourly points');
ok($points{'7d'} >= 28 && $points{'7d'} <= 29, "7d: 6-hourly ($points{'7d'})");
ok($points{'30d'} >= 30 && $points{'30d'} <= 31, "30d: daily ($points{'30d'})");

my ($st, $d) = trend_of('24h', '/d/b');
is_deeply([$st, sum_of($d->{data}, 'requests')], [200, 12],
          '/d/b: 12 requests');
($st, $d) = trend_of('24h', '/d/c');
is($st, 404, '/d/c, third, is outside trend_paths = 2: 404');
is_deeply([$d->{error}, $d->{parameter}], ['no trend for this path', 'path'],
          'a JSON error naming the path');
like($d->{message}, qr/trend_paths/, 'that says why');
($st, $d) = api('/pathstats/api/trends?range=24h&host=drill.test&path=/d/a');
is_deeply([$st, $d->{parameter}], [400, 'method'],
          'a key without its method: 400 naming it');
($st, $d) = trend_of('24h', '/d/A');
is($st, 404, 'paths match exactly (case)');

# the overall trend is refreshed every minute; a restarted aggregator
# loads it, and the paths' trends, at once: with its first query, so
# that they are in its snapshots a snapshot interval or so after the
# first one (which replaces the stopped aggregator's: until then the API
# answers from that one), not after the seconds that pace later changes
# of the set (5 and more, during which /d/a's trend was a 404)
is(stop_aggregator($agg), 0, 'the aggregator restarts');
$agg = start_aggregator('-c', $conf);
ok(wait_until(sub {
    my ($s0, $sum) = api('/pathstats/api/summary');
    return ($sum->{data}{pid} // 0) == $agg->{pid};
}, 15), 'the restarted aggregator publishes its snapshot');
my $t0 = time;
ok(wait_until(sub {
    my ($s1, $all) = trend_of('24h');
    my ($s2, $one) = trend_of('24h', '/d/a');
    return sum_of($all->{data}, 'requests') == $sent
           && sum_of($one->{data}, 'requests') == 30;
}, 10), "then: the overall trend holds the $sent requests, /d/a its 30");
my $took = time - $t0;
ok($took < 3, sprintf('%.1f s after its first snapshot (< 3 s)', $took));

# the browser ---------------------------------------------------------------

my $b = start_browser();
$b->goto('./?dhost=drill.test&dmethod=GET&dpath=%2Fd%2Fa');
$b->wait(q{document.querySelector('#drill-chart .totals')}, 10);
ok(!$b->js('document.querySelector("#drill").hidden'),
   'a drill-down URL opens the panel');
is($b->js(q{document.querySelector('#drill-key').textContent}),
   'GET drill.test /d/a', 'for its path');

my $TOTALS = q{(() => { const t = document.querySelector(
    '#drill-chart .totals'); return t && [Number(t.dataset.points),
    Number(t.dataset.requests), Number(t.dataset.errors), t.textContent];
    })()};
is_deeply($b->js($TOTALS), [24, 30, 5, '24 points: 30 requests, 5 errors'],
          '24h: 24 points, 30 requests, 5 errors');
is_deeply($b->js(q{Object.fromEntries([...document.querySelectorAll(
    '#drill-facts [data-k]')].map(e => [e.dataset.k, e.textContent]))}),
    { requests => 30, '1xx' => 0, '2xx' => 25, '3xx' => 0, '4xx' => 0,
      '5xx' => 5, p50 => $b->js(q{document.querySelector(
      '#drill-facts [data-k="p50"]').textContent}),
      p95 => $b->js(q{document.querySelector('#drill-facts [data-k="p95"]')
      .textContent}), p99 => $b->js(q{document.querySelector(
      '#drill-facts [data-k="p99"]').textContent}), max => $b->js(q{
      document.querySelector('#drill-facts [data-k="max"]').textContent}),
      clients => 1, last_seen => $b->js(q{document.querySelector(
      '#drill-facts [data-k="last_seen"]').textContent}) },
    'its facts: 30 requests, 25 2xx, 5 5xx, one client');
like($b->js(q{document.querySelector('#drill-facts [data-k="p95"]')
              .textContent}), qr/ ms$/, 'latency percentiles in ms');
$b->shot('drill-24h');

for my $range (qw(7d 30d)) {
    $b->click(qq{#drill-range [data-range="$range"]});
    $b->wait(qq{(() => { const t = document.querySelector(
        '#drill-chart .totals'); return t && t.dataset.points ==
        $points{$range}; })()});
    is_deeply([@{ $b->js($TOTALS) }[0 .. 2]], [$points{$range}, 30, 5],
              "$range: $points{$range} points, 30 requests, 5 errors");
    $b->shot("drill-$range");
}
like($b->js('location.search'), qr/drange=30d/, 'the range is in the URL');

# the point under the pointer, and under the arrow keys
my ($lst, $last) = trend_of('30d', '/d/a');
my ($n, $e) = @{ $last->{data}[-1] }{qw(requests errors)};
$b->js(q{document.querySelector('#drill-chart .frame').focus()});
$b->key('ArrowLeft');
like($b->js(q{document.querySelector('#drill-chart .readout').textContent}),
     qr/: $n requests, $e errors, p95 /,
     "the keys show the last point: $n requests");
$b->js(q{(() => { const r = document.querySelector('#drill-chart .overlay');
    const box = r.getBoundingClientRect();
    r.dispatchEvent(new MouseEvent('mousemove', {bubbles: true,
        clientX: box.left + 1, clientY: box.top + box.height / 2})); })()});
like($b->js(q{document.querySelector('#drill-chart .readout').textContent}),
     qr/: 0 requests, 0 errors, p95 /, 'hovering the first point: 0');

# another row: /d/c has no trend
$b->wait(q{[...document.querySelectorAll('#paths-body button')]
           .some(e => e.textContent === '/d/c')});
$b->js(q{[...document.querySelectorAll('#paths-body button')]
         .find(e => e.textContent === '/d/c').click()});
$b->wait(q{!document.querySelector('#drill-note').hidden});
like($b->js(q{document.querySelector('#drill-note').textContent}),
     qr/most requested paths/, '/d/c: the 404 says why there is no trend');
is($b->js(q{document.querySelector('#drill-key').textContent}),
   'GET drill.test /d/c', 'its key');
$b->shot('drill-404');

# the overall trend
my $TREND = q{(() => { const t = document.querySelector('#trends .totals');
    return t && [Number(t.dataset.points), Number(t.dataset.requests)];
    })()};
$b->wait("($TREND || [])[1] === $sent", 10);
is_deeply($b->js($TREND), [24, $sent], "trends 24h: 24 points, $sent "
          . 'requests');
$b->click('#range [data-range="7d"]');
$b->wait("($TREND || [])[0] === $points{'7d'}");
is_deeply($b->js($TREND), [$points{'7d'}, $sent], 'trends 7d');

# the longer views, offered as the API serves them (PostgreSQL here)
is_deeply($b->js(q{[...document.querySelectorAll('#range button')]
                   .map(b => b.dataset.range)}),
          [qw(24h 7d 30d 90d 1y)], 'trend ranges: 90d and 1y offered');
$b->click('#range [data-range="1y"]');
$b->wait("($TREND || [])[0] === 53");
is($b->js($TREND)->[0], 53, 'trends 1y: 53 weekly points');
like($b->js('location.search'), qr/range=1y/, 'the range in the URL');
is_deeply($b->js(q{[...document.querySelectorAll('#drill-range button')]
                   .map(b => b.dataset.range)}),
          [qw(24h 7d 30d)], "a path's trend: no 90d or 1y");
$b->wait(q{document.querySelectorAll('#f-window option').length === 5}, 15);
is_deeply($b->js(q{[...document.querySelectorAll('#f-window option')]
                   .map(o => o.value)}),
          [qw(1m 1h 24h 7d 30d)], 'windows: 7d and 30d offered');

$b->click('#drill-close');
ok($b->js('document.querySelector("#drill").hidden'), 'Close hides it');
unlike($b->js('location.search'), qr/dpath/, 'and drops it from the URL');

my $ev = $b->events;
is_deeply([@{ $ev->{console} }, @{ $ev->{errors} }, @{ $ev->{blocked} },
           @{ $ev->{dialogs} }], [],
          'no console or page error, no dialog, no outside request');
is_deeply([grep { !m{^404 .*api/trends\?.*path=%2Fd%2Fc$} }
           @{ $ev->{http_errors} }], [], 'HTTP errors: /d/c\'s 404 only');
$b->quit;

is(stop_aggregator($agg), 0, 'the aggregator exits cleanly');
finish();
