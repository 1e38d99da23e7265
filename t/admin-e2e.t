#!/usr/bin/perl
# The admin location with the real aggregator (embedded default: no
# Redis, no PostgreSQL): requests show up in /api/paths exactly, within
# two seconds; errors raise alerts in /api/summary; /metrics is valid
# Prometheus text; stopping the aggregator makes the snapshot stale and
# /health 503, starting it again makes it healthy.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use PathStats::Test;

start_nginx(site_conf(name => 'e2e.test', zone => 'size=1m snapshot=1m',
                      reuseport => 0, record => 0,
                      locations => <<'EOF'), workers => 2);
location /pathstats/ { pathstats_admin; pathstats_admin_stale 2s; }
location /app/ { pathstats on; return 200 "ok\n"; }
location /fail/ { pathstats on; return 500; }
EOF

my $JSON = JSON::PP->new->utf8;

sub api {
    my ($path) = @_;
    my ($st, $body) = http_get($path);
    return ($st, eval { $JSON->decode($body) } // {});
}

sub rows_by_path {
    my ($d) = @_;
    return { map { $_->{path} => $_ } @{ $d->{data} || [] } };
}

my ($st, $d) = api('/pathstats/health');
is($st, 503, 'before the aggregator: unhealthy');

my $agg = start_aggregator('--zone', zone_file());
ok(wait_until(sub { (api('/pathstats/health'))[0] == 200 }, 5),
   'the aggregator makes it healthy');

# exact counts, fast

my %want = ('/app/a' => 37, '/app/b' => 11, '/fail/x' => 40);
for my $p (sort keys %want) {
    http_get($p) for 1 .. $want{$p};
}
my $sent = time;
my $ok = wait_until(sub {
    my ($s, $dd) = api('/pathstats/api/paths?window=1m');
    my $rows = rows_by_path($dd);
    return !grep { ($rows->{$_}{requests} // -1) != $want{$_} } keys %want;
}, 2);
ok($ok, sprintf('every request in /api/paths within 2 s (%.2f s)',
                time - $sent));
for my $w (qw(1m 1h 24h)) {
    ($st, $d) = api("/pathstats/api/paths?window=$w");
    my $rows = rows_by_path($d);
    is_deeply({ map { $_ => $rows->{$_}{requests} } keys %want }, \%want,
              "window $w: exact counts");
    is($d->{pagination}{total}, 3, "window $w: three paths");
}
($st, $d) = api('/pathstats/api/paths?sort=errors&limit=1');
is_deeply([$d->{data}[0]{path}, $d->{data}[0]{errors}], ['/fail/x', 40],
          'sort=errors: the 5xx path first, 40 errors');
($st, $d) = api('/pathstats/api/paths?q=APP&order=asc');
is_deeply([map { $_->{path} } @{ $d->{data} }], ['/app/b', '/app/a'],
          'filter and ascending order on real data');

# alerts: 40 of 88 requests failed in the last minute

my $alerts = wait_until(sub {
    my ($s, $dd) = api('/pathstats/api/summary');
    my @a = grep { ($_->{path} // '') eq '/fail/x' }
            @{ $dd->{data}{alerts} || [] };
    return @a ? \@a : undef;
}, 3);
ok($alerts, 'an error-rate alert for /fail/x in /api/summary');
is($alerts && $alerts->[0]{metric}, 'error_rate', 'the alert is on the '
   . 'error rate');

# Prometheus text

my ($mst, $metrics) = http_get('/pathstats/metrics');
is($mst, 200, 'metrics: 200');
like($metrics, qr/^pathstats_snapshot_age_seconds \d/m,
     "the module's own gauges are there");
SKIP: {
    my $promtool = `command -v promtool 2>/dev/null`;
    chomp $promtool;
    skip 'promtool not installed', 1 unless $promtool;
    my $file = test_dir() . '/metrics.txt';
    spew($file, $metrics);
    my $out = `$promtool check metrics < $file 2>&1`;
    # lint hints (e.g. counter naming) are not format errors
    my @errors = grep { !/^\s*$/ && !/lint|should|counter metrics|HELP/i }
                 split /\n/, $out;
    is_deeply(\@errors, [], 'promtool parses /metrics')
        or diag($out);
    diag("promtool: $out") if $ENV{PS_VERBOSE};
}

# the aggregator stops: stale, unhealthy; it starts: healthy again

is(stop_aggregator($agg), 0, 'the aggregator exits cleanly on SIGTERM');
my $stopped = time;
ok(wait_until(sub { (api('/pathstats/health'))[0] == 503 }, 4),
   sprintf('health goes 503 after the 2 s limit (%.1f s)', time - $stopped));
# the heartbeat and the last snapshot pass the limit a moment apart
my $why = wait_until(sub {
    my ($s, $dd) = api('/pathstats/health');
    my $w = join ' | ', @{ $dd->{reasons} || [] };
    return $w =~ /snapshot is stale/ && $w =~ /heartbeat/ ? $w : undef;
}, 2) // '';
like($why, qr/snapshot is stale/, 'reason: stale snapshot');
like($why, qr/aggregator heartbeat is stale/, 'reason: stale heartbeat');
($st, $d) = api('/pathstats/api/paths');
is($st, 200, 'the last snapshot is still served');
ok($d->{metadata}{stale}, '... marked stale:true');
ok($d->{metadata}{age_seconds} > 2, '... with its age');

$agg = start_aggregator('--zone', zone_file());
ok(wait_until(sub { (api('/pathstats/health'))[0] == 200 }, 5),
   'a restarted aggregator makes it healthy again');
($st, $d) = api('/pathstats/api/paths');
ok(!$d->{metadata}{stale}, 'and fresh');
is(stop_aggregator($agg), 0, 'the aggregator exits cleanly');

finish();
