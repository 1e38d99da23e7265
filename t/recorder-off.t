#!/usr/bin/perl
# `pathstats off` in a location, and a server that never turned it on,
# record nothing and are not even "seen"; everything else is recorded
# exactly once.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

start_nginx(<<'EOF', workers => 2);
http {
    pathstats_zone %%ZONE%% size=1m;
    pathstats on;

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name on.test;

        location /loud/  { return 200 "loud\n"; }
        location /quiet/ { pathstats off; return 200 "quiet\n"; }
        location /nested/ {
            pathstats off;
            location /nested/on/ { pathstats on; return 200 "on\n"; }
            return 200 "off\n";
        }
    }

    server {
        listen 127.0.0.1:%%PORT2%%;
        server_name off.test;
        pathstats off;
        location / { return 200 "other\n"; }
    }
}
EOF

my %sent;
for my $p ('/loud/a', '/quiet/a', '/nested/x', '/nested/on/y') {
    my $n = parallel_load(clients => 2, requests => 15, path => $p);
    is($n, 30, "30 answers for $p");
    $sent{$p} = $n;
}
my $other = parallel_load(clients => 2, requests => 15, path => '/loud/a',
                          port => port('nginx2'));
is($other, 30, '30 answers from the server with pathstats off');

my $stats = wait_for_stats(sub { $_[0]{totals}{seen} >= 60 }, 5);
is($stats->{totals}{seen}, 60, 'only the recorded locations are seen');
is($stats->{totals}{recorded}, 60, 'recorded 60');

my ($recs, $bad) = tail_once();
is(scalar @$bad, 0, 'every --tail line is JSON');
my %by;
$by{"$_->{host} $_->{path}"}++ for @$recs;
is_deeply(\%by, { 'on.test /loud/a' => 30, 'on.test /nested/on/y' => 30 },
          'exactly the pathstats-on locations were recorded, 30 each');

finish();
