#!/usr/bin/perl
# The zone header validator that nginx's master and the aggregator share
# (ps_zone_validate, include/pathstats_shm.h) survives 15 seconds of
# libFuzzer with ASan and UBSan: it reads nothing but the header page,
# and every geometry it accepts keeps each ring descriptor, slot and
# snapshot buffer inside the file, aligned and apart (t/fuzz/zone_fuzz.c
# touches them in a file of exactly the accepted size).

use strict;
use warnings;
use Test::More;

my $seconds = $ENV{PS_FUZZ_SECONDS} || 15;
my $out = qx{t/fuzz/run.sh $seconds zone 2>&1};
my $rc = $? >> 8;

plan skip_all => "clang's libFuzzer runtime is missing: "
                 . (($out =~ /^fuzz: (.*)$/m)[0] // '')
    if $rc == 77;

is($rc, 0, "$seconds s of fuzzing the zone header found no crash, leak "
           . "or UB")
    or diag(join "\n", (split /\n/, $out)[-40 .. -1]);
my ($runs) = $out =~ /^Done (\d+) runs/m;
ok(($runs // 0) > 1000, 'the fuzzer ran (' . ($runs // 0) . ' inputs)');
unlike($out, qr/ERROR: AddressSanitizer|runtime error:/,
       'no sanitizer report');

done_testing();
