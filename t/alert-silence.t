#!/usr/bin/perl
# Silences: `pathstats-aggregator -c FILE --silence SCOPE --for 2h`
# stores a silence in PostgreSQL, where every node reads it; the daemon
# shows it in /api/summary and /metrics and notifies nobody about the
# alerts it covers, while other alerts still notify; `--for 0` lifts it
# and an alert still firing then notifies.  Bad scopes and durations,
# and no PostgreSQL, are clear errors.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use PathStats::Test;

start_nginx(site_conf(zone => 'size=1m snapshot=1m', locations => <<'EOF'),
location /pathstats/ { pathstats off; pathstats_admin; }
location / { return 500; }
EOF
            workers => 2);
my $pg = start_migrated_postgres();

my $rx = start_receiver();
my $conf = write_aggregator_conf('agg',
    zone => zone_file(), postgres => $pg, node_id => 'web-1',
    snapshot_interval => '100ms', alert_min_requests => 20,
    alert_webhook => $rx->url);
my $JSON = JSON::PP->new->utf8;

sub summary {
    my ($st, $body) = http_get('/pathstats/api/summary');
    return (eval { $JSON->decode($body) } // {})->{data} // {};
}

# usage errors
my ($rc, $out, $err) = run_aggregator('-c', $conf, '--silence', 'api',
                                      '--for', '2h');
is($rc, 2, 'a bad scope: exit 2');
like($err,
     qr/event=silence_failed option=--silence error="expected all, overall/,
     '  saying what a scope is');
($rc, $out, $err) = run_aggregator('-c', $conf, '--silence', '/x',
                                   '--for', 'soon');
is($rc, 2, 'a bad duration: exit 2');
($rc, $out, $err) = run_aggregator('-c', $conf, '--silence', '/x');
is($rc, 2, '--silence without --for: exit 2');
my $noconf = write_aggregator_conf('nopg', zone => zone_file());
($rc, $out, $err) = run_aggregator('-c', $noconf, '--silence', '/x',
                                   '--for', '1h');
is($rc, 2, 'no postgres: exit 2');
like($err, qr/stored in PostgreSQL/, '  saying where silences live');

# silence /quiet* and the site as a whole, then start the daemon
($rc, $out, $err) = run_aggregator('-c', $conf, '--silence', '/quiet*',
                                   '--for', '2h');
is($rc, 0, '--silence /quiet* --for 2h: exit 0') or diag($err);
like($out, qr/^silenced \/quiet\* until \d{4}-\d\d-\d\dT[\d:]+Z \(silence 1\)$/,
     "  prints until when ($out)");
($rc, $out, $err) = run_aggregator('-c', $conf, '--silence', 'overall',
                                   '--for', '1h');
is($rc, 0, '--silence overall --for 1h: exit 0');
my @rows = psql_query("SELECT scope, round(extract(epoch FROM ends_at - "
                      . "starts_at)), created_by FROM pathstats_silences "
                      . "ORDER BY id");
is_deeply([map { [@$_[0, 1]] } @rows], [['/quiet*', 7200], ['overall', 3600]],
          'stored in PostgreSQL: scope and duration');
like($rows[0][2], qr/(?:^|\@)web-1$/, '  with the node (and user) that set it');

my $agg = start_aggregator('-c', $conf);
my $s;
ok(wait_until(sub { $s = summary(); @{ $s->{silences} || [] } == 2 }, 10,
              0.1), '/api/summary lists the 2 silences');
is_deeply([map { $_->{scope} } @{ $s->{silences} }], ['/quiet*', 'overall'],
          '  their scopes');
my ($m) = metrics_get();
is($m->{pathstats_silences}, 2, 'metrics: pathstats_silences 2');

# /quiet/a and /loud/a fail: only /loud/a notifies
is(parallel_load(clients => 2, requests => 15, path => '/quiet/a'), 30,
   '30 failures on /quiet/a');
is(parallel_load(clients => 2, requests => 15, path => '/loud/a'), 30,
   '30 failures on /loud/a');
ok(wait_until(sub { scalar $rx->requests }, 10, 0.1), 'a notification');
sleep 1;
my @b = $rx->bodies;
is_deeply([map { "$_->{event} $_->{scope} " . ($_->{path} // '-') } @b],
          ['fired path /loud/a'], 'only /loud/a notified');
$s = summary();
my %note = map { (($_->{path} // 'overall') . " $_->{level}")
                 => $_->{notification} } @{ $s->{alerts} || [] };
is($note{'/quiet/a critical'}, 'silenced', '/quiet/a: silenced');
is($note{'overall critical'}, 'silenced', 'overall: silenced');
is($note{'/loud/a critical'}, 'sent', '/loud/a: sent');
is($s->{notifications}{silenced_alerts}, 2, 'summary: 2 silenced alerts');
($m) = metrics_get();
is($m->{pathstats_alerts_silenced}, 2, 'metrics: pathstats_alerts_silenced 2');

# lifting the silence of /quiet*: its alert, still on, notifies
($rc, $out, $err) = run_aggregator('-c', $conf, '--silence', '/quiet*',
                                   '--for', '0');
is($rc, 0, '--silence /quiet* --for 0: exit 0');
like($out, qr/^ended 1 silence of \/quiet\*$/, "  $out");
ok(wait_until(sub { $rx->requests >= 2 }, 10, 0.1),
   'the /quiet/a alert notifies once lifted');
sleep 0.5;
@b = $rx->bodies;
is_deeply([map { "$_->{event} $_->{scope} " . ($_->{path} // '-') } @b],
          ['fired path /loud/a', 'fired path /quiet/a'],
          '  fired /quiet/a, nothing else (overall still silenced)');
is(scalar @{ summary()->{silences} }, 1, 'one silence left in the summary');

is(stop_aggregator($agg), 0, 'the aggregator exits cleanly');
finish();
