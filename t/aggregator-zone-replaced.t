#!/usr/bin/perl
# A zone file replaced under a running aggregator (the operator removed it
# to resize it and restarted nginx, which created a new one) is noticed:
# the aggregator drains and flushes the old file, attaches the new one,
# and every request served through either file is counted exactly once.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use PathStats::Test;

my $conf = <<'EOF';
http {
    pathstats_zone %%ZONE%% size=%%SIZE%%;

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name replaced.test;
        pathstats on;

        location / { return 200 "ok\n"; }
    }
}
EOF

(my $first = $conf) =~ s/%%SIZE%%/2m/;
(my $second = $conf) =~ s/%%SIZE%%/4m/;

start_nginx($first, workers => 2);
my $pg = start_migrated_postgres();
my $agg = start_aggregator('--zone', zone_file(), '--postgres', $pg,
                           '--flush-interval', '100ms', '--node-id', 'rz');

my $old_id = zone_stats()->{zone_id};
my $served = parallel_load(clients => 2, requests => 150, path => '/old');
is($served, 300, 'first zone: 300 requests served');
is_pg_requests($served, 'first zone: 300 requests in PostgreSQL');

# requests that wait in the old rings when nginx stops: the aggregator
# must not lose them when it moves to the new file
stop_nginx();
unlink zone_file() or die "unlink: $!";
start_nginx($second, workers => 2);
my $new = zone_stats();
isnt($new->{zone_id}, $old_id, 'nginx created a new zone file');
is($new->{ring_capacity} * $new->{ring_count} * 32 <= 4 << 20 ? 1 : 0, 1,
   '  with the new size');

ok(wait_until(sub { (slurp($agg->{stderr}) // '') =~ /event=zone_attached/ },
              15, 0.1), 'the aggregator attached the new file')
    or diag(slurp($agg->{stderr}));
my $log = slurp($agg->{stderr});
like($log, qr/event=zone_replaced .*live_rings=0/,
     '  after logging the replacement (the old workers were gone)');
like($log, qr/event=zone_detached .*records=300 /,
     '  and draining the old file: 300 records');

my $n = parallel_load(clients => 2, requests => 100, path => '/new');
is($n, 200, 'second zone: 200 requests served');
$served += $n;
is_pg_requests($served, "both zones: exactly $served requests in "
                        . 'PostgreSQL');
is(psql_query("SELECT sum(requests) FROM pathstats_hourly "
              . "WHERE path = '/new'"), 200, '  200 of them on /new');

my $s = wait_for_stats(sub { $_[0]{totals}{consumed} == 200 });
is($s->{totals}{consumed}, 200, 'the new zone is drained by the aggregator');
is($s->{aggregator}{pid}, $agg->{pid}, '  which stamped its pid into it');

my $st = psql_query("SELECT count(DISTINCT zone_id) FROM "
                    . "pathstats_watermark WHERE node_id = 'rz'");
is($st, 2, 'watermarks of both zone generations');

is(stop_aggregator($agg), 0, 'SIGTERM exits 0');

finish();
