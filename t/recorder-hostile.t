#!/usr/bin/perl
# Hostile paths never break the output: 8 KB URIs, %00, invalid UTF-8
# (escaped or raw on the wire), quotes, backslashes and control
# characters all come out of --tail as valid, strict UTF-8 JSON, one line
# per request.  Bytes that are not UTF-8 read as the text \xHH; long keys
# are cut at pathstats_key_max_length and flagged.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

start_nginx(<<'EOF', workers => 1);
http {
    pathstats_zone %%ZONE%% size=1m;

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name hostile.test;
        large_client_header_buffers 4 16k;
        pathstats on;
        pathstats_normalize off;

        location /      { return 200 "ok\n"; }
        location /short/ {
            pathstats_key_max_length 32;
            return 200 "short\n";
        }
    }
}
EOF

my $long = '/long/' . ('a' x 8000);
my $smile = "\xF0\x9F\x98\x80";
# request path on the wire => path --tail shows (after JSON decoding; \xHH
# is literal text)
my @cases = (
    [$long,                 substr($long, 0, 368)],
    ['/f%FF',               '/f\xFF'],
    ['/u%C3%28',            '/u\xC3('],
    ["/r\xFF\xFE",          '/r\xFF\xFE'],
    ['/z%E2%82',            '/z\xE2\x82'],
    ['/o%C0%AF',            '/o\xC0\xAF'],
    ['/s%ED%A0%80',         '/s\xED\xA0\x80'],
    ['/l%E9t%E9',           '/l\xE9t\xE9'],
    ['/v%C3%A9',            "/v\x{E9}"],
    ['/e%F0%9F%98%80',      "/e\x{1F600}"],
    ["/e2$smile",           "/e2\x{1F600}"],
    ['/q%22x%22',           '/q"x"'],
    ['/q2"x',               '/q2"x'],
    ['/b\\c\\',             '/b\\c\\'],
    ['/b%5C%5C',            '/b\\\\'],
    ['/c%01%1F%7F',         "/c\x01\x1F\x7F"],
    ['/t%09tab%0D%0A',      "/t\ttab\r\n"],
    ['/sp%20x',             '/sp x'],
    ['/j%7B%22a%22:1%7D',   '/j{"a":1}'],
    ['/short/' . ('b' x 25), '/short/' . ('b' x 25)],
    ['/short/' . ('b' x 26), '/short/' . ('b' x 25)],
    ['/short/' . ('b' x 22) . $smile, undef],    # cut inside the emoji
);
# requests nginx itself refuses (400): still answered, still recorded
my @bad_requests = ('/n%00', '/n2%00x', "/r\x01", "/d\x7F", '/a/../../b');

my $sent = 0;
for my $c (@cases) {
    my ($status) = http_get($c->[0]);
    is($status, 200, 'answered 200: ' . printable($c->[0]));
    $sent++;
}
for my $p (@bad_requests) {
    my ($status) = http_get($p);
    is($status, 400, 'nginx refuses ' . printable($p));
    $sent++;
}
my $long_method = 'ABCDEFGHIJKLMNOPQRSTUV';
my ($status) = http_get('/m', method => $long_method);
is($status, 200, '22-character method answered');
$sent++;

my ($rc, $out, $err) = run_aggregator('--zone', zone_file(), '--tail',
                                      '--once');
is($rc, 0, '--tail --once exits 0');
my @lines = grep { length } split /\n/, $out;
is(scalar @lines, $sent, "exactly $sent lines, one per request");
my ($recs, $bad) = decode_json_lines($out);
is(scalar @$bad, 0, 'every line is a JSON object in strict UTF-8')
    or diag(join "\n", map { printable($_) } @$bad);
is(scalar @$recs, $sent, "$sent records");

# records come back in request order (one worker, one ring)
for my $i (0 .. $#cases) {
    my ($wire, $want) = @{ $cases[$i] };
    my $rec = $recs->[$i] or last;
    if (defined $want) {
        is(hexcase($rec->{path}), $want, printable($wire) . ' -> '
                                         . printable($want));
    }
    my $trunc = $wire eq $long || $wire =~ m{^/short/.{26}};
    is(!!$rec->{key_truncated}, !!$trunc, printable($wire)
       . ': key_truncated ' . ($trunc ? 'true' : 'false'));
}
my $cut = $recs->[$#cases];
ok(length($cut->{path}) >= 29 && $cut->{path} =~ m{^/short/b{22}},
   'a key cut inside a UTF-8 character is still valid JSON');

my @r400 = grep { $_->{status} == 400 } @$recs;
is(scalar @r400, scalar @bad_requests, 'each refused request is a 400 record');
is(scalar(grep { $_->{host} eq 'hostile.test' } @$recs), $sent,
   'host is the server_name in every record');
my ($m) = grep { $_->{path} eq '/m' } @$recs;
ok($m && length($m->{method}) >= 1 && length($m->{method}) <= 16
   && index($long_method, $m->{method}) == 0,
   'a long method is kept as a prefix of at most 16 characters');

my $stats = zone_stats();
is($stats->{totals}{seen}, $sent, "seen = $sent");
is($stats->{totals}{consumed}, $sent, "consumed = $sent");

finish();

# \xhh and \xHH are the same rendering
sub hexcase {
    my ($s) = @_;
    $s =~ s/\\x([0-9a-fA-F]{2})/\\x\U$1/g;
    return $s;
}

sub printable {
    my ($s) = @_;
    $s = substr($s, 0, 40) . '...(' . length($s) . ')' if length $s > 60;
    $s =~ s/([^\x20-\x7E])/sprintf(ord($1) > 255 ? '\\x{%X}' : '\\x%02X',
                                   ord $1)/ge;
    return $s;
}
