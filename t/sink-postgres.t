#!/usr/bin/perl
# The PostgreSQL sink against a real server: runs the C test
# t/unit/test_sink_pg.c with PS_TEST_PG pointing at a freshly migrated
# database (see that file for what it checks).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

my $pg = start_postgres();
my ($rc, $out, $err) = run_aggregator('--postgres', $pg, '--migrate');
is($rc, 0, 'schema migrated') or diag($err);

my $bin = build_dir() . '/unit/unit-test_sink_pg';
($rc, $out, $err) = PathStats::Test::run_cmd([$bin], timeout => 120,
                                              env => { PS_TEST_PG => $pg });
my $n = 0;
for my $line (split /\n/, $out) {
    if ($line =~ /^(not )?ok\b\s*\d*\s*(?:- )?(.*)$/) {
        ok(!$1, $2);
        $n++;
    } elsif ($line =~ /^#\s?(.*)$/) {
        diag($1);
    }
}
ok($n > 20, "the C test ran ($n tests)");
is($rc, 0, 'and exited 0') or diag($err);

finish();
