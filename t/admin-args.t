#!/usr/bin/perl
# The admin location's arguments and answers (issue 10, finding 8).  It
# used to accept a malformed percent-escape silently (q=% meant no
# filter), take the first of repeated arguments, compare window, sort,
# page, limit and range undecoded (window=%31m was refused), send JSON
# without X-Content-Type-Options, pass '<' raw into JSON and control
# characters raw into Prometheus label values; and the systemd unit
# restarted the aggregator forever on exit 3 and 4.  Now a bad escape or
# a repeated argument is a 400 naming it, every argument is decoded
# like q, every answer has nosniff, no JSON answer holds a raw '<' and no
# label value a raw control character, and the unit stops on 2, 3 and 4.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use PathStats::Test;
use PathStats::Snapshot;

my $JSON = JSON::PP->new->utf8;

start_nginx(<<'EOF', workers => 1);
http {
    pathstats_zone %%ZONE%% size=256k snapshot=1m rings=2;
    server {
        listen 127.0.0.1:%%PORT%%;
        pathstats_normalize off;
        location /pathstats/ {
            pathstats_admin;
            pathstats_admin_stale 30s;
        }
        location /app/ { pathstats on; return 200 "ok\n"; }
    }
}
EOF

sub api {
    my ($path) = @_;
    my ($st, $body, $r) = http_get($path);
    return ($st, eval { $JSON->decode($body // '') } // {}, $r, $body // '');
}

# a snapshot of four rows in every window, and trends
my @rows = map { { host => 'h.test', method => 'GET', path => "/p/$_",
                   requests => 10 * $_, p95 => 5 - $_ } } 1 .. 4;
publish_snapshot(snapshot_bytes(
    windows => { '1m' => [@rows[0, 1]], '1h' => [@rows[0 .. 2]],
                 '24h' => \@rows },
    trends => { '24h' => '[{"t":"a"}]', '7d' => '[{"t":"b"}]',
                '30d' => '[{"t":"c"}]' },
    summary => '{"requests":1}', health => '[]', metrics => "# m\n"));
snapwrite('heartbeat', 0);


# 1. malformed percent-escapes: 400

for my $q ('q=%', 'q=%zz', 'q=%4', 'q=ab%', 'q=%G0', 'host=%', 'method=%x',
           'window=%3', 'sort=%', 'limit=%3', 'page=%%31', 'order=%') {
    my ($st, $d) = api("/pathstats/api/paths?$q");
    my ($name) = $q =~ /^(\w+)=/;
    is($st, 400, "$q: 400");
    is($d->{parameter}, $name, "  naming $name");
    like($d->{message} // '', qr/invalid percent-encoding/, '  and why');
}
my ($st, $d) = api('/pathstats/api/paths?x%zz=1');
is($st, 400, 'a bad escape in another argument\'s name: 400');
($st, $d) = api('/pathstats/api/paths?_=%');
is($st, 400, 'in another argument\'s value: 400');
($st, $d) = api('/pathstats/api/trends?range=%2');
is($st, 400, '/api/trends?range=%2: 400');
is($d->{parameter}, 'range', '  naming range');


# 2. repeated arguments: 400

for my $q ('limit=1&limit=200', 'q=a&q=b', 'q=&q=x', 'window=1m&window=1m',
           'LIMIT=1&limit=2', 'host=a&Host=a', 'l%69mit=5&limit=5') {
    ($st, $d) = api("/pathstats/api/paths?$q");
    my ($name) = lc($q) =~ /&(\w+)=/;
    is($st, 400, "$q: 400");
    is($d->{parameter}, $name, "  naming $name");
    like($d->{message} // '', qr/more than once/, '  given more than once');
}
($st, $d) = api('/pathstats/api/trends?range=7d&range=30d');
is($st, 400, '/api/trends with range twice: 400');
($st, $d) = api('/pathstats/api/paths?limit=2&_=1&_=2&&');
is($st, 200, 'other arguments may repeat, empty ones are skipped');


# 3. every argument decoded like q

($st, $d) = api('/pathstats/api/paths?window=%31m');
is($st, 200, 'window=%31m: 200');
is($d->{metadata}{window}, '1m', '  the 1m window');
is($d->{pagination}{total}, 2, '  with its 2 rows');
($st, $d) = api('/pathstats/api/paths?sort=%70%39%35&order=%61sc'
                . '&limit=%32&page=%32');
is($st, 200, 'sort=%70%39%35&order=%61sc&limit=%32&page=%32: 200');
is_deeply([map { $_->{path} } @{ $d->{data} || [] }], ['/p/2', '/p/1'],
          '  p95 ascending, two a page, the second page');
is($d->{pagination}{limit}, 2, '  limit 2');
is($d->{pagination}{page}, 2, '  page 2');
($st, $d) = api('/pathstats/api/paths?w%69ndow=1h');
is($d->{metadata}{window} // '', '1h', 'a name may be escaped too');
($st, $d) = api('/pathstats/api/trends?range=%37d');
is($st, 200, '/api/trends?range=%37d: 200');
is($d->{metadata}{range}, '7d', '  the 7d range');
is_deeply($d->{data}, [{ t => 'b' }], '  its points');
($st, $d) = api('/pathstats/api/paths?host=h%2Etest&method=G%45T&q=p%2F3');
is_deeply([map { $_->{path} } @{ $d->{data} || [] }], ['/p/3'],
          'host, method and q decoded');
($st, $d) = api('/pathstats/api/paths?window=1+m');
is($st, 400, '"+" is a space: window=1+m is "1 m", refused');


# 4. X-Content-Type-Options: nosniff on every answer

for my $p ('/pathstats/api/paths', '/pathstats/api/summary',
           '/pathstats/api/trends', '/pathstats/health', '/pathstats/metrics',
           '/pathstats/', '/pathstats/api/paths?limit=0',
           '/pathstats/nothing') {
    my (undef, undef, $r) = api($p);
    is($r->{headers}{'x-content-type-options'}, 'nosniff',
       "$p ($r->{status}): nosniff");
}


# 5. '<' in JSON and control characters in labels, from the aggregator

spew(test_dir() . '/agg.conf', "zone = " . zone_file()
     . "\nsnapshot_interval = 100ms\n");
my $agg = start_aggregator('-c', test_dir() . '/agg.conf');
my @hostile = ('/app/%3C/script%3E%3C!--', '/app/t%09a%0Db%01c%7F');
is((http_get($_))[0], 200, "GET $_") for @hostile;
ok(wait_until(sub {
       my (undef, $dd) = api('/pathstats/api/paths?window=1m&q=/app/');
       ($dd->{pagination}{total} // 0) == 2;
   }, 10), 'the aggregator published both paths');

my (undef, $pd, undef, $raw) = api('/pathstats/api/paths?window=1m&q=/app/');
my %paths = map { $_->{path} => 1 } @{ $pd->{data} || [] };
ok($paths{'/app/</script><!--'}, 'the path with "</script><!--" decodes '
   . 'back from /api/paths');
unlike($raw, qr/</, '  whose JSON text holds no raw "<"');
like($raw, qr/\\u003[Cc]\/script>/, '  but \u003C');
for my $p ('/pathstats/api/summary', '/pathstats/health',
           '/pathstats/api/paths?limit=200&window=24h') {
    my (undef, undef, undef, $text) = api($p);
    unlike($text, qr/</, "$p: no raw '<'");
}
($st, undef, undef, $raw) = api('/pathstats/api/paths?q=%3C');
unlike($raw, qr/</, 'q=%3C: no raw "<" either');

my $metrics;
ok(wait_until(sub {
       (undef, undef, undef, $metrics) = api('/pathstats/metrics');
       $metrics =~ /path="\/app\/t/;
   }, 10), '/metrics has the control-character path');
my ($line) = $metrics =~ /^(\S+\{[^\n]*path="\/app\/t[^\n]*)$/m;
ok(defined $line, '  on one line of its own');
unlike($metrics, qr/[\x00-\x09\x0B-\x1F\x7F]/,
       '  no raw control character anywhere in /metrics');
like($line // '', qr/path="\/app\/t\\\\x09a\\\\x0Db\\\\x01c\\\\x7F"/,
     '  the label value shows them as \xHH');
is(stop_aggregator($agg), 0, 'the aggregator stops');


# 6. the systemd unit does not restart on exit 2, 3 or 4

my $unit = slurp(repo_dir() . '/conf.example/pathstats-aggregator.service');
my ($prevent) = $unit =~ /^RestartPreventExitStatus=(.*)$/m;
my %no = map { $_ => 1 } split ' ', $prevent // '';
ok($no{2} && $no{3} && $no{4}, "RestartPreventExitStatus=$prevent: "
   . 'exit 2, 3 and 4 are not restarted');
like($unit, qr/^Restart=always$/m, '  anything else is');

finish();
