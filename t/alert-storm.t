#!/usr/bin/perl
# No alert storm: 50 paths failing at once notify at most alert_max_paths
# of them one by one and fold the rest into one grouped notification
# ("N more paths above threshold"); when they recover, the same few
# resolve.  Critical supersedes warning on each path (one notification,
# not two).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use PathStats::Test;

start_nginx(site_conf(zone => 'size=4m snapshot=2m', locations => <<'EOF'),
location /pathstats/ { pathstats off; pathstats_admin; }
location / { return 200 "ok\n"; }
location /fail/ { return 500; }
location ~ ^/ok(/fail/.*)$ { pathstats_key $1; return 200 "ok\n"; }
EOF
            workers => 2);

my $MAX = 5;
my $rx = start_receiver();
my $conf = write_aggregator_conf('agg',
    zone => zone_file(), node_id => 'web-1', snapshot_interval => '100ms',
    alert_error_rate_warning_bp => 2000, alert_error_rate_critical_bp => 5000,
    alert_min_requests => 5, alert_max_paths => $MAX,
    alert_webhook => $rx->url);
my $agg = start_aggregator('-c', $conf);
my $JSON = JSON::PP->new->utf8;

sub summary {
    my ($st, $body) = http_get('/pathstats/api/summary');
    return (eval { $JSON->decode($body) } // {})->{data} // {};
}

# healthy traffic first, so that the whole site stays below the
# threshold (300 errors in 2300 requests: 13 %, under 90 % of 20 %)
is(parallel_load(clients => 2, requests => 1000, path => '/'), 2000,
   '2000 healthy requests');

my @paths = map { sprintf '/fail/p%02d', $_ } 0 .. 49;
is(parallel_load(clients => 2, requests => 150, paths => \@paths), 300,
   '50 paths fail, 6 requests each');

my $s;
ok(wait_until(sub {
    $s = summary();
    return ($s->{notifications}{grouped_paths} // 0) == 50 - $MAX;
}, 10, 0.1), '45 paths grouped');
sleep 1;
my @b = $rx->bodies;
cmp_ok(scalar @b, '<=', $MAX + 1,
       "at most alert_max_paths + 1 notifications ($MAX + 1)");
is(scalar @b, $MAX + 1, "  exactly $MAX + 1");
my @one = grep { $_->{scope} eq 'path' } @b;
my @grp = grep { $_->{scope} eq 'paths' } @b;
is(scalar @one, $MAX, "$MAX paths notified one by one");
ok(!grep({ $_->{level} ne 'critical' || $_->{event} ne 'fired' } @one),
   '  each once, critical (the warning superseded)');
is(scalar @grp, 1, 'one grouped notification');
my $g = $grp[0] // {};
is_deeply([@$g{qw(event alert level scope path threshold)}],
          ['fired', 'grouped_paths', 'critical', 'paths', undef, undef],
          '  fired, grouped_paths, critical, scope paths');
ok($g->{paths} >= 1 && $g->{paths} <= 45 && $g->{value} == $g->{paths},
   "  $g->{paths} paths at the time it fired");
like($g->{message} // '', qr/^critical: \d+ more paths above threshold$/,
     "  message: $g->{message}");
ok(!grep({ $_->{scope} eq 'overall' } @b), 'the site as a whole: quiet');

my @alerts = @{ $s->{alerts} || [] };
my %by;
$by{ $_->{notification} // 'null' }++ for @alerts;
is_deeply(\%by, { sent => $MAX, grouped => 50 - $MAX, superseded => 50 },
          '/api/summary: 100 alerts, 5 sent, 45 grouped, 50 superseded');
my ($m) = metrics_get();
is($m->{pathstats_alert_paths_grouped}, 45,
   'metrics: pathstats_alert_paths_grouped 45');
is($m->{'pathstats_alerts_fired_total{alert="error_rate",level="critical",'
       . 'scope="path"}'}, 50, 'metrics: 50 critical alerts fired');
is($m->{'pathstats_alert_notifications_total{event="fired"}'}, $MAX + 1,
   'metrics: 6 notifications');

# recovery: 30 good requests on each path (6 in 36: 17 %)
is(parallel_load(clients => 2, requests => 750,
                 paths => [map { "/ok$_" } @paths]), 1500,
   '1500 good requests on the 50 paths');
ok(wait_until(sub { scalar($rx->requests) >= 2 * ($MAX + 1) }, 10, 0.1),
   'resolved');
sleep 1;
@b = $rx->bodies;
my @res = grep { $_->{event} eq 'resolved' } @b;
is(scalar @res, $MAX + 1, "$MAX + 1 resolved, no more");
is(scalar(grep { $_->{scope} eq 'paths' } @res), 1, '  the grouped one');
my %fired_id = map { $_->{id} => 1 } grep { $_->{event} eq 'fired' } @b;
ok(!grep({ !$fired_id{ $_->{id} } } @res),
   '  each resolves an incident that fired');
is(summary()->{notifications}{open_incidents}, 0, 'no open incident left');

is(stop_aggregator($agg), 0, 'the aggregator exits cleanly');
finish();
