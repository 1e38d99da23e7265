#!/usr/bin/perl
# Reloading nginx under load loses nothing and counts nothing twice: with
# a consumer running, 20 reloads during steady traffic leave exactly one
# record per answered request, and the old generations' rings are freed.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

my $conf = <<'EOF';
http {
    pathstats_zone %%ZONE%% size=4m rings=16;

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name reload.test;
        pathstats on;
        pathstats_normalize off;
        location / { return 200 "ok\n"; }
    }
}
EOF
start_nginx($conf, workers => 2);

my $tail = start_aggregator({ name => 'tail' }, '--zone', zone_file(),
                            '--tail');

# every request has a unique path, so "exactly once" is checkable
my $load = start_load(clients => 3, requests => 100_000, duration => 40,
                      track_paths => 1,
                      path => sub { my ($c, $i) = @_; "/r/c${c}n$i" });
sleep 0.3;
for my $i (1 .. 20) {
    reload_nginx();
    sleep 0.1;
}
sleep 0.3;
my $res = $load->stop;
my $n = $res->{responses};
ok($n > 200, "load kept flowing through 20 reloads ($n responses)");
is($res->{failures}, 0, 'no request failed during the reloads');

my $stats = wait_for_stats(sub {
    my $t = $_[0]{totals};
    $t->{seen} >= $n && $t->{in_ring} == 0;
}, 10);
my $t = $stats->{totals};
is($t->{seen}, $n, "seen = $n responses");
is($t->{dropped}, 0, 'nothing dropped');
is($t->{seen}, $t->{recorded} + $t->{dropped}, 'seen = recorded + dropped');
is($t->{lost}, 0, 'nothing lost');
is($t->{no_ring}, 0, 'every worker generation found a free ring');
is($t->{consumed}, $t->{recorded}, 'the consumer has everything');

is(stop_aggregator($tail), 0, '--tail exits 0 on SIGTERM');
my ($recs, $bad) = decode_json_lines(slurp($tail->{stdout}));
is(scalar @$bad, 0, 'every --tail line is JSON');
is(scalar @$recs, $n, "--tail printed $n records");

my %seen;
$seen{ $_->{path} }++ for @$recs;
my @dup = grep { $seen{$_} > 1 } keys %seen;
is(scalar @dup, 0, 'no request recorded twice') or diag("@dup[0..4]");
my @missing = grep { my $p = (split / /)[1]; !$seen{$p} }
              keys %{ $res->{by_path} };
is(scalar @missing, 0, 'every answered request was recorded')
    or diag("@missing[0..4]");

# the consumer frees the rings of exited workers; only the live
# generation keeps one (reaping happens in the consumer, so run one)
my ($rc) = run_aggregator('--zone', zone_file(), '--tail', '--once');
is($rc, 0, '--tail --once ran');
my %live = map { $_ => 1 } worker_pids();
$stats = wait_for_stats(sub {
    my @owned = grep { $_->{owner_pid} } @{ $_[0]{rings} };
    @owned == 2;
}, 10);
my @owned = grep { $_->{owner_pid} } @{ $stats->{rings} };
is(scalar @owned, 2, 'old generations\' rings were freed');
is(scalar(grep { $live{ $_->{owner_pid} } } @owned), 2,
   'the remaining rings belong to the live workers');
ok((grep { $_->{claims} > 1 } @{ $stats->{rings} }) > 0,
   'freed rings were claimed again by later generations');

finish();
