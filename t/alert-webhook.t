#!/usr/bin/perl
# Alert delivery: a local receiver gets exactly one "fired" and one
# "resolved" per incident, in order, with the documented JSON; a receiver
# that hangs is retried and then counted as failed while the rings keep
# draining (their counters prove it); a receiver that is down is retried
# and counted as failed too; /metrics, /api/summary and the log say so.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use PathStats::Test;

# /x and /y: one key each, failing or not by location
start_nginx(site_conf(zone => 'size=1m snapshot=1m', locations => <<'EOF'),
location /pathstats/ { pathstats off; pathstats_admin; }
location /ok-x { pathstats_key /x; return 200 "ok\n"; }
location /fail-x { pathstats_key /x; return 500; }
location /ok-y { pathstats_key /y; return 200 "ok\n"; }
location /fail-y { pathstats_key /y; return 500; }
EOF
            workers => 2);

my $rx = start_receiver();
my $conf = write_aggregator_conf('agg',
    zone => zone_file(), node_id => 'web-1', snapshot_interval => '100ms',
    alert_error_rate_warning_bp => 2000, alert_error_rate_critical_bp => 5000,
    alert_min_requests => 20, alert_webhook => $rx->url,
    alert_webhook_timeout => '1s', alert_webhook_retries => 2,
    alert_webhook_backoff => '200ms');
my $agg = start_aggregator('-c', $conf);
my $JSON = JSON::PP->new->utf8;

sub summary {
    my ($st, $body) = http_get('/pathstats/api/summary');
    return (eval { $JSON->decode($body) } // {})->{data} // {};
}

sub of_path {
    my ($path, @b) = @_;
    return grep { ($_->{path} // '') eq $path } @b;
}

# wait until $n bodies arrived
sub wait_bodies {
    my ($n, $timeout) = @_;
    wait_until(sub { $rx->requests >= $n }, $timeout // 10, 0.1);
    return $rx->bodies;
}

# one incident: /x fails (100 %: warning and critical at once), then
# recovers (30 errors in 330 requests: 9 %, below 90 % of 20 %)

is(parallel_load(clients => 2, requests => 15, path => '/fail-x'), 30,
   '30 requests to /x fail');
my @b = wait_bodies(2);
my @x = of_path('/x', @b);
is(scalar @x, 1, '/x: one notification (critical supersedes warning)');
my $f = $x[0] // {};
is_deeply([sort keys %$f],
          [sort qw(event id alert level previous_level scope host method
                   path value threshold paths since at node message
                   suggestion)], 'the documented fields');
is_deeply({ map { $_ => $f->{$_} }
            qw(event alert level scope host method path value threshold
               node) },
          { event => 'fired', alert => 'error_rate', level => 'critical',
            scope => 'path', host => 'site.test', method => 'GET',
            path => '/x', value => 1, threshold => 0.5, node => 'web-1' },
          'fired: error_rate critical on GET site.test/x, 1 of threshold '
          . '0.5, node web-1');
ok(!defined $f->{previous_level} && !defined $f->{paths},
   'previous_level and paths null');
is($f->{message}, 'critical: 5xx error rate 100% on GET site.test/x '
   . '(threshold 50%)', 'the message');
like($f->{suggestion} // '', qr/upstream/, 'a suggestion');
like($f->{since} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
     'since: ISO 8601 UTC');
my ($req) = grep { ($_->{json}{path} // '') eq '/x' } $rx->requests;
is_deeply([$req->{method}, $req->{path}, $req->{content_type}],
          ['POST', '/hook', 'application/json'],
          'POST /hook, application/json');
my @o = grep { $_->{scope} eq 'overall' } @b;
ok(@o == 1 && $o[0]{event} eq 'fired' && !defined $o[0]{path},
   'the overall traffic: its own incident, one fired');

my ($m) = metrics_get();
is($m->{'pathstats_alert_active{alert="error_rate",level="critical",'
       . 'scope="path",host="site.test",method="GET",path="/x"}'}, 1,
   'pathstats_alert_active: the critical alert on /x');
is($m->{'pathstats_alert_active{alert="error_rate",level="warning",'
       . 'scope="path",host="site.test",method="GET",path="/x"}'}, 1,
   '  and the warning under it');
is($m->{'pathstats_alerts_fired_total{alert="error_rate",level="critical",'
       . 'scope="path"}'}, 1, 'pathstats_alerts_fired_total: 1 critical');
my ($ax) = grep { ($_->{path} // '') eq '/x' && $_->{level} eq 'warning' }
           @{ summary()->{alerts} || [] };
is($ax && $ax->{notification}, 'superseded',
   '/api/summary: the warning is superseded');

is(parallel_load(clients => 2, requests => 150, path => '/ok-x'), 300,
   '300 requests to /x succeed');
@b = wait_bodies(4);
@x = of_path('/x', @b);
is_deeply([map { $_->{event} } @x], ['fired', 'resolved'],
          '/x: fired, then resolved, nothing else');
is($x[1]{id}, $x[0]{id}, '  the same incident id');
is($x[1]{level}, 'critical', '  resolved at the level it was notified');
ok(!defined $x[1]{suggestion}, '  no suggestion when resolved');
is($x[1]{message}, 'resolved: critical 5xx error rate on GET site.test/x',
   '  its message');
@o = grep { $_->{scope} eq 'overall' } @b;
is_deeply([map { $_->{event} } @o], ['fired', 'resolved'],
          'overall: fired, then resolved');
sleep 1;
is(scalar($rx->requests), 4, 'four notifications in all, no more');

($m) = metrics_get();
my $hook = 'webhook="1",host="127.0.0.1:' . $rx->port . '"';
is($m->{"pathstats_webhook_notifications_total{$hook,result=\"sent\"}"}, 4,
   'metrics: 4 sent');
is($m->{"pathstats_webhook_notifications_total{$hook,result=\"failed\"}"},
   0, 'metrics: 0 failed');
is($m->{'pathstats_alert_notifications_total{event="fired"}'}, 2,
   'metrics: 2 fired');
is($m->{'pathstats_alert_notifications_total{event="resolved"}'}, 2,
   'metrics: 2 resolved');

# a receiver that hangs: each attempt times out (1 s), two retries; the
# rings keep draining meanwhile

$rx->set_mode('hang');
is(parallel_load(clients => 2, requests => 15, path => '/fail-y'), 30,
   '30 requests to /y fail; the receiver hangs');
ok(wait_until(sub {
    my ($mm) = metrics_get();
    return ($mm->{"pathstats_webhook_queue_length{$hook}"} // 0) >= 1;
}, 5, 0.05), 'a notification is stuck in the webhook queue');

my $t0 = time;
my $load = start_load(clients => 2, requests => 500, path => '/ok-x');
my $res = $load->wait;
is($res->{responses}, 1000, '1000 requests served meanwhile');
my $stats = wait_for_stats(sub {
    my ($s) = @_;
    return $s->{totals}{consumed} == $s->{totals}{recorded};
}, 5);
my $drained = time - $t0;
is($stats->{totals}{consumed}, $stats->{totals}{recorded},
   'the rings: every record consumed (consumed = recorded)');
is($stats->{totals}{dropped}, 0, 'the rings: nothing dropped');
($m) = metrics_get();
ok(($m->{"pathstats_webhook_queue_length{$hook}"} // 0) >= 1,
   sprintf('the webhook was still busy when the rings were drained '
           . '(%.1f s)', $drained));

ok(wait_until(sub {
    my ($mm) = metrics_get();
    return ($mm->{"pathstats_webhook_notifications_total{$hook,"
                  . "result=\"failed\"}"} // 0) >= 1;
}, 15, 0.1), 'the hanging receiver: counted as failed');
($m) = metrics_get();
is($m->{"pathstats_webhook_retries_total{$hook}"}, 2,
   'metrics: after 2 retries');
my @fails = grep { ($_->{json}{path} // '') eq '/y' } $rx->requests;
is(scalar @fails, 3, 'the receiver saw the /y notification 3 times');
my $sum = summary();
my $w = $sum->{notifications}{webhooks}[0] // {};
is_deeply([@$w{qw(webhook sent failed retries dropped)}], [1, 4, 1, 2, 0],
          '/api/summary: webhook 1, 4 sent, 1 failed, 2 retries');
like($w->{last_error} // '', qr/timed out|Timeout/i, '  last_error');

# the receiver down: refused at once, retried, counted as failed

$rx->stop;
is(parallel_load(clients => 2, requests => 150, path => '/ok-y'), 300,
   '/y recovers while the receiver is down');
ok(wait_until(sub {
    my ($mm) = metrics_get();
    return ($mm->{"pathstats_webhook_notifications_total{$hook,"
                  . "result=\"failed\"}"} // 0) >= 2;
}, 10, 0.1), 'the resolve of /y: counted as failed');
($m) = metrics_get();
is($m->{"pathstats_webhook_retries_total{$hook}"}, 4,
   'retried twice more (4)');
like(summary()->{notifications}{webhooks}[0]{last_error} // '',
     qr/connect/i, 'last_error: cannot connect');

is(stop_aggregator($agg), 0, 'the aggregator exits cleanly');
my $log = slurp($agg->{stderr}) // '';
my $failed_re = qr/event=webhook_failed webhook=1 host=127\.0\.0\.1:\d+/;
my @failed = $log =~ /$failed_re attempts=3/g;
is(scalar @failed, 2, 'the log: 2 failures, 3 attempts each');
unlike($log, qr{/hook}, 'the log never shows the URL');
finish();
