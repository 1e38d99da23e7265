#!/usr/bin/perl
# PostgreSQL crashing during flushes: under steady load, PostgreSQL is
# stopped in immediate mode (SIGQUIT: no checkpoint, in-flight
# transactions die, crash recovery on start) and started again, first
# without a spool (the aggregator stops reading while PostgreSQL is down;
# the 16384-record rings hold most of an outage), then with one (the rings
# keep draining into it).  The aggregator retries, and PostgreSQL's
# SUM(requests) ends exactly equal to the served requests minus the
# counted drops.
#
# When the connection breaks during COMMIT the outcome is unknown and the
# aggregator exits 1 on purpose (event=commit_outcome_unknown): the
# service restarts it (Restart=always in pathstats-aggregator.service)
# and it replays from the committed watermarks.  This test plays the
# supervisor: it restarts an aggregator that exited that way, and fails
# on any other exit.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use PathStats::Test;

# 64m over 8 rings: 262144 units of 32 bytes per ring, 65536 to 131072
# records of this test (2 to 4 units each), several seconds of this load
start_nginx(site_conf(name => 'pgcrash.test',
                      zone => 'size=64m'), workers => 2);

my $pg = start_postgres();
my ($rc, $out, $err) = run_aggregator('--postgres', $pg, '--migrate');
is($rc, 0, 'schema migrated') or diag($err);

my @common = ('--zone', zone_file(), '--postgres', $pg, '--flush-interval',
              '100ms', '--node-id', 'pgc-1');
my @agg_args = @common;
my $agg = start_aggregator(@agg_args);
my @exits;        # [exit code, why] of every exit the supervisor saw
my $logs = '';    # the stderr of every aggregator run

my @paths = map { "/p/$_" } 'a' .. 'p';

# Restarts the aggregator if it exited, like systemd's Restart=always.
sub supervise {
    return if PathStats::Test::pid_alive($agg->{pid});
    my $rc = stop_aggregator($agg);
    my $log = slurp($agg->{stderr}) // '';
    $logs .= $log;
    my ($why) = $log =~ /event=(commit_outcome_unknown)/;
    push @exits, [$rc, $why // 'unexpected'];
    diag("aggregator exited $rc (" . ($why // 'unexpected') . '); '
         . 'restarting it');
    $agg = start_aggregator(@agg_args);
}

sub wait_supervised {
    my ($cond, $timeout) = @_;
    return wait_until(sub { supervise(); $cond->() }, $timeout, 0.1);
}

my $served = 0;

# Crashes PostgreSQL $n times under load; then checks the invariant over
# everything served so far.
sub crash_phase {
    my ($what, $n) = @_;
    my $load = start_load(clients => 3, requests => 100_000, duration => 40,
                          paths => \@paths);
    my $restarts = 0;
    for my $i (1 .. $n) {
        # wait until a flush has landed since the last restart
        my $before = pg_requests();
        wait_supervised(sub { pg_requests() > $before }, 10);
        sleep 0.1 * $i;
        stop_postgres(mode => 'immediate');
        sleep 0.7;
        supervise();
        eval { start_postgres(); $restarts++ };
        diag("start_postgres: $@") if $@;
    }
    is($restarts, $n, "$what: PostgreSQL crashed and restarted $n times "
                      . 'under load');
    wait_supervised(sub { 0 }, 1);
    my $res = $load->stop;
    $served += $res->{responses};
    ok($res->{responses} > 300, "$what: traffic flowed "
                                . "($res->{responses} responses)");
    is($res->{failures}, 0, "$what: no request failed: nginx never waits "
                            . 'for the database');

    my $t;
    wait_supervised(sub { $t = zone_stats()->{totals}; $t->{in_ring} == 0 },
                    30);
    my $drops = zone_drops($t);
    my $exp = $served - $drops;
    wait_supervised(sub { pg_requests() >= $exp }, 30);
    wait_supervised(sub { 0 }, 0.5);    # a late double count shows now
    is(pg_requests(), $exp, "$what: PostgreSQL SUM = served $served - "
                         . "drops $drops");
    unlike($logs . (slurp($agg->{stderr}) // ''), qr/event=spool_overlap/,
           "$what: no spool segment straddled a watermark");
    is($t->{seen}, $t->{recorded} + $t->{dropped},
       "$what: seen = recorded + dropped");
    is($t->{in_ring}, 0, "$what: the rings are drained");
    is($t->{consumed}, $t->{recorded} - $t->{lost},
       "$what: consumed = recorded - lost");
    diag("$what: $t->{dropped} dropped in all") if $t->{dropped};
    ok(wait_supervised(sub {
        (eval { psql_query("SELECT sum(committed_pos) FROM "
                           . "pathstats_watermark WHERE node_id = 'pgc-1'") }
         // -1) == $t->{head} }, 10),
       "$what: watermarks equal the released ring positions (head)");
    return $t;
}

sub check_exits {
    my ($what) = @_;
    my @bad = grep { $_->[0] != 1 || $_->[1] ne 'commit_outcome_unknown' }
              @exits;
    is(scalar @bad, 0, "$what: the aggregator exited only on purpose ("
                       . scalar(@exits) . ' x commit_outcome_unknown, '
                       . 'restarted)')
        or diag(explain \@bad);
    @exits = ();
}

# 1. no spool: reading pauses during the outages
crash_phase('no spool', 3);
is(stop_aggregator($agg), 0, 'SIGTERM exits 0');
$logs .= slurp($agg->{stderr}) // '';
check_exits('no spool');
like($logs, qr/event=sink_down sink=postgres/, 'the outages were logged');

# 2. with a spool: the rings keep draining into it during the outages,
# and it is replayed in order
my $spool = test_dir() . '/spool';
spew(test_dir() . '/spool.conf', "spool_dir = $spool\nspool_max = 64m\n");
@agg_args = ('-c', test_dir() . '/spool.conf', @common);
$logs = '';
$agg = start_aggregator(@agg_args);
crash_phase('spool', 2);
is(stop_aggregator($agg), 0, 'SIGTERM exits 0');
$logs .= slurp($agg->{stderr}) // '';
check_exits('spool');
like($logs, qr/event=spool_/, 'the spool was used');
unlike($logs, qr/event=spool_full/, '  never full');

finish();
