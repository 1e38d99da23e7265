#!/usr/bin/perl
# The C unit tests under valgrind (memcheck): no invalid read or write, no
# use of uninitialised memory, no definite or indirect leak.  Slow, so it
# runs only with PS_VALGRIND=1 (CI sets it), and then without the few
# binaries that take minutes under valgrind (%SLOW); PS_VALGRIND=all runs
# those too.  Never against a sanitizer build, which valgrind cannot run.
# PS_VALGRIND_ONLY=name,name limits it to some binaries
# (unit-test_hll,unit-test_rec).

use strict;
use warnings;
use FindBin;
use Test::More;

plan skip_all => 'set PS_VALGRIND=1 to run the unit tests under valgrind'
    unless $ENV{PS_VALGRIND};

my $build = $ENV{PS_BUILD_DIR} // "$FindBin::Bin/../build";

if (open my $fh, '<', "$build/CMakeCache.txt") {
    plan skip_all => 'sanitizer build: valgrind cannot run ASan binaries'
        if grep { /^PATHSTATS_SANITIZE:BOOL=(?:ON|1|TRUE|YES)$/i } <$fh>;
}

my $vg = qx{command -v valgrind 2>/dev/null};
chomp $vg;
plan skip_all => 'valgrind is not installed' unless $vg;

# about 200 s under valgrind (ASan runs it in the sanitizer pass)
my %SLOW = map { $_ => 1 } qw(unit-test_agg_table);

my @bins = grep { -f $_ && -x _ } sort glob "$build/unit/*";
if ($ENV{PS_VALGRIND} ne 'all') {
    @bins = grep { !(m{([^/]+)$} && $SLOW{$1}) } @bins;
}
if ($ENV{PS_VALGRIND_ONLY}) {
    my %only = map { $_ => 1 } split /,/, $ENV{PS_VALGRIND_ONLY};
    @bins = grep { m{([^/]+)$} && $only{$1} } @bins;
}
plan skip_all => "no unit test binaries in $build/unit (build first)"
    unless @bins;

for my $bin (@bins) {
    my ($name) = $bin =~ m{([^/]+)$};
    my $t0 = time;
    # valgrind's own report goes to a pipe of its own (fd 3), the test's
    # TAP to /dev/null: the plain run (t/unit.t) judges the TAP
    my $out = qx{$vg -q --error-exitcode=99 --leak-check=full \\
                 --errors-for-leak-kinds=definite,indirect \\
                 --show-leak-kinds=definite,indirect --log-fd=3 \\
                 $bin 3>&1 >/dev/null 2>/dev/null};
    my $rc = $? >> 8;
    my $sig = $? & 127;
    ok($sig == 0 && $rc != 99 && $out !~ /\S/,
       "$name is valgrind-clean (" . (time - $t0) . " s)")
        or diag("exit $rc signal $sig\n$out");
}

done_testing();
