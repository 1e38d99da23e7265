#!/usr/bin/perl
# The snapshot reader survives 20 seconds of libFuzzer with ASan and
# UBSan: ps_snap_validate() and every read the admin handler makes from
# a validated view stay inside the buffer (t/fuzz/run.sh).

use strict;
use warnings;
use Test::More;

my $seconds = $ENV{PS_FUZZ_SECONDS} || 20;
my $out = qx{t/fuzz/run.sh $seconds 2>&1};
my $rc = $? >> 8;

plan skip_all => "clang's libFuzzer runtime is missing: "
                 . (($out =~ /^fuzz: (.*)$/m)[0] // '')
    if $rc == 77;

is($rc, 0, "$seconds s of fuzzing found no crash, leak or UB")
    or diag(join "\n", (split /\n/, $out)[-40 .. -1]);
my ($runs) = $out =~ /^Done (\d+) runs/m;
ok(($runs // 0) > 1000, 'the fuzzer ran (' . ($runs // 0) . ' inputs)');
unlike($out, qr/ERROR: AddressSanitizer|runtime error:/,
       'no sanitizer report');

done_testing();
