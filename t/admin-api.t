#!/usr/bin/perl
# The admin API (/api/paths, /api/summary, /api/trends, /metrics, the
# page) served from snapshots published straight into the zone file:
# pagination, sort orders, filters, windows, parameter errors, missing
# and corrupt snapshots, gzip, hostile strings, and that the admin
# location records nothing unless told to.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use PathStats::Test;
use PathStats::Snapshot;

start_nginx(<<'EOF', workers => 1);
http {
    pathstats_zone %%ZONE%% size=1m snapshot=1m;
    pathstats on;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /pathstats/ { pathstats_admin; }
        location /counted/ { pathstats_admin; pathstats on; }
        location /bare { pathstats_admin; }
        location ~ ^/re/ { pathstats_admin; }
        location /gz/ {
            pathstats_admin;
            gzip on;
            gzip_min_length 1;
            gzip_types application/json text/plain;
        }
        location / { return 200 "app\n"; }
    }
}
EOF

my $JSON = JSON::PP->new->utf8;
my $master = master_pid();
my @workers = worker_pids();

sub api {
    my ($path, %o) = @_;
    my ($st, $body, $r) = http_get($path, %o);
    my $data = eval { $JSON->decode($body // '') };
    return ($st, $data, $r);
}

# no snapshot yet

my ($st, $d, $r) = api('/pathstats/api/paths');
is($st, 503, 'no snapshot: 503');
is($d->{error}, 'no snapshot yet', 'no snapshot: error says so');
is($r->{headers}{'content-type'}, 'application/json', 'error is JSON');
($st, $d) = api('/pathstats/api/summary');
is($st, 503, 'no snapshot: summary 503');

# a known set: 123 rows in 24h, 5 in 1h, no 1m window

my @rows;
for my $i (1 .. 123) {
    my $req = $i * 10;
    my $err = $i % 7;
    push @rows, {
        host => $i % 2 ? 'a.test' : 'b.test',
        method => $i % 3 ? 'GET' : 'POST',
        path => "/Item/$i",
        requests => $req, errors => $err, error_rate => $err / $req,
        p95 => ($i * 37) % 101 + $i / 1000,
        bytes => ($i * 13) % 97 * 1000 + $i,
        last_seen => 1000 + ($i * 53) % 123 + $i / 1000,
    };
}
my @hour = @rows[0 .. 4];

my $summary = '{"requests":12345,"alerts":[]}';
my $snap = snapshot_bytes(
    sequence => 4711,
    windows => { '24h' => \@rows, '1h' => \@hour },
    summary => $summary,
    trends => { '24h' => '{"points":[1,2,3]}', '7d' => '[]' },
    metrics => "# TYPE pathstats_requests_total counter\n"
               . "pathstats_requests_total 12345",
    window_info => { '24h' => '{"rows_left_out":0}' },
    health => '[]',
);
my $version = publish_snapshot($snap);
is($version, 1, 'published version 1');

($st, $d, $r) = api('/pathstats/api/paths');
is($st, 200, 'paths: 200');
is($r->{headers}{'content-type'}, 'application/json', 'paths: JSON');
is(scalar @{ $d->{data} }, 50, 'default limit 50');
is_deeply($d->{pagination}, { page => 1, limit => 50, total => 123,
                              total_pages => 3, has_next => JSON::PP::true,
                              has_prev => JSON::PP::false },
          'page 1 of 3');
is($d->{metadata}{source}, 'snapshot', 'metadata source');
is($d->{metadata}{version}, 4711, 'metadata version is the sequence');
is($d->{metadata}{window}, '24h', 'default window 24h');
ok(!$d->{metadata}{stale}, 'fresh snapshot is not stale');
like($d->{metadata}{generated_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
     'generated_at is ISO 8601 UTC');
ok($d->{metadata}{age_seconds} >= 0 && $d->{metadata}{age_seconds} < 5,
   'age_seconds small');
is_deeply($d->{metadata}{window_info}, { rows_left_out => 0 },
          'window info passed through');
is($d->{data}[0]{path}, '/Item/123', 'most requests first');

($st, $d) = api('/pathstats/api/paths?page=3');
is(scalar @{ $d->{data} }, 23, 'page 3 has 23 rows');
ok(!$d->{pagination}{has_next} && $d->{pagination}{has_prev},
   'page 3: has_prev, no next');
($st, $d) = api('/pathstats/api/paths?page=2&limit=50');
ok($d->{pagination}{has_next} && $d->{pagination}{has_prev},
   'page 2: both');
($st, $d) = api('/pathstats/api/paths?page=9');
is($st, 200, 'page beyond the end: 200');
is(scalar @{ $d->{data} }, 0, 'page beyond the end: empty');
is($d->{pagination}{total}, 123, 'page beyond the end: total still 123');
($st, $d) = api('/pathstats/api/paths?limit=200');
is(scalar @{ $d->{data} }, 123, 'limit 200: everything');
is($d->{pagination}{total_pages}, 1, 'limit 200: one page');
($st, $d) = api('/pathstats/api/paths?limit=7&page=18');
is(scalar @{ $d->{data} }, 4, '123 = 17 x 7 + 4');
is($d->{pagination}{total_pages}, 18, '18 pages of 7');

# every sort, both orders

for my $key (SORTS) {
    my @want = map { $_->{path} }
               sort { $b->{$key} <=> $a->{$key} } @rows;
    ($st, $d) = api("/pathstats/api/paths?sort=$key&limit=200");
    is_deeply([map { $_->{path} } @{ $d->{data} }], \@want,
              "sort=$key desc");
    ($st, $d) = api("/pathstats/api/paths?sort=$key&order=asc&limit=200");
    is_deeply([map { $_->{path} } @{ $d->{data} }], [reverse @want],
              "sort=$key asc");
}
($st, $d) = api('/pathstats/api/paths?sort=bytes&order=asc&limit=10&page=2');
my @asc = reverse map { $_->{path} }
          sort { $b->{bytes} <=> $a->{bytes} } @rows;
is_deeply([map { $_->{path} } @{ $d->{data} }], [@asc[10 .. 19]],
          'asc pages walk backwards');

# filters

sub paths_of {
    my ($q) = @_;
    my ($s, $dd) = api("/pathstats/api/paths?limit=200&$q");
    return ($s, [sort map { $_->{path} } @{ $dd->{data} }], $dd);
}
my ($s, $got, $dd) = paths_of('q=item/1');
my @want = sort grep { m{^/Item/1} } map { $_->{path} } @rows;
is_deeply($got, \@want, 'q is a case-insensitive substring');
is($dd->{pagination}{total}, scalar @want,
   'total counts matches (' . scalar(@want) . ')');
($s, $got) = paths_of('q=%2fITEM%2f12');
is_deeply($got, [sort qw(/Item/12 /Item/120 /Item/121 /Item/122 /Item/123)],
          'q is URL-decoded');
($s, $got) = paths_of('host=b.test');
is(scalar @$got, 61, 'host=b.test: 61 rows');
($s, $got) = paths_of('method=post');
is(scalar @$got, 41, 'method is case-insensitive: 41 POST');
($s, $got) = paths_of('method=POST&host=a.test&q=/item/9');
@want = sort map { $_->{path} }
        grep { $_->{method} eq 'POST' && $_->{host} eq 'a.test'
               && $_->{path} =~ m{/Item/9} } @rows;
is_deeply($got, \@want, 'filters combine (' . scalar(@want) . ' rows)');
($s, $got, $dd) = paths_of('host=nope.test');
is_deeply([$s, $dd->{pagination}{total}, $dd->{pagination}{total_pages}],
          [200, 0, 0], 'no match: empty, total 0');
($s, $got) = paths_of('q=');
is(scalar @$got, 123, 'empty q: no filter');

# windows

($st, $d) = api('/pathstats/api/paths?window=1h');
is($d->{pagination}{total}, 5, 'window=1h: 5 rows');
is($d->{metadata}{window}, '1h', 'window=1h in metadata');
($st, $d) = api('/pathstats/api/paths?window=1m');
is($st, 503, 'a window the snapshot lacks: 503');

# bad parameters

for my $case (['limit=0', 'limit'], ['limit=201', 'limit'],
              ['limit=x', 'limit'], ['limit=', 'limit'], ['page=0', 'page'],
              ['page=-1', 'page'], ['page=99999999999999999999', 'page'],
              ['sort=name', 'sort'], ['order=up', 'order'],
              ['window=5m', 'window'], ['q=' . ('x' x 600), 'q'])
{
    my $name = length $case->[0] > 30 ? 'long q' : $case->[0];
    ($st, $d) = api("/pathstats/api/paths?$case->[0]");
    is($st, 400, "$name: 400");
    is_deeply([$d->{error}, $d->{parameter}],
              ['invalid parameter', $case->[1]], "$name: names $case->[1]");
    ok(length($d->{message} // '') > 0, "$name: has a message");
}
($st, $d) = api('/pathstats/api/paths?foo=bar&limit=5');
is_deeply([$st, scalar @{ $d->{data} }], [200, 5],
          'unknown parameters are ignored');

# summary, trends

($st, $d) = api('/pathstats/api/summary');
is($st, 200, 'summary: 200');
is_deeply($d->{data}, $JSON->decode($summary), 'summary data');
is($d->{metadata}{version}, 4711, 'summary metadata');
($st, $d) = api('/pathstats/api/trends');
is_deeply([$st, $d->{data}, $d->{metadata}{range}],
          [200, { points => [1, 2, 3] }, '24h'], 'trends default 24h');
($st, $d) = api('/pathstats/api/trends?range=7d');
is_deeply([$st, $d->{data}], [200, []], 'trends 7d');
($st, $d) = api('/pathstats/api/trends?range=30d');
is($st, 503, 'trends the snapshot lacks: 503');
($st, $d) = api('/pathstats/api/trends?range=1y');
is($st, 503, 'a long range the snapshot lacks (an older writer): 503');
($st, $d) = api('/pathstats/api/trends?range=1w');
is_deeply([$st, $d->{parameter}], [400, 'range'], 'range=1w: 400');

# metrics

($st, my $body, $r) = http_get('/pathstats/metrics');
is($st, 200, 'metrics: 200');
is($r->{headers}{'content-type'},
   'text/plain; version=0.0.4; charset=utf-8', 'metrics content type');
like($body, qr/^pathstats_requests_total 12345\n/m,
     'aggregator metrics, newline added');
like($body, qr/^pathstats_snapshot_age_seconds \d+\.\d{3}$/m,
     'snapshot age gauge');
like($body, qr/^pathstats_snapshot_stale 0$/m, 'stale gauge');

# the page, the prefix, methods, unknown paths

($st, $body, $r) = http_get('/pathstats/');
is($st, 200, 'page: 200');
like($r->{headers}{'content-type'}, qr{^text/html}, 'page is HTML');
like($body, qr{href="api/paths"}, 'page links the API');
unlike($body, qr{(?:src|href)="(?:https?:)?//},
       'page has no external assets');
($st, $body, $r) = http_get('/bare');
is($st, 301, 'location without slash: redirect');
like($r->{headers}{location}, qr{/bare/$}, 'to the slash');
($st, $d) = api('/bare/api/paths?limit=1');
is_deeply([$st, $d->{pagination}{total}], [200, 123],
          'location without trailing slash serves the API');
($st, $d) = api('/re/api/paths?limit=1');
is_deeply([$st, $d->{pagination}{total}], [200, 123],
          'a regex location serves the API');
($st, $body) = http_get('/re/');
like($body, qr{href="api/paths"}, 'and the page');
($st, $d) = api('/pathstats/api/nope');
is_deeply([$st, $d->{error}], [404, 'not found'], 'unknown: 404 JSON');
($st, $d, $r) = api('/pathstats/api/paths', method => 'POST', body => 'x=1');
is($st, 405, 'POST: 405');
is($r->{headers}{allow}, 'GET, HEAD', 'Allow header');
($st, $body, $r) = http_get('/pathstats/api/paths', method => 'HEAD');
is($st, 200, 'HEAD: 200');
is($body, '', 'HEAD: no body');
ok($r->{headers}{'content-length'} > 1000, 'HEAD: content length');

# gzip

($st, $body, $r) = http_get('/gz/api/paths?limit=200',
                            headers => ['Accept-Encoding: gzip']);
is($r->{headers}{'content-encoding'}, 'gzip', 'gzip on: compressed');
my $plain;
gunzip(\$body => \$plain) or diag("gunzip: $GunzipError");
$d = eval { $JSON->decode($plain) };
is(scalar @{ $d->{data} || [] }, 123, 'gzipped JSON decodes');
($st, $body, $r) = http_get('/gz/metrics',
                            headers => ['Accept-Encoding: gzip']);
is($r->{headers}{'content-encoding'}, 'gzip', 'metrics gzipped too');

# hostile strings round-trip

my @hostile = (
    "/q\"uote/back\\slash", "/ctl/\x01\x1f\x7f",
    "/utf8/\x{e9}\x{263a}\x{1f600}", "/tab\tnl\nend", "/" . ('long' x 500),
    '/</script><b>',
);
my @hrows = map { { host => "h\"$_", method => 'GET', path => $hostile[$_],
                    requests => 100 - $_ } } 0 .. $#hostile;
publish_snapshot(snapshot_bytes(sequence => 4712,
                                windows => { '24h' => \@hrows }));
($st, $d) = api('/pathstats/api/paths');
is($st, 200, 'hostile: 200');
is_deeply([map { $_->{path} } @{ $d->{data} }], \@hostile,
          'hostile paths round-trip through JSON');
($st, $d) = api('/pathstats/api/paths?q=%22UOTE');
is_deeply([map { $_->{path} } @{ $d->{data} }], [$hostile[0]],
          'q finds a quote');
($st, $d) = api('/pathstats/api/paths?host=h%220');
is(scalar @{ $d->{data} }, 1, 'host filter with a quote');

# corrupt snapshots: 503 naming the problem, nginx unharmed

my $good = snapshot_bytes(sequence => 5000,
                          windows => { '24h' => [@rows[0 .. 9]] });
my @corrupt = (
    ['garbage bytes', join('', map { chr(($_ * 7919) % 256) } 0 .. 4095),
     undef, qr/magic/],
    ['truncated length', $good, length($good) - 100, qr/length/],
    ['total_len beyond the buffer', do {
        my $b = $good; substr($b, 8, 8, pack('Q<', 1 << 40)); $b },
     undef, qr/length/],
    ['section offset out of range', do {
        my $b = $good; substr($b, 48 + 8, 8, pack('Q<', 1 << 33)); $b },
     undef, qr/out of bounds/],
    ['order index out of range', do {
        my $b = $good;
        # the first order section's first index
        my (undef, undef, $off) = unpack('VVQ<', substr($b, 48 + 2 * 24, 24));
        substr($b, $off, 4, pack('V', 10)); $b },
     undef, qr/order index/],
    ['row ref out of range', do {
        my $b = $good;
        my (undef, undef, $off) = unpack('VVQ<', substr($b, 48 + 24, 24));
        substr($b, $off + 24, 8, pack('VV', 0xfffffff0, 100)); $b },
     undef, qr/row reference/],
    ['wrong version', do {
        my $b = $good; substr($b, 4, 4, pack('V', 99)); $b },
     undef, qr/version/],
    ['misaligned section', do {
        my $b = $good; my $o = unpack('Q<', substr($b, 48 + 8, 8));
        substr($b, 48 + 8, 8, pack('Q<', $o + 4)); $b },
     undef, qr/out of bounds/],
);
for my $c (@corrupt) {
    publish_snapshot($c->[1], $c->[2]);
    ($st, $d) = api('/pathstats/api/paths');
    is($st, 503, "$c->[0]: 503");
    like($d->{error} // '', qr/^snapshot invalid: /, "$c->[0]: says invalid");
    like($d->{error} // '', $c->[3], "$c->[0]: names the problem");
    ($st, $d) = api('/pathstats/health');
    is($st, 503, "$c->[0]: health 503");
}
publish_snapshot($good);
($st, $d) = api('/pathstats/api/paths');
is_deeply([$st, $d->{metadata}{version}], [200, 5000],
          'a good snapshot after corrupt ones is served');
is(master_pid(), $master, 'master unharmed');
is_deeply([worker_pids()], \@workers, 'worker never crashed');

# buf_len beyond the buffer is clamped to it: the snapshot is whole
publish_snapshot(snapshot_bytes(sequence => 5000,
                                windows => { '24h' => [@rows[0 .. 9]] }),
                 1 << 40);
($st, $d) = api('/pathstats/api/paths');
is_deeply([$st, $d->{pagination}{total}], [200, 10],
          'buf_len beyond the buffer is clamped');

# a buffer the writer is rewriting: the previous copy is served

publish_snapshot(snapshot_bytes(sequence => 5001,
                                windows => { '24h' => \@rows }));
system(snapwrite_path() . ' ' . zone_file() . ' hold 2 &');
select(undef, undef, undef, 0.3);
($st, $d) = api('/pathstats/api/paths');
is_deeply([$st, $d->{metadata}{version}], [200, 5000],
          'while the buffer is written, the previous copy is served');
select(undef, undef, undef, 2.2);
($st, $d) = api('/pathstats/api/paths');
is_deeply([$st, $d->{metadata}{version}], [200, 5001], 'then the new one');
my $logged = () = (slurp(error_log_path()) // '')
                  =~ /snapshot version \d+ is invalid/g;
is($logged, scalar @corrupt, 'each invalid version is logged once');

# the admin location records nothing unless it says so

my $seen = snapwrite('seen');
http_get('/pathstats/api/paths') for 1 .. 5;
http_get('/bare/health') for 1 .. 3;
is(snapwrite('seen'), $seen, 'admin requests are not recorded');
http_get('/counted/api/paths') for 1 .. 4;
http_get('/app') for 1 .. 2;
is(snapwrite('seen') - $seen, 6, '"pathstats on" in the admin location '
   . 'records it; other locations record as usual');

finish();
