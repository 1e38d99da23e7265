#!/usr/bin/perl
# Readers never see a torn snapshot: while a writer republishes two
# different snapshots as fast as it can, every /api/paths answer is one
# whole snapshot (its rows match its version), or, for a worker that has
# no earlier copy yet, a 503 saying the snapshot is being written; never
# an invalid snapshot, never a wait, never a crash.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(time);
use PathStats::Test;
use PathStats::Snapshot;

start_nginx(site_conf(name => undef, zone => 'size=1m snapshot=4m',
                      reuseport => 0, record => 0,
                      locations => 'location /pathstats/ { pathstats_admin; }'), workers => 2);

my @workers = worker_pids();

# two snapshots of 3000 rows each, told apart by their paths
my %file;
for my $name (qw(a b)) {
    my @rows = map { { host => 'h', method => 'GET', path => "/$name/$_",
                       requests => $_ } } 1 .. 3000;
    $file{$name} = test_dir() . "/$name.bin";
    spew($file{$name},
         snapshot_bytes(sequence => $name eq 'a' ? 1 : 2,
                        windows => { '24h' => \@rows }));
}

snapwrite('publish', $file{a});

my $seconds = 3;
my $churns = test_dir() . '/churns';
my $writer = snapwrite_bg($churns, 'churn', $file{a}, $file{b}, $seconds);

my $JSON = JSON::PP->new->utf8;
my (%answers, @bad);
my $start = time;
my $requests = 0;

# read while the writer runs, and a few times after
my $rc;
while (1) {
    my $running = 1;
    if (!defined $rc && waitpid($writer, POSIX::WNOHANG()) == $writer) {
        $rc = $? >> 8;
    }
    $running = 0 if defined $rc;
    my ($st, $body) = http_get('/pathstats/api/paths?limit=200&sort=bytes');
    $requests++;
    my $d = eval { $JSON->decode($body) };
    if (!$d) {
        push @bad, "status $st, not JSON";
    } elsif ($st == 200) {
        my $want = $d->{metadata}{version} == 1 ? 'a' : 'b';
        my @other = grep { $_->{path} !~ m{^/$want/} } @{ $d->{data} };
        push @bad, "version $d->{metadata}{version} with rows of another"
            if @other || @{ $d->{data} } != 200
               || $d->{pagination}{total} != 3000;
        $answers{"200 $want"}++;
    } elsif ($st == 503
             && ($d->{message} // '') eq 'the snapshot is being written')
    {
        $answers{'503 being written'}++;
    } else {
        push @bad, "status $st: $body";
    }
    last if !$running && $requests > 20;
    last if time - $start > 30;
}
my $published = slurp($churns) // '';
chomp $published;
is($rc, 0, "the writer published $published snapshots in $seconds s");
is_deeply(\@bad, [], "$requests answers, each one whole snapshot")
    or diag(join "\n", @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);
ok(($answers{'200 a'} // 0) + ($answers{'200 b'} // 0) > 0,
   'snapshots were served: '
   . join(', ', map { "$_: $answers{$_}" } sort keys %answers));
unlike(slurp(error_log_path()) // '', qr/is invalid/,
       'no snapshot was ever seen invalid');
is_deeply([worker_pids()], \@workers, 'no worker crashed');

finish();
