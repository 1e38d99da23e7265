#!/usr/bin/perl
# The dashboard in a real browser (headless Chromium), against nginx with
# the module and the aggregator (embedded default): its files (the page,
# its style sheet and icon, and its ES modules bundled into one script by
# scripts/bundle-dashboard.pl, which refuses what it does not know) are
# served with an ETag (304 when unchanged), Cache-Control and a strict
# CSP, fit the 100 KB budget and load nothing from elsewhere; the page
# preloads the first screen's two API requests and the script takes them
# over (four requests to the first screen, not sixteen); the summary cards
# and the paths table show exactly the requests sent, equal to the API's
# numbers; a hostile path is shown as text and runs nothing (no dialog,
# no console error, no request outside the admin location); stopping the
# aggregator shows the stale banner within pathstats_admin_stale and a
# few seconds, starting it again clears it; the pause button stops the
# refreshes.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use PathStats::Test;
use PathStats::Browser;

my $STALE = 2;

start_nginx(site_conf(name => 'page.test', zone => 'size=1m snapshot=1m',
                      reuseport => 0, record => 0,
                      locations => <<"EOF"), workers => 2);
location /pathstats/ {
    pathstats_admin;
    pathstats_admin_stale ${STALE}s;
}
location /app/ { pathstats on; return 200 "ok\\n"; }
location /fail/ { pathstats on; return 500; }
location /nf/ { pathstats on; return 404; }
location / { pathstats on; pathstats_normalize off; return 200; }
EOF

my $JSON = JSON::PP->new->utf8;
my $repo = repo_dir();

sub api {
    my ($path) = @_;
    my ($st, $body) = http_get($path);
    return ($st, eval { $JSON->decode($body) } // {});
}

# 1. the files ---------------------------------------------------------------

opendir(my $dh, "$repo/dashboard") or die "dashboard/: $!";
my @sources = sort grep { !/^\./ && -f "$repo/dashboard/$_" } readdir $dh;
closedir $dh;
ok(scalar(grep { $_ eq 'index.html' } @sources), 'dashboard/index.html');
my @modules = grep { /\.js$/ } @sources;
ok(scalar(grep { $_ eq 'app.js' } @modules), 'dashboard/app.js, one of '
   . scalar(@modules) . ' modules');

# what is served: the page, style sheet and icon as they are, and the
# modules as the one script the bundler makes of them
my $bundle = `perl $repo/scripts/bundle-dashboard.pl $repo/dashboard`;
is($?, 0, 'the bundler makes the script of the modules');
my %served = (map({ $_ => slurp("$repo/dashboard/$_") }
                  grep { !/\.js$/ } @sources), 'dashboard.js' => $bundle);
is_deeply([sort keys %served],
          [qw(dashboard.js favicon.svg index.html style.css)],
          'four files: the page, its style sheet, script and icon');
for my $m (@modules) {
    ok($bundle =~ /^\/\/ ---- \Q$m\E\n/m, "$m is in the script");
}

my %type = (html => qr{^text/html; charset=utf-8$},
            js => qr{^text/javascript; charset=utf-8$},
            css => qr{^text/css; charset=utf-8$},
            svg => qr{^image/svg\+xml$});
my ($bytes, %etags) = (0);
for my $f (sort keys %served) {
    $bytes += length $served{$f};
    my $r = http_get('/pathstats/' . ($f eq 'index.html' ? '' : $f));
    my ($ext) = $f =~ /\.(\w+)$/;
    ok($r->{status} == 200 && $r->{body} eq $served{$f},
       "$f: served byte for byte from the module");
    like($r->{headers}{'content-type'} // '', $type{$ext}, "$f: type");
    $etags{ $r->{headers}{etag} // '' }++;
    is($r->{headers}{'cache-control'}, 'no-cache', "$f: Cache-Control");
}
is(scalar keys %etags, 1, 'one ETag for the whole build');
my ($etag) = keys %etags;
like($etag, qr/^"[0-9a-f]{16}"$/, "the ETag: $etag");
ok($bytes <= 100 * 1024, "all files $bytes bytes <= 100 KB");
is(http_get('/pathstats/app.js')->{status}, 404,
   'a module on its own is not served: the page loads the one script');

my $r = http_get('/pathstats/', headers => ["If-None-Match: $etag"]);
is_deeply([$r->{status}, $r->{body}], [304, ''],
          'If-None-Match with the ETag: 304, no body');
$r = http_get('/pathstats/dashboard.js', headers => ["If-None-Match: $etag"]);
is($r->{status}, 304, 'dashboard.js too');
$r = http_get('/pathstats/', headers => ['If-None-Match: "0000"']);
is($r->{status}, 200, 'another ETag: 200');
is($r->{headers}{'content-security-policy'},
   "default-src 'self'; frame-ancestors 'none'", 'the page sets its CSP');
is($r->{headers}{'x-content-type-options'}, 'nosniff', 'nosniff');
$r = http_get('/pathstats/nope.js');
is($r->{status}, 404, 'a file that is not there: 404');

my $html = $served{'index.html'};
ok($html !~ /<style|\sstyle=|\son[a-z]+=/i, 'index.html: no inline style '
   . 'or handler');
my @scripts = $html =~ /<script\b([^>]*)>(.*?)<\/script>/gis;
ok(@scripts && !grep({ /\S/ } @scripts[grep { $_ % 2 } 0 .. $#scripts]),
   'index.html: no inline script');
is_deeply([map { /\bsrc="([^"]*)"/ ? $1 : '' } @scripts[grep { !($_ % 2) }
                                                       0 .. $#scripts]],
          ['dashboard.js'], 'one script: dashboard.js');
is_deeply([$html =~ /<link rel="preload" href="([^"]*)" as="fetch"/g],
          ['api/summary', 'api/paths'], 'the first screen\'s API requests '
          . 'preloaded');
my @external;
for my $f (@sources) {
    my $src = slurp("$repo/dashboard/$f");
    $src =~ s{http://www\.w3\.org/2000/svg}{}g;    # a namespace, no request
    push @external, $f if $src =~ m{https?://|(?:src|href)="//};
    push @external, "$f (innerHTML)" if $src =~ /innerHTML|outerHTML|
                                                 insertAdjacentHTML|
                                                 document\.write/x;
}
is_deeply(\@external, [], 'no absolute URL and no HTML parsing in any file');

# the bundler refuses what it does not know, naming the file and line
my $bad = test_dir() . '/bad-dashboard';
mkdir $bad or die "$bad: $!";
spew("$bad/app.js", "import {a} from './a.js';\nexport default a;\n");
spew("$bad/a.js", "export const a = 1;\n");
my $err = `perl $repo/scripts/bundle-dashboard.pl $bad 2>&1 >/dev/null`;
ok($? != 0 && $err =~ m{bad-dashboard/app\.js:2: import or export},
   'the bundler refuses "export default" with file and line');
spew("$bad/app.js", "import {a} from './a.js';\nexport const b = a;\n");
spew("$bad/a.js", "import {b} from './app.js';\nexport const a = 1;\n");
$err = `perl $repo/scripts/bundle-dashboard.pl $bad 2>&1 >/dev/null`;
ok($? != 0 && $err =~ /import cycle/, 'and an import cycle');

# 2. known traffic -----------------------------------------------------------

my $agg = start_aggregator('--zone', zone_file());
my $HOSTILE = '/<img src=x onerror=alert(1)>';
my %want = ('/app/a' => 37, '/app/b' => 11, '/fail/x' => 5, '/nf/y' => 3,
            $HOSTILE => 2);
for my $p (sort keys %want) {
    (my $raw = $p) =~ s/([^A-Za-z0-9\/._-])/sprintf '%%%02X', ord $1/ge;
    http_get($raw) for 1 .. $want{$p};
}
my $sent = 0;
$sent += $_ for values %want;

ok(wait_until(sub {
    my ($s, $d) = api('/pathstats/api/paths?window=1m');
    my %got = map { $_->{path} => $_->{requests} } @{ $d->{data} || [] };
    return !grep { ($got{$_} // -1) != $want{$_} } keys %want;
}, 5), "the API has the $sent requests");

my $b = start_browser();
$b->goto('');
$b->wait('Number(document.body.dataset.cycles) >= 1');
$b->shot('loaded');

# what the first screen waited for (the icon aside, which the browser
# asks for whenever it likes): one request each, the preloads taken over
is_deeply($b->js(q{(() => {
    const [screen] = performance.getEntriesByName('pathstats-first-screen');
    return performance.getEntriesByType('resource')
      .filter((r) => r.startTime < screen.startTime)
      .map((r) => r.name.replace(/^.*\/pathstats\//, ''))
      .filter((n) => n !== 'favicon.svg').sort(); })()}),
    ['api/paths', 'api/summary', 'dashboard.js', 'style.css'],
    'the first screen: the page, then its style sheet, its script, one '
    . 'summary and one paths request');

my ($st, $sum) = api('/pathstats/api/summary');
my $fmt = sub { my $n = reverse shift; $n =~ s/(\d{3})(?=\d)/$1,/g;
                scalar reverse $n };

for my $w (qw(1m 1h 24h)) {
    my $card = $b->js(qq{Object.fromEntries([...document.querySelectorAll(
        '[data-window="$w"] [data-k]')].map(e => [e.dataset.k,
        e.textContent]))});
    my $s = $sum->{data}{windows}{$w};
    is($s->{requests}, $sent, "API summary $w: $sent requests");
    is($card->{"$w.requests"}, $fmt->($sent), "card $w: $sent requests");
    is_deeply([map { $card->{"$w.status.$_"} } qw(2xx 4xx 5xx)],
              [$fmt->(37 + 11 + 2), 3, 5], "card $w: 50 2xx, 3 4xx, 5 5xx");
    is_deeply([map { $card->{"$w.status.$_"} } qw(2xx 4xx 5xx)],
              [map { $fmt->($s->{status}{$_}) } qw(2xx 4xx 5xx)],
              "card $w: the API's status classes");
    is($card->{"$w.5xx_rate"}, sprintf('%.2f %%', 500 / $sent),
       "card $w: 5xx rate 5/$sent");
    is($card->{"$w.paths"}, 5, "card $w: five paths");
}

my ($pst, $paths) = api('/pathstats/api/paths');
my $table = $b->js(q{[...document.querySelectorAll('#paths-body tr')].map(
    tr => Object.fromEntries([...tr.querySelectorAll('[data-col]')].map(
    td => [td.dataset.col, td.textContent])))});
is(scalar @$table, 5, 'the table: five rows');
is_deeply([map { [$_->{path}, $_->{requests}, $_->{errors}] } @$table],
          [map { [$_->{path}, $fmt->($_->{requests}), $_->{errors}] }
               @{ $paths->{data} }],
          'rows, in the API order, with the API numbers');
is_deeply({ map { $_->{path} => $_->{requests} } @$table },
          { map { $_ => $fmt->($want{$_}) } keys %want },
          'and exactly the requests sent per path');
is_deeply([map { $_->{host} } @$table], [('page.test') x 5],
          'the host of every row');
is($b->js(q{document.querySelector('#paths-caption').textContent}),
   '5 paths in the last 24h', 'the caption counts the paths');

# 3. the hostile path --------------------------------------------------------

is($b->js(q{[...document.querySelectorAll('#paths-body button')].filter(
    e => e.textContent === '/<img src=x onerror=alert(1)>').length}), 1,
   'the hostile path is shown literally, as text');
is($b->js(q{document.querySelectorAll('img, [onerror]').length}), 0,
   'no element was made of it');
$b->click('#paths-body tr:nth-child(5) button');    # fewest requests
$b->wait(q{!document.querySelector('#drill').hidden});
# its trend's answer (a 404: no PostgreSQL) is in when the note says so
$b->wait(q{!document.querySelector('#drill-note').hidden});
is($b->js(q{document.querySelector('#drill-key').textContent}),
   "GET page.test $HOSTILE", 'its drill-down shows it as text too');
$b->shot('hostile');
my $ev = $b->events;
is_deeply($ev->{dialogs}, [], 'no dialog opened');
is_deeply($ev->{errors}, [], 'no page error');
is_deeply($ev->{console}, [], 'no console error');
is_deeply($ev->{http_errors},
          ['404 ' . browser_admin_url() . 'api/trends?range=24h&host='
           . 'page.test&method=GET&path=%2F%3Cimg%20src%3Dx%20onerror%3D'
           . 'alert(1)%3E'],
          'one HTTP error: its trend, 404 without PostgreSQL');
is_deeply($ev->{blocked}, [], 'no request outside the admin location');
ok($ev->{requests} >= 8, "$ev->{requests} requests, all to the admin "
   . 'location');

# 4. header, pipeline --------------------------------------------------------

like($b->js(q{document.querySelector('#snapshot').textContent}),
     qr/^v[\d,]+$/, 'the header shows the snapshot version');
is($b->js(q{document.querySelector('[data-k="ring.recorded"]')
            .textContent}),
   $fmt->(zone_stats()->{totals}{recorded}), 'pipeline: ring recorded');
is($b->js(q{document.querySelector('[data-k="ring.dropped"]').textContent}),
   '0', 'pipeline: nothing dropped');

# 5. stale, then fresh again -------------------------------------------------

ok($b->js('document.querySelector("#banner").hidden'), 'no banner while '
   . 'healthy');
is(stop_aggregator($agg), 0, 'the aggregator stops');
my $t0 = time;
my $shown = eval { $b->wait('!document.querySelector("#banner").hidden',
                            $STALE + 6) };
my $took = time - $t0;
ok($shown && $took <= $STALE + 5, sprintf('the banner shows %.1f s after '
   . 'the stop (limit %d s + 5 s)', $took, $STALE));
$b->wait(q{/heartbeat/.test(document.querySelector('#banner-reasons')
                            .textContent)}, 5);
like($b->js(q{document.querySelector('#banner').textContent}),
     qr/aggregator heartbeat is stale/, 'with /health\'s reasons');
$b->shot('stale');

$agg = start_aggregator('--zone', zone_file());
$t0 = time;
ok(eval { $b->wait('document.querySelector("#banner").hidden', 10) },
   sprintf('a restarted aggregator clears it (%.1f s)', time - $t0));
$b->shot('fresh-again');

# 6. pause -------------------------------------------------------------------

$b->click('#pause');
is($b->js(q{document.querySelector('#pause').getAttribute('aria-pressed')}),
   'true', 'pause pressed');
my $c = $b->cycles;
sleep 4;
is($b->cycles, $c, 'paused: no refresh in 4 s');
$b->click('#pause');
ok(eval { $b->next_cycle(5) }, 'resumed: refreshes again');

$ev = $b->events;
is_deeply([@{ $ev->{console} }, @{ $ev->{errors} }, @{ $ev->{blocked} }],
          [], 'still no console error, page error or outside request');
is_deeply([grep { !m{^404 .*api/trends\?.*&path=|^503 .*/health$} }
           @{ $ev->{http_errors} }], [],
          'HTTP errors only: that 404 and /health\'s 503 while stale');
$b->quit;

is(stop_aggregator($agg), 0, 'the aggregator exits cleanly');
finish();
