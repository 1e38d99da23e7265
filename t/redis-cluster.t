#!/usr/bin/perl
# The aggregator writes to a Redis Cluster natively (redis =
# redis-cluster://...): a local cluster of three masters and three
# replicas.  Redis's totals equal the requests served and PostgreSQL's;
# an hour's shards are spread over all three masters, which each run
# some of the scripts; slots resharded under load (MOVED and ASK
# answers) lose and double nothing; --check lists the masters.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;
use PathStats::Cluster;

start_nginx(site_conf(name => 'cluster.test', zone => 'size=8m'),
            workers => 2);

my $pg = start_migrated_postgres();
my $url = start_redis_cluster(masters => 3, replicas => 1);
like($url, qr{^redis-cluster://127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,},
     'a cluster of three masters');

my $conf = write_aggregator_conf('agg', zone => zone_file(),
                                 postgres => $pg, redis => $url,
                                 node_id => 'c1', flush_interval => '200ms');

my ($rc, $out, $err) = run_aggregator('-c', $conf, '--check');
is($rc, 0, '--check against the cluster exits 0') or diag($out, $err);
like($out, qr/cluster of 3 masters: 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+ /,
     '--check names the three masters');

my $agg = start_aggregator('-c', $conf);
my @paths = map { "/c/k$_" } 1 .. 40;

sub redis_requests { cluster_hash_sum('totals')->{requests} // 0 }

sub settled {
    my ($want, $what) = @_;
    ok(wait_until(sub { redis_requests() >= $want && pg_requests() >= $want },
                  30), "$what: both stores caught up");
    sleep 0.5;
    is(redis_requests(), $want, "$what: Redis cluster totals = served");
    is(pg_requests(), $want, "$what: PostgreSQL = served");
}

my $ops0 = cluster_ops();
my $sent = parallel_load(clients => 4, requests => 150, paths => \@paths);
is($sent, 600, 'first load answered');
settled(600, 'first load');

# every master has shards of the hour, and ran scripts
my $keys = cluster_keys('pathstats:{*}:paths');
my %per_master;
$per_master{ $keys->{$_} }++ for keys %$keys;
is(scalar keys %per_master, 3, 'the paths of the hour on all three masters');
my $ops = cluster_ops();
is(scalar(grep { $ops->{$_}[0] > $ops0->{$_}[0] } keys %$ops), 3,
   'every master ran scripts');

my $ps = cluster_paths_sum();
is_deeply([sort keys %$ps],
          [sort map { "cluster.test\tGET\t$_" } @paths],
          'per path: one field each');
is(scalar(grep { $ps->{$_} != 15 } keys %$ps), 0,
   'per path: exactly 15 requests each');

# reshard the lowest 1024 slots (shard 0 of every hour aims there) to
# another master while the load runs: the aggregator follows MOVED/ASK
my @m = cluster_masters();
my ($from) = grep {
    my $p = $_;
    grep { $_->[0] == $p && "@{ $_->[3] }" =~ /(^| )0-/ } cluster_nodes()
} @m;
my ($to) = grep { $_ != $from } @m;
my ($from_id) = split / /, cluster_at($from, 'CLUSTER', 'MYID');
my ($to_id) = split / /, cluster_at($to, 'CLUSTER', 'MYID');
my $load = start_load(clients => 2, requests => 400, paths => \@paths);
($rc, $out, $err) = PathStats::Test::run_cmd(
    ['redis-cli', '--cluster', 'reshard', "127.0.0.1:$from",
     '--cluster-from', $from_id, '--cluster-to', $to_id,
     '--cluster-slots', 1024, '--cluster-yes'], timeout => 60);
is($rc, 0, 'resharded 1024 slots under load') or diag($out, $err);
my $res = $load->wait;
is($res->{responses}, 800, 'load during the reshard answered');
ok(cluster_wait_ok(20), 'the cluster is ok after the reshard');
settled(1400, 'after the reshard');
ok(scalar(grep { $_->[0] == $to && "@{ $_->[3] }" =~ /(^| )0-1023( |$)/ }
           cluster_nodes()), 'slots 0-1023 moved');

is(stop_aggregator($agg), 0, 'SIGTERM: the aggregator exits 0');
my $log = slurp($agg->{stderr});
ok($log =~ /event=redis_connected redis=127\.0\.0\.1:\d+ cluster=1/,
   'the aggregator connected to the cluster');
finish();
