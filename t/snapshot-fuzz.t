#!/usr/bin/perl
# The snapshot reader survives 20 seconds of libFuzzer with ASan and
# UBSan: ps_snap_validate() and every read the admin handler makes from
# a validated view stay inside the buffer (t/fuzz/run.sh).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Fuzz;

fuzz_ok('snapshot', 20);

done_testing();
