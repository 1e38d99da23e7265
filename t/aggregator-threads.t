#!/usr/bin/perl
# The aggregator's threads by name and priority: the background ones
# (fleet view, day windows, trends, lifecycle scheduler, silences) are
# named ps-* and run at nice +10, so that on a small box they yield to
# the thread that drains the rings and to the sinks' flushes, which keep
# the process's nice 0.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

start_nginx(site_conf(name => 'threads.test'), workers => 1);
my $pg = start_migrated_postgres();
my $conf = write_aggregator_conf('threads', zone => zone_file(),
                                 postgres => $pg, node_id => 'threads-1',
                                 lifecycle_at => '03:00',
                                 archive_dir => test_dir() . '/archive');
mkdir test_dir() . '/archive';
my $agg = start_aggregator('-c', $conf);
my $pid = $agg->{pid};

# tid => [name, nice] of every thread of the aggregator
sub threads {
    my %t;
    for my $dir (glob "/proc/$pid/task/*") {
        my ($tid) = $dir =~ m{/(\d+)$} or next;
        my $stat = slurp("$dir/stat") // next;
        my $comm = slurp("$dir/comm") // next;
        chomp $comm;
        # the fields after "(comm) ": state is 3, nice is 19
        my ($rest) = $stat =~ /\) (.*)$/s or next;
        my @f = split / /, $rest;
        $t{$tid} = [$comm, $f[16]];
    }
    return \%t;
}

my @background = qw(ps-fleet ps-days ps-trends ps-lifecycle ps-silences);
my $t;
ok(wait_until(sub {
       $t = threads();
       my %names = map { $_->[0] => 1 } values %$t;
       !grep { !$names{$_} } @background }, 20),
   "the background threads are there by name: @background")
    or diag(explain($t));

my %nice = map { $_->[0] => $_->[1] } values %$t;
is($nice{$_}, 10, "  $_ runs at nice 10") for @background;
is($t->{$pid}[1], 0, 'the thread that drains the rings keeps nice 0');
my @others = grep { my $n = $_->[0];
                    !grep { $_ eq $n } @background } values %$t;
ok(@others >= 2, 'the draining thread and the sinks\' threads ('
   . join(', ', sort map { $_->[0] } @others) . ')');
is(scalar(grep { $_->[1] != 0 } @others), 0, '  all of them at nice 0');

is(stop_aggregator($agg), 0, 'the aggregator stops cleanly');

finish();
