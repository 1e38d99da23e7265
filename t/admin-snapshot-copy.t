#!/usr/bin/perl
# A large snapshot (more than 4 MB) is copied in slices between a
# worker's other events while the worker keeps serving its previous
# copy: the request that finds a newer large version is answered at once
# from the previous one, and the new one is served as soon as its copy is
# complete, whole.  A buffer that stays "being written" is waited for a
# while, then left to the next request; rewrites during a copy restart
# it; a small snapshot is still copied at once.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(time sleep);
use PathStats::Test;
use PathStats::Snapshot;

start_nginx(site_conf(name => undef, zone => 'size=1m snapshot=64m',
                      reuseport => 0, record => 0,
                      locations =>
                          'location /pathstats/ { pathstats_admin; }'),
            workers => 1);

my @workers = worker_pids();
my $JSON = JSON::PP->new->utf8;

# snapshots of $n rows told apart by their paths, long enough that 20 000
# rows make about 10 MB
my %file;
sub make {
    my ($name, $seq, $n, $pad) = @_;
    my @rows = map { { host => 'h', method => 'GET',
                       path => "/$name/" . ('x' x $pad) . "/$_",
                       requests => $_ } } 1 .. $n;
    my $f = test_dir() . "/$name.bin";
    spew($f, snapshot_bytes(sequence => $seq,
                            windows => { '24h' => \@rows }));
    $file{$name} = $f;
    return -s $f;
}
my $big_a = make('a', 1, 20000, 150);
my $big_b = make('b', 2, 20000, 150);
my $small = make('c', 3, 100, 1);
ok($big_a > 4 * 1024 * 1024 && $big_b > 4 * 1024 * 1024
   && $small < 4 * 1024 * 1024,
   "snapshots of $big_a, $big_b and $small bytes");

# one answer: [status, version, name of its rows, rows, total] or the
# reason it is not whole
sub ask {
    my ($st, $body) = http_get('/pathstats/api/paths?limit=200');
    my $d = eval { $JSON->decode($body) };
    return "status $st, not JSON" unless $d;
    return "status $st: $body" unless $st == 200;
    my %names = map { m{^/(\w)/} ? ($1 => 1) : ('?' => 1) }
                map { $_->{path} } @{ $d->{data} };
    return "rows of several snapshots: @{[sort keys %names]}"
        if keys %names != 1;
    return [$st, $d->{metadata}{version}, (keys %names)[0],
            scalar @{ $d->{data} }, $d->{pagination}{total}];
}

# wait until the answers are version $v (at most 10 s); the answers on
# the way, as "version name" => count, and the bad ones
sub until_version {
    my ($v) = @_;
    my (%seen, @bad);
    my $t0 = time;
    while (time - $t0 < 10) {
        my $a = ask();
        if (!ref $a) { push @bad, $a; next }
        $seen{"$a->[1] $a->[2]"}++;
        return (\%seen, \@bad, time - $t0) if $a->[1] == $v;
        sleep 0.005;
    }
    return (\%seen, \@bad, time - $t0);
}

snapwrite('publish', $file{a});
is_deeply(ask(), [200, 1, 'a', 200, 20000],
          'the first large snapshot is served by the first request');

# --- a newer large version: the previous copy meanwhile -----------------
snapwrite('publish', $file{b});
is_deeply(ask(), [200, 1, 'a', 200, 20000],
          'the request that finds a newer large version is served from '
          . 'the previous copy');
my ($seen, $bad, $took) = until_version(2);
is_deeply($bad, [], 'every answer on the way is one whole snapshot');
is_deeply(ask(), [200, 2, 'b', 200, 20000],
          sprintf('then the new one, whole (after %.0f ms)', $took * 1000));

# --- a small snapshot is copied at once ------------------------------------
snapwrite('publish', $file{c});
is_deeply(ask(), [200, 3, 'c', 100, 100],
          'a small snapshot is served by the request that finds it');

# --- a buffer that stays "being written" ------------------------------------
make('a', 4, 20000, 150);
snapwrite('publish', $file{a});
my $holder = snapwrite_bg(undef, 'hold', 2);
sleep 0.2;
my (%held, @held_bad);
my $t0 = time;
while (time - $t0 < 1.5) {
    my $a = ask();
    if (ref $a) { $held{"$a->[1] $a->[2]"}++ } else { push @held_bad, $a }
    sleep 0.01;
}
is_deeply(\@held_bad, [], 'while the new buffer is held, every answer is '
          . 'whole');
is_deeply([keys %held], ['3 c'],
          'and from the previous copy ('
          . join(', ', map { "$_: $held{$_}" } sort keys %held) . ')');
waitpid($holder, 0);
is($? >> 8, 0, 'the holder let go after 2 s');
($seen, $bad, $took) = until_version(4);
is_deeply($bad, [], 'every answer on the way is whole');
is_deeply(ask(), [200, 4, 'a', 200, 20000],
          sprintf('then the held version is served (after %.0f ms)',
                  $took * 1000));

# --- rewrites during copies --------------------------------------------------
my $seconds = 3;
my $churns = test_dir() . '/churns';
my $writer = snapwrite_bg($churns, 'churn', $file{a}, $file{b}, $seconds);
my (%answers, @churn_bad, $rc);
my $requests = 0;
$t0 = time;
while (time - $t0 < 30) {
    if (waitpid($writer, POSIX::WNOHANG()) == $writer) {
        $rc = $? >> 8;
        last;
    }
    my $a = ask();
    $requests++;
    if (!ref $a) { push @churn_bad, $a; next }
    push @churn_bad, "version $a->[1] with rows of $a->[2]"
        unless "$a->[1] $a->[2]" =~ /^(?:4 a|2 b|3 c)$/;
    $answers{$a->[2]}++;
}
my $published = slurp($churns) // '';
chomp $published;
is($rc, 0, "the writer published $published snapshots in $seconds s");
is_deeply(\@churn_bad, [], "$requests answers meanwhile, each one whole")
    or diag(join "\n", @churn_bad[0 .. ($#churn_bad > 9 ? 9 : $#churn_bad)]);
ok(($answers{a} // 0) + ($answers{b} // 0) > 0,
   'the churned snapshots were served: '
   . join(', ', map { "$_: $answers{$_}" } sort keys %answers));
make('d', 5, 20000, 150);
snapwrite('publish', $file{d});
($seen, $bad, $took) = until_version(5);
is_deeply($bad, [], 'after the churn, every answer is whole');
is_deeply(ask(), [200, 5, 'd', 200, 20000],
          sprintf('and the next large version is served (after %.0f ms)',
                  $took * 1000));

unlike(slurp(error_log_path()) // '', qr/is invalid|\[(?:alert|crit|emerg)\]/,
       'no snapshot was ever seen invalid, nothing alarming logged');
is_deeply([worker_pids()], \@workers, 'no worker crashed');

finish();
