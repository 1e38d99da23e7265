#!/usr/bin/perl
# The dashboard's paths table in a real browser: 43 paths on two hosts
# and two methods; the page size, paging, sorting by a column header
# (also from the keyboard), the search box, the host, method and window
# filters each show exactly the rows /api/paths answers for the same
# parameters, and put them in the URL; opening such a URL restores the
# same view.  At phone width the page does not overflow.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use PathStats::Test;
use PathStats::Browser;

# rings of 1024 records: one worker may take all 633 requests, and an
# aggregator starting on a busy machine reads late (rings of 256 dropped
# some under load)
start_nginx(<<'EOF', workers => 2);
http {
    pathstats_zone %%ZONE%% size=4m snapshot=2m;

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name a.test;

        location /pathstats/ { pathstats_admin; }
        location /p/ { pathstats on; return 200 "a\n"; }
        location /err/ { pathstats on; return 500; }
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name b.test;

        location / { pathstats on; return 200 "b\n"; }
    }
}
EOF

my $JSON = JSON::PP->new->utf8->canonical;

my $agg = start_aggregator('--zone', zone_file());

my $sent = 0;
sub send_n {
    my ($n, $path, %o) = @_;
    for (1 .. $n) {
        my $r = http_get($path, %o);
        $sent++ if defined $r->{status};
    }
}
send_n($_, sprintf('/p/a%02d', $_), host => 'a.test') for 1 .. 30;
send_n(10 + $_, sprintf('/p/b%02d', $_), host => 'b.test') for 1 .. 10;
send_n(4, '/p/b05', host => 'b.test', method => 'POST', body => 'x=1');
send_n(7, '/err/e1', host => 'a.test');
send_n(2, '/err/e2', host => 'a.test');
is($sent, 465 + 155 + 4 + 9, "$sent requests sent");
is(zone_drops(wait_for_stats(sub { $_[0]{totals}{seen} >= $sent })
              ->{totals}), 0, 'none dropped on a full ring');

sub api {
    my ($query) = @_;
    my ($st, $body) = http_get("/pathstats/api/paths?$query");
    return eval { $JSON->decode($body) } // {};
}

ok(wait_until(sub { (api('')->{pagination}{total} // 0) == 43
                    && api('limit=200')->{data}[0]{requests} == 30 }, 5),
   '43 paths in the API');
my $total = 0;
$total += $_->{requests} for @{ api('limit=200')->{data} };
is($total, $sent, 'the API counts every request');

my $fmt = sub { my $n = reverse shift; $n =~ s/(\d{3})(?=\d)/$1,/g;
                scalar reverse $n };

# what the table should show for an API query
sub expect {
    my ($query) = @_;
    my $d = api($query);
    return [map { [$_->{path}, $_->{method}, $_->{host},
                   $fmt->($_->{requests}), $fmt->($_->{errors})] }
            @{ $d->{data} }];
}

my $ROWS_JS = q{[...document.querySelectorAll('#paths-body tr')].map(tr =>
    ['path', 'method', 'host', 'requests', 'errors'].map(c => {
        const td = tr.querySelector(`[data-col="${c}"]`);
        return td ? td.textContent : null; }))};

my $b = start_browser();

# Waits until the table shows exactly the rows of the API query; is_deeply.
sub table_is {
    my ($query, $what) = @_;
    my $want = expect($query);
    my $json = $JSON->encode($want);
    my $ok = eval { $b->wait("JSON.stringify($ROWS_JS) === "
                             . $JSON->encode($json), 8) };
    is_deeply($b->js($ROWS_JS), $want, "$what: the rows of /api/paths?"
              . "$query (" . scalar(@$want) . ')');
}

sub url_has {
    my ($want, $what) = @_;
    my $search = $b->js('location.search');
    my %got = map { my ($k, $v) = split /=/, $_, 2; ($k => $v) }
              grep { length } split /&/, substr($search, 1);
    is_deeply(\%got, $want, "$what: the URL says $search");
}

$b->goto('');
$b->wait('Number(document.body.dataset.cycles) >= 1');
table_is('', 'the default view');
is($b->js(q{document.querySelector('#page-info').textContent}),
   'Page 1 of 1', 'one page of 43');

# page size and paging
$b->select('#f-limit', '10');
table_is('limit=10', 'page size 10');
url_has({ limit => 10 }, 'page size');
is($b->js(q{document.querySelector('#page-info').textContent}),
   'Page 1 of 5', 'five pages');
ok($b->js(q{document.querySelector('#prev').disabled}), 'no previous page');
$b->click('#next');
table_is('limit=10&page=2', 'next page');
$b->click('#next');
$b->click('#next');
$b->click('#next');
table_is('limit=10&page=5', 'the last page');
ok($b->js(q{document.querySelector('#next').disabled}), 'no next page');
url_has({ limit => 10, page => 5 }, 'paging');
$b->click('#prev');
table_is('limit=10&page=4', 'previous page');
$b->shot('paged');

# sorting by a header: desc first, again for asc; back to page 1
$b->click('[data-sort="errors"]');
table_is('limit=10&sort=errors', 'sorted by 5xx');
is($b->js(q{document.querySelector('[data-sort="errors"]')
            .closest('th').getAttribute('aria-sort')}), 'descending',
   'aria-sort descending');
$b->click('[data-sort="errors"]');
table_is('limit=10&sort=errors&order=asc', 'again: ascending');
url_has({ limit => 10, sort => 'errors', order => 'asc' }, 'sorting');
$b->js(q{document.querySelector('[data-sort="requests"]').focus()});
$b->key('Enter');
table_is('limit=10&sort=requests', 'the keyboard sorts too (Enter)');
$b->shot('sorted');

# search, debounced
$b->type('#q', 'a1');
table_is('limit=10&q=a1', 'search "a1"');
url_has({ limit => 10, q => 'a1' }, 'search');
$b->type('#q', 'P/B');
table_is('limit=10&q=P%2FB', 'search is case-insensitive');
$b->type('#q', '');
table_is('limit=10', 'search cleared');

# host, method, window
$b->type('#f-host', 'b.test');
table_is('limit=10&host=b.test', 'host b.test');
$b->select('#f-method', 'POST');
table_is('limit=10&host=b.test&method=POST', 'and POST');
is(scalar @{ $b->js($ROWS_JS) }, 1, 'one POST path');
$b->type('#f-host', '');
$b->select('#f-method', '');
$b->select('#f-window', '1m');
table_is('limit=10&window=1m', 'window 1m');
$b->select('#f-window', '1h');
$b->click('[data-sort="bytes"]');
$b->click('#next');
table_is('limit=10&window=1h&sort=bytes&page=2', 'window 1h, by bytes, '
         . 'page 2');
my $shared = $b->js('location.href');
url_has({ limit => 10, window => '1h', sort => 'bytes', page => 2 },
        'the whole view');
$b->shot('filtered');

# a shared URL restores the view, controls included
$b->goto('./?q=p%2Fa&sort=requests&order=asc&page=2&limit=10&window=1h'
         . '&host=a.test');
table_is('q=p%2Fa&sort=requests&order=asc&page=2&limit=10&window=1h'
         . '&host=a.test', 'a URL with a view');
is_deeply($b->js(q{['#q', '#f-host', '#f-window', '#f-limit'].map(s =>
    document.querySelector(s).value)}), ['p/a', 'a.test', '1h', '10'],
    'its controls are restored');
is($b->js(q{document.querySelector('[data-sort="requests"]').closest('th')
            .getAttribute('aria-sort')}), 'ascending', 'and its sort');
$b->goto($shared);
table_is('limit=10&window=1h&sort=bytes&page=2', 'the URL copied before');
$b->shot('shared');

# phone width: nothing wider than the screen but the table's own scroller
$b->viewport(375, 800);
$b->next_cycle;
ok($b->js('document.documentElement.scrollWidth <= 375'),
   'at 375 px the page does not scroll sideways')
    or diag(explain($b->js(q{[...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > 376
                     && !e.closest('.scroll'))
        .slice(0, 5).map(e => `${e.tagName}.${e.className}#${e.id}`)})));
$b->shot('phone');

my $ev = $b->events;
is_deeply([@{ $ev->{console} }, @{ $ev->{errors} }, @{ $ev->{blocked} },
           @{ $ev->{dialogs} }, @{ $ev->{http_errors} }], [],
          'no console, page or HTTP error, no dialog, no outside request');
$b->quit;

is(stop_aggregator($agg), 0, 'the aggregator exits cleanly');
finish();
