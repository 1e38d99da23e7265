#!/usr/bin/perl
# A worker killed with SIGKILL under load: the master respawns it, the
# consumer keeps going, every answered request is recorded once (at most
# the one record the dead worker was writing is counted as lost), and the
# dead worker's ring is freed once drained.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

start_nginx(site_conf(name => 'kill.test', zone => 'size=4m rings=8',
                      server => 'pathstats_normalize off;'), workers => 2);

my $tail = start_aggregator({ name => 'tail' }, '--zone', zone_file(),
                            '--tail');
my @before = worker_pids();
my $load = start_load(clients => 3, requests => 100_000, duration => 30,
                      track_paths => 1,
                      path => sub { my ($c, $i) = @_; "/k/c${c}n$i" });
sleep 1;
my $victim = $before[0];
ok(kill('KILL', $victim), "killed worker $victim");
my $respawned = wait_until(sub {
    my @w = worker_pids();
    @w == 2 && !grep { $_ == $victim } @w;
}, 10);
ok($respawned, 'the master respawned a worker');
sleep 1;
my $res = $load->stop;
my $n = $res->{responses};
ok($n > 200, "traffic kept flowing ($n responses, $res->{failures} failed)");
ok($res->{failures} <= 3, 'at most the in-flight requests failed')
    or diag(explain $res->{errors});

# the consumer drains the rings and frees the dead worker's
my $stats = wait_for_stats(sub {
    $_[0]{totals}{in_ring} == 0
    && !grep { $_->{owner_pid} == $victim } @{ $_[0]{rings} };
}, 10);
is(stop_aggregator($tail), 0, '--tail exits 0 on SIGTERM');
my ($recs, $bad) = decode_json_lines(slurp($tail->{stdout}));
is(scalar @$bad, 0, 'every --tail line is JSON');

$stats = zone_stats();
my $t = $stats->{totals};
my $records = @$recs;
ok($t->{lost} <= 1, "at most one record lost ($t->{lost})");
is($t->{seen}, $t->{recorded} + $t->{dropped}, 'seen = recorded + dropped');
is($t->{dropped}, 0, 'nothing dropped');
is($records, $t->{recorded} - $t->{lost}, 'records printed = recorded - lost');
is($t->{consumed}, $records, 'consumed = records printed');
ok($records <= $n && $n - $records <= 1,
   "every answered request recorded, but for at most one "
   . "($n answered, $records records)");

my %seen;
$seen{ $_->{path} }++ for @$recs;
is(scalar(grep { $seen{$_} > 1 } keys %seen), 0, 'no request recorded twice');
my %answered = map { (split / /)[1] => 1 } keys %{ $res->{by_path} };
is(scalar(grep { !$answered{$_} } keys %seen), 0,
   'every record is an answered request');

my @dead = grep { $_->{owner_pid} == $victim } @{ $stats->{rings} };
is(scalar @dead, 0, "the killed worker's ring was freed (owner 0)");
my %live = map { $_ => 1 } worker_pids();
my @owned = grep { $_->{owner_pid} } @{ $stats->{rings} };
is(scalar @owned, 2, 'two rings owned');
is(scalar(grep { $live{ $_->{owner_pid} } && $_->{owner_alive} } @owned), 2,
   'by the two live workers');

finish(allow => [qr/worker process $victim exited on signal 9/]);
