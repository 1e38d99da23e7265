#!/usr/bin/perl
# bench-pg_flush against a throwaway PostgreSQL: starts one with the test
# harness (as nobody when run as root, on a free loopback port, in a
# temporary directory), migrates it, runs build/bench/bench-pg_flush
# CONNINFO KEYS REPEAT and stops it.  Its output is bench-pg_flush's:
# per round the wall time and the server's and this side's CPU time of
# each flush, then the minimum and the median of new rows and of
# existing rows.
#
#   bench/pg-flush.pl [REPEAT]        (keys: KEYS, default 10000)
#
# Environment: BUILD (build directory, default <repo>/build), KEYS
# (10000), KEEP (1 keeps the directory).

use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/lib";
use PathStatsBench;     # first: it sets PS_BUILD_DIR and PS_KEEP
use PathStats::Test;
use Test::More;

$| = 1;

my $REPEAT = $ARGV[0] // 3;
my $KEYS = $ENV{KEYS} // 10000;
my $bench = "$ENV{PS_BUILD_DIR}/bench/bench-pg_flush";
-x $bench or die "missing $bench: build first\n";

my $pg = start_migrated_postgres();
my $rc = system($bench, $pg, $KEYS, $REPEAT);
stop_postgres();
done_testing();
exit($rc == 0 ? 0 : 1);
