#!/usr/bin/perl
# What a user sees with `pathstats on`: every request that nginx answers
# is one record with the method, the path without its query string, the
# status, the matched server's name, the bytes nginx logged and the
# client address; --stats accounts for each of them exactly.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

start_nginx(static_site_conf('basic.test'), workers => 2);

my @paths = ('/ok', '/ok?page=2&secret=s3cr3t', '/fail', '/moved',
             '/missing', '/api/users', '/api/orders?sort=desc');
my @methods = qw(GET POST HEAD DELETE);
my @specs;
for my $m (@methods) {
    for my $p (@paths) {
        push @specs, { path => $p, method => $m, host => 'evil.example',
                       $m eq 'POST' ? (body => "a=1&b=2") : () };
    }
}
my $clients = 4;
my $per_client = 2 * @specs;              # each spec twice per client
my $n = $clients * $per_client;

my ($got, $res) = parallel_load(clients => $clients, requests => $per_client,
                                paths => \@specs, track_paths => 1);
is($got, $n, "all $n requests answered");
is($res->{failures}, 0, 'no client failures');
ok($res->{by_status}{$_}, "some responses were $_") for qw(200 301 404 500);

my $stats = wait_for_stats(sub { $_[0]{totals}{seen} >= $n }, 5);
is($stats->{totals}{seen}, $n, 'seen counts every request');
is($stats->{totals}{recorded}, $n, 'recorded counts every request');
is($stats->{totals}{dropped}, 0, 'nothing dropped');
is($stats->{totals}{in_ring}, $n, 'all waiting in the rings');

my ($recs, $bad, $rc) = tail_once();
is($rc, 0, '--tail --once exits 0');
is(scalar @$bad, 0, 'every --tail line is JSON');
is(scalar @$recs, $n, "--tail --once prints exactly $n records");

# per (method, path without query, status): exactly what the clients saw
my (%want, %have);
for my $k (keys %{ $res->{by_path} }) {
    my ($m, $p, $s) = split / /, $k;
    $p =~ s/\?.*//;
    $want{"$m $p $s"} += $res->{by_path}{$k};
}
$have{"$_->{method} $_->{path} $_->{status}"}++ for @$recs;
is_deeply(\%have, \%want, 'per method, path and status counts match');

ok(!grep({ $_->{path} =~ /[?]|secret|page=/ } @$recs),
   'no query string in any path');
is(scalar(grep { $_->{host} eq 'basic.test' } @$recs), $n,
   'host is the server_name, not the Host header');
is(scalar(grep { $_->{client} eq '127.0.0.1' } @$recs), $n,
   'client is 127.0.0.1');
is(scalar(grep { $_->{bytes_out} > 0 } @$recs), $n, 'bytes_out > 0');
is(scalar(grep { !$_->{key_truncated} && !$_->{upgraded}
                 && !$_->{normalized} } @$recs), $n,
   'no flags set on plain requests');

# bytes_in/bytes_out are nginx's own $request_length/$bytes_sent
my %log;
$log{$_}++ for grep { length } split /\n/, slurp(test_dir() . '/ps.log');
my %rec;
$rec{"$_->{method}|$_->{status}|$_->{path}|$_->{bytes_in}|$_->{bytes_out}"}++
    for @$recs;
is_deeply(\%rec, \%log,
          'bytes_in and bytes_out equal $request_length and $bytes_sent');

my $now = time;
is(scalar(grep { abs($_->{time_us} / 1e6 - $now) < 120 } @$recs), $n,
   'time_us is now');
is(scalar(grep { $_->{request_us} >= 0 && $_->{request_us} < 10_000_000 }
          @$recs), $n, 'request_us is sane');

my %rings = map { $_->{ring} => 1 } @$recs;
is(scalar keys %rings, 2, 'both workers recorded into their own rings');

$stats = zone_stats();
is($stats->{totals}{consumed}, $n, 'consumed equals what --tail printed');
is($stats->{totals}{in_ring}, 0, 'rings are empty after --tail --once');
is($stats->{totals}{lost}, 0, 'nothing lost');
is($stats->{totals}{no_ring}, 0, 'every worker had a ring');
my @owned = grep { $_->{owner_pid} } @{ $stats->{rings} };
is(scalar @owned, 2, 'two rings are owned');
is_deeply([sort { $a <=> $b } map { $_->{owner_pid} } @owned],
          [worker_pids()], 'owned by the two workers');

($recs, $bad, $rc) = tail_once();
is(scalar @$recs, 0, 'a second --tail --once prints nothing: each record '
                     . 'is consumed once');

finish();
