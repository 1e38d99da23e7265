package PathStats::Fuzz;

# Runs one libFuzzer target of t/fuzz/run.sh (built with ASan and UBSan)
# for a bounded time, as three tests: it found nothing, it ran, no
# sanitizer report.  Skips the whole file when clang's fuzzer runtime is
# missing.  Core Perl only.
#
#   use lib 't/lib';
#   use PathStats::Fuzz;
#   fuzz_ok('zone', 15);
#   done_testing();

use strict;
use warnings;

use Exporter qw(import);
use Test::More;

our @EXPORT = qw(fuzz_ok);

# $target: a name t/fuzz/run.sh knows; $seconds: the default run time,
# which PS_FUZZ_SECONDS overrides.
sub fuzz_ok {
    my ($target, $seconds) = @_;
    $seconds = $ENV{PS_FUZZ_SECONDS} || $seconds;

    my $out = qx{t/fuzz/run.sh $seconds $target 2>&1};
    my $rc = $? >> 8;

    plan skip_all => "clang's libFuzzer runtime is missing: "
                     . (($out =~ /^fuzz: (.*)$/m)[0] // '')
        if $rc == 77;

    is($rc, 0, "$seconds s of fuzzing ($target) found no crash, leak or UB")
        or diag(join "\n", grep { defined } (split /\n/, $out)[-40 .. -1]);
    my ($runs) = $out =~ /^Done (\d+) runs/m;
    ok(($runs // 0) > 1000, 'the fuzzer ran (' . ($runs // 0) . ' inputs)');
    unlike($out, qr/ERROR: AddressSanitizer|runtime error:/,
           'no sanitizer report');
}

1;
