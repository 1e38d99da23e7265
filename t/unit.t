#!/usr/bin/perl
# The C unit tests: runs every binary in $PS_BUILD_DIR/unit (default
# build/unit) and passes its TAP through as one subtest per binary, which
# also fails when the binary exits non-zero, dies on a signal or does not
# run the tests it planned.

use strict;
use warnings;
use FindBin;
use Test::More;

my $build = $ENV{PS_BUILD_DIR} // "$FindBin::Bin/../build";
my @bins = grep { -f $_ && -x _ } sort glob "$build/unit/*";

plan skip_all => "no unit test binaries in $build/unit (build first)"
    unless @bins;

for my $bin (@bins) {
    my ($name) = $bin =~ m{([^/]+)$};

    subtest $name => sub {
        my ($ran, $planned, $failing) = (0, undef, 0);

        open my $out, '-|', $bin or die "cannot run $bin: $!";
        while (my $line = <$out>) {
            chomp $line;
            if ($line =~ /^(not )?ok\b\s*\d*\s*(?:- )?(.*)$/) {
                $ran++;
                $failing = !ok(!$1, $2);
            } elsif ($line =~ /^1\.\.(\d+)/) {
                $planned = $1;
            } elsif ($line =~ /^#\s?(.*)$/) {
                $failing ? diag($1) : note($1);
            } elsif ($line =~ /^Bail out!/) {
                fail($line);
            }
        }
        close $out;
        my $status = $?;

        is($status & 127, 0, "$name was not killed by a signal");
        is($status >> 8, 0, "$name exits 0");
        is($ran, $planned, "$name ran the $planned tests it planned")
            if defined $planned;
        ok(defined $planned, "$name printed a plan");
    };
}

done_testing();
