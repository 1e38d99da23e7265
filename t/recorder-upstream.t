#!/usr/bin/perl
# A proxied request's record carries its upstream time in 4 bytes of
# milliseconds (zone layout 3): --tail shows upstream_us, a whole number
# of milliseconds, for the proxied requests and null for the others, and
# the ring holds each record in the units record_units() says: a
# 68-byte key proxied from an IPv4 client takes 4 units (126 bytes; 130
# and 5 units with layout 2's 8-byte upstream time).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

my $key = '/p/' . ('k' x 65);                   # 68 bytes
my $plain = '/plain';

start_nginx(site_conf(name => 'up.test', locations => <<'EOF'),
location /p/ { proxy_pass http://127.0.0.1:%%PORT%%/b/; }
location /b/ { pathstats off; return 200 "ok\n"; }
location / { return 200 "ok\n"; }
EOF
            workers => 1);

my $n = 10;
my $proxied = grep { (http_request($key)->{status} // 0) == 200 } 1 .. $n;
is($proxied, $n, "$n proxied requests answered");
my $direct = grep { (http_request($plain)->{status} // 0) == 200 } 1 .. $n;
is($direct, $n, "$n direct requests answered");

my ($rc, $out) = run_aggregator('--zone', zone_file(), '--tail', '--once');
is($rc, 0, '--tail --once ran');
my ($recs, $bad) = decode_json_lines($out);
is(scalar @$bad, 0, 'every --tail line is JSON');
is(scalar @$recs, 2 * $n, '2 x 10 records (the backend location records '
   . 'nothing)');

my @up = grep { $_->{path} eq $key } @$recs;
my @no = grep { $_->{path} eq $plain } @$recs;
is(scalar @up, $n, "  $n of the proxied path");
is(scalar(grep { defined $_->{upstream_us} && $_->{upstream_us} =~ /^\d+$/
                 && $_->{upstream_us} % 1000 == 0 } @up), $n,
   '  each with an upstream_us of whole milliseconds');
is(scalar @no, $n, "  $n of the direct path");
is(scalar(grep { !defined $_->{upstream_us} } @no), $n,
   '  each with upstream_us null');

my $u_up = record_units(host => 'up.test', path => $key, upstream => 1);
my $u_no = record_units(host => 'up.test', path => $plain);
is($u_up, 4, 'a proxied record of a 68-byte key takes 4 units');
my $t = zone_stats()->{totals};
is($t->{head}, $n * ($u_up + $u_no),
   "  the ring consumed $n x $u_up + $n x $u_no units");

finish();
