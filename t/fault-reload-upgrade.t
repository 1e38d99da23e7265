#!/usr/bin/perl
# Reloads and a binary upgrade under load, with the aggregator writing to
# PostgreSQL: 20 SIGHUP reloads, then the binary upgrade dance (USR2 to
# the master: a new master and workers attach to the same zone; WINCH and
# QUIT to the old master).  PostgreSQL's SUM(requests) is exactly the
# served requests minus the counted drops, no [alert] or [emerg] is
# logged, and only the new workers keep rings: the old generations'
# rings are reaped.
#
# nginx ignores USR2 while the process that started it is still its
# parent (ngx_parent == getppid(): "the changing binary signal is
# ignored"), and the harness's start_nginx runs nginx with "daemon off"
# as a child of this test.  So this test runs the harness's config as a
# daemon and manages the masters itself.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use PathStats::Test;

my $dir = test_dir();
my %masters;    # every master we must stop at the end

sub pidfile {
    my ($f) = @_;
    my $p = slurp($f) // return 0;
    return $p =~ /^(\d+)/ ? $1 : 0;
}

sub alive { PathStats::Test::pid_alive($_[0]) }

END {
    for my $f ("$dir/nginx.pid", "$dir/nginx.pid.oldbin") {
        my $m = pidfile($f);
        $masters{$m} = 1 if $m;
    }
    for my $m (keys %masters) {
        next unless alive($m);
        kill 'QUIT', $m;
        wait_until(sub { !alive($m) }, 10);
        kill 'KILL', $m if alive($m);
    }
}

my $port = port('nginx');
my $conf = "$dir/nginx.conf";
my $text = PathStats::Test::build_conf(<<'EOF', $port, workers => 2,
http {
    pathstats_zone %%ZONE%% size=8m rings=16;

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name upgrade.test;
        pathstats on;
        location /  { return 200 "ok\n"; }
    }
}
EOF
                                       log_level => 'info');
$text =~ s/^daemon off;$/daemon on;/m or die 'no "daemon off" to replace';
mkdir "$dir/tmp";
mkdir "$dir/html";
spew($conf, $text);
my ($rc, $out, $err) = PathStats::Test::run_cmd(
    ['/usr/sbin/nginx', '-p', "$dir/", '-c', $conf], chdir => $dir);
is($rc, 0, 'nginx started as a daemon') or diag("$out$err");
my $master;
ok(wait_until(sub {
    $master = pidfile("$dir/nginx.pid");
    $master && worker_pids($master) == 2
    && IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                             Proto => 'tcp', Timeout => 1);
}, 15), "master $master with 2 workers") or BAIL_OUT('nginx did not start');
$masters{$master} = 1;

my $pg = start_postgres();
($rc, $out, $err) = run_aggregator('--postgres', $pg, '--migrate');
is($rc, 0, 'schema migrated') or diag($err);
my $agg = start_aggregator('--zone', zone_file(), '--postgres', $pg,
                           '--flush-interval', '100ms', '--node-id', 'up-1');

my @paths = ('/a', '/b', '/c/d', '/e?x=1', '/f/1', '/f/2');

my $load = start_load(clients => 3, requests => 100_000, duration => 40,
                      paths => \@paths);
sleep 0.3;

# 1. 20 reloads, each waiting for a full new generation
my $reloads = 0;
for my $i (1 .. 20) {
    my %old = map { $_ => 1 } worker_pids($master);
    kill 'HUP', $master;
    $reloads++ if wait_until(sub {
        my @w = worker_pids($master);
        @w == 2 && !grep { $old{$_} } @w;
    }, 15, 0.02);
    sleep 0.1;
}
is($reloads, 20, '20 reloads under load');

# 2. binary upgrade
my $old = $master;
my $new;
ok(kill('USR2', $old), "USR2 to master $old");
ok(wait_until(sub {
    $new = pidfile("$dir/nginx.pid");
    $masters{$new} = 1 if $new;
    -e "$dir/nginx.pid.oldbin" && pidfile("$dir/nginx.pid.oldbin") == $old
    && $new != $old && worker_pids($new) == 2;
}, 15), 'a new master with 2 workers; nginx.pid.oldbin has the old pid')
    or diag(PathStats::Test::tail_file(error_log_path(), 10));
isnt($new, $old, "new master $new");
my @new_workers = worker_pids($new);
sleep 0.5;    # both generations serve for a moment

ok(kill('WINCH', $old), 'WINCH to the old master');
ok(wait_until(sub { !worker_pids_all($old) }, 15),
   '  its workers exit gracefully');
sleep 0.5;    # only the new generation serves now
ok(kill('QUIT', $old), 'QUIT to the old master');
ok(wait_until(sub { !alive($old) }, 15), '  it exits');
ok(!-e "$dir/nginx.pid.oldbin", '  and removes nginx.pid.oldbin');
ok(alive($new), 'the new master runs on');
sleep 0.5;

my $res = $load->stop;
my $served = $res->{responses};
ok($served > 300, "traffic flowed throughout ($served responses)");
is($res->{failures}, 0, 'no request failed') or diag(explain $res->{errors});

my $t;
wait_until(sub { $t = zone_stats()->{totals}; $t->{in_ring} == 0 }, 15);
my $drops = zone_drops($t);
my $exp = $served - $drops;
wait_until(sub { pg_requests() >= $exp }, 20);
sleep 0.5;    # a late double count would show up now
is(pg_requests(), $exp, "PostgreSQL SUM = served $served - drops $drops");
is($t->{seen}, $t->{recorded} + $t->{dropped}, 'seen = recorded + dropped');
is($drops, 0, 'nothing dropped, lost or without a ring');

# the running aggregator reaps the rings of exited workers
my %live = map { $_ => 1 } @new_workers;
my $s;
ok(wait_until(sub {
    $s = zone_stats();
    my @owned = grep { $_->{owner_pid} } @{ $s->{rings} };
    @owned == 2 && !grep { !$live{ $_->{owner_pid} } } @owned;
}, 15), 'old generations\' rings reaped: only the 2 new workers own rings')
    or diag(join ' ', map { "$_->{ring}:$_->{owner_pid}" }
                      grep { $_->{owner_pid} } @{ $s->{rings} });
is(scalar(grep { $_->{owner_alive} } grep { $_->{owner_pid} }
          @{ $s->{rings} }), 2, '  both alive');
ok((grep { $_->{claims} > 1 } @{ $s->{rings} }) > 0,
   'reaped rings were claimed again by later generations');

is(stop_aggregator($agg), 0, 'aggregator exits 0 on SIGTERM');

# stop the new master before finish() so that its log lines are complete
kill 'QUIT', $new;
ok(wait_until(sub { !alive($new) && !worker_pids_all($new) }, 15),
   'the new master exits on QUIT');
finish();
