#!/usr/bin/perl
# A backlog goes into one flush: records left in a ring while no
# aggregator ran (more than half of it) are read to their end first and
# then flushed once, every key written once, not flushed early at every
# poll because the ring is half full of records read and not yet
# released.  Exact: PostgreSQL holds every record once.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use PathStats::Test;

my $producer = build_dir() . '/bench/bench-ring-producer';
plan skip_all => "$producer not built" unless -x $producer;

my $COUNT = 20000;          # 3 units each: 92 % of a ring of 65 536 units
my $PATHS = 2000;

# 4 rings of 2 MB (65 536 units); the worker claims one, the producer
# another
start_nginx(site_conf(name => 'backlog.test', zone => 'size=8m rings=4'),
            workers => 1);
my $pg = start_migrated_postgres();

my ($rc, $out, $err) = PathStats::Test::run_cmd(
    [$producer, '--zone', zone_file(), '--paths', $PATHS, '--count', $COUNT,
     '--sequential', '--block'], timeout => 60);
is($rc, 0, "bench-ring-producer left $COUNT records in a ring")
    or diag("$out$err");
my $st = zone_stats()->{totals};
is($st->{in_ring}, $COUNT, "  $COUNT records waiting, none consumed");

my $conf = write_aggregator_conf('backlog', zone => zone_file(),
                                 postgres => $pg, node_id => 'backlog-1',
                                 flush_interval => '5s');
my $agg = start_aggregator('-c', $conf, '--log-level', 'debug');

is_pg_requests($COUNT, "PostgreSQL holds the $COUNT records once", 30);

my @flushes;
for (split /\n/, slurp($agg->{stderr}) // '') {
    push @flushes, [$1 + 0, $2 + 0]
        if /event=flush sink=postgres keys=(\d+) records=(\d+)/ && $1 > 0;
}
is(scalar @flushes, 1, 'one flush of the backlog')
    or diag(explain(\@flushes));
is_deeply($flushes[0], [$PATHS, $COUNT],
          "  of its $PATHS keys and $COUNT records");

is(stop_aggregator($agg), 0, 'the aggregator stops cleanly');

finish();
