#!/usr/bin/perl
# The zone header validator that nginx's master and the aggregator share
# (ps_zone_validate, include/pathstats_shm.h) survives 15 seconds of
# libFuzzer with ASan and UBSan: it reads nothing but the header page,
# and every geometry it accepts keeps each ring descriptor, unit and
# snapshot buffer inside the file, aligned and apart (t/fuzz/zone_fuzz.c
# touches them in a file of exactly the accepted size).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Fuzz;

fuzz_ok('zone', 15);

done_testing();
