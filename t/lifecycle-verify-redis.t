#!/usr/bin/perl
# verify compares Redis' closed live hours with PostgreSQL exactly
# (issue 12): Redis holds the fleet's sums per hour and key, the hourly
# table a row per node, and verify sums the nodes' rows.  Past hours are
# written into both stores directly, in the aggregator's layout
# (redis_shards = 1: the hash tag is {YYYYMMDDHH.0}); real traffic of
# the current hour is in both too, and is not compared (not closed).
# All match: exit 0 and the exact hours and keys checked; a changed
# Redis field, a changed PostgreSQL row, changed totals: non-zero naming
# the key and hour; no redis: skipped; Redis stopped: a clear error.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use POSIX qw(strftime);
use PathStats::Test;

start_nginx(site_conf(name => 'live.test', zone => 'size=1m',
                      reuseport => 0, locations => <<'EOF'), workers => 1);
location = /now  { return 200 "now\n"; }
location /pathstats/ { pathstats_admin; }
EOF

my $pg = start_migrated_postgres();
my $redis = start_redis();

my $conf = write_aggregator_conf('verify', postgres => $pg, redis => $redis,
                                 redis_shards => 1, node_id => 'cli',
                                 zone => zone_file(),
                                 flush_interval => '200ms',
                                 # the scheduler reports verify's result;
                                 # its runs roll nothing of these hours up
                                 lifecycle_grace => '3d');
my $conf_nored = write_aggregator_conf('verify-nored', postgres => $pg,
                                       node_id => 'cli');

# real traffic of the current hour, through the daemon into both stores
my $agg = start_aggregator('-c', $conf);
is(scalar(grep { (http_get('/now'))[0] == 200 } 1 .. 7), 7,
   '7 requests served');
ok(wait_until(sub {
        my $p = redis_paths_sum()->{"live.test\tGET\t/now"};
        pg_requests() == 7 && $p && $p->{requests} == 7 }, 20),
   'the current hour reached PostgreSQL and Redis');

# two closed past hours, three and two hours ago
my $now = time;
my @hours = map { $now - $now % 3600 - $_ * 3600 } 3, 2;
sub tag { strftime('%Y%m%d%H', gmtime $_[0]) . '.0' }
sub iso { strftime('%Y-%m-%dT%H:00:00Z', gmtime $_[0]) }

# per hour, key and node: requests errors bytes_in bytes_out
# latency_sum_us latency_max_us (status: 5xx = errors, the rest 2xx)
my %rows = (
    $hours[0] => {
        "v.test\tGET\t/a"  => { n1 => [10, 1, 100, 1000, 5000, 900],
                                n2 => [20, 2, 200, 2000, 7000, 1200] },
        "v.test\tGET\t/b"  => { n1 => [5, 0, 50, 500, 900, 300] },
        "v.test\tPOST\t/c" => { n1 => [3, 3, 30, 300, 600, 400],
                                n2 => [4, 0, 40, 400, 800, 250] },
    },
    $hours[1] => {
        "v.test\tGET\t/a"   => { n2 => [7, 0, 70, 700, 1400, 500] },
        "w.test\tGET\t/x y" => { n1 => [2, 1, 20, 200, 300, 200],
                                 n2 => [1, 0, 10, 100, 150, 150] },
    },
);

for my $h (@hours) {
    my %tot = map { $_ => 0 } qw(requests errors status_2xx status_5xx
                                  bytes_in bytes_out latency_sum_us
                                  latency_max_us);
    for my $f (sort keys %{ $rows{$h} }) {
        my ($host, $method, $path) = split /\t/, $f;
        my @sum = (0) x 6;
        for my $n (sort keys %{ $rows{$h}{$f} }) {
            my $v = $rows{$h}{$f}{$n};
            psql_query("INSERT INTO pathstats_hourly (hour, host, method, "
                . "path, node_id, requests, errors, status_2xx, status_5xx,"
                . " bytes_in, bytes_out, latency_sum_us, latency_max_us) "
                . "VALUES (to_timestamp($h), '$host', '$method', '$path', "
                . "'$n', $v->[0], $v->[1], " . ($v->[0] - $v->[1])
                . ", $v->[1], $v->[2], $v->[3], $v->[4], $v->[5])");
            $sum[$_] += $v->[$_] for 0 .. 4;
            $sum[5] = $v->[5] if $v->[5] > $sum[5];
        }
        redis_cmd('HSET', 'pathstats:{' . tag($h) . '}:paths', $f, "@sum");
        redis_cmd('ZADD', 'pathstats:{' . tag($h) . '}:top', $sum[0], $f);
        $tot{requests} += $sum[0];
        $tot{errors} += $sum[1];
        $tot{status_2xx} += $sum[0] - $sum[1];
        $tot{status_5xx} += $sum[1];
        $tot{bytes_in} += $sum[2];
        $tot{bytes_out} += $sum[3];
        $tot{latency_sum_us} += $sum[4];
        $tot{latency_max_us} = $sum[5] if $sum[5] > $tot{latency_max_us};
    }
    redis_cmd('HSET', 'pathstats:{' . tag($h) . '}:totals', %tot);
}

sub verify {
    my ($c) = @_;
    return run_aggregator('-c', $c // $conf, 'verify');
}

sub last_result {
    return scalar psql_query("SELECT checked || '/' || mismatches FROM "
                             . "pathstats_lifecycle_runs WHERE kind = "
                             . "'verify' ORDER BY finished_at DESC LIMIT 1");
}

my ($rc, $out, $err) = verify();
is($rc, 0, 'everything matches: verify exits 0') or diag("$out$err");
like($out, qr/^redis\s+hour \Q${\ iso($hours[0])}\E\s+ok \(3 keys\)$/m,
     'the older hour: 3 keys match');
like($out, qr/^redis\s+hour \Q${\ iso($hours[1])}\E\s+ok \(2 keys\)$/m,
     'the newer hour: 2 keys match');
is(scalar(() = $out =~ /^redis\s+hour/mg), 2,
   'exactly the 2 closed hours are compared (not the current one)');
like($out, qr/^verify: redis: 5 keys compared$/m, '5 keys compared');
like($out, qr/^verify: 2 checked, 0 mismatches$/m, '2 checked, 0 mismatches');
is(last_result(), '2/0',
   'the recorded result (consistency) counts the Redis hours');

# one Redis field changed: errors of GET /b in the older hour
my $paths0 = 'pathstats:{' . tag($hours[0]) . '}:paths';
redis_cmd('HSET', $paths0, "v.test\tGET\t/b", '5 1 50 500 900 300');
($rc, $out, $err) = verify();
is($rc, 1, 'a changed Redis field: verify exits 1');
like($out, qr/^redis\s+hour \Q${\ iso($hours[0])}\E\s+MISMATCH: 1 keys differ, first key "v\.test GET \/b": errors redis=1 postgres=0$/m,
     'the mismatch names the hour, the key and the counter') or diag($out);
like($out, qr/^redis\s+hour \Q${\ iso($hours[1])}\E\s+ok/m,
     'the other hour still matches');
like($out, qr/^verify: 2 checked, 1 mismatches$/m, '2 checked, 1 mismatch');
is(last_result(), '2/1', 'the recorded result has the mismatch');
my $sum;
ok(wait_until(sub {
       my ($s, $body) = http_get('/pathstats/api/summary');
       $sum = $s == 200 ? eval { JSON::PP->new->decode($body)->{data} }
                        : undef;
       $sum && ($sum->{consistency}{mismatches} // 0) == 1 }, 45),
   'the daemon\'s /api/summary shows that verify');
is($sum->{consistency}{checked}, 2, '  consistency: 2 checked (the hours)');
redis_cmd('HSET', $paths0, "v.test\tGET\t/b", '5 0 50 500 900 300');
is((verify())[0], 0, 'the field put back: verify exits 0');

# one PostgreSQL row changed: node n2's bytes_out of "w.test GET /x y"
my $row = "hour = to_timestamp($hours[1]) AND node_id = 'n2' AND "
          . "path = '/x y'";
psql_query("UPDATE pathstats_hourly SET bytes_out = bytes_out + 5 "
           . "WHERE $row");
($rc, $out, $err) = verify();
is($rc, 1, 'a changed PostgreSQL row: verify exits 1');
like($out, qr/^redis\s+hour \Q${\ iso($hours[1])}\E\s+MISMATCH: 1 keys differ, first key "w\.test GET \/x y": bytes_out redis=300 postgres=305$/m,
     'the mismatch names the hour, the key and both sums') or diag($out);
psql_query("UPDATE pathstats_hourly SET bytes_out = bytes_out - 5 "
           . "WHERE $row");

# a key only PostgreSQL has, then a status class only the totals hold
psql_query("INSERT INTO pathstats_hourly (hour, host, method, path, node_id,"
           . " requests) VALUES (to_timestamp($hours[1]), 'v.test', 'GET', "
           . "'/late', 'n1', 1)");
($rc, $out, $err) = verify();
is($rc, 1, 'a key only in PostgreSQL: verify exits 1');
like($out, qr/MISMATCH: 1 keys differ, first key "v\.test GET \/late" only in postgres$/m,
     'the key missing from Redis is named') or diag($out);
psql_query("DELETE FROM pathstats_hourly WHERE path = '/late'");

my $totals1 = 'pathstats:{' . tag($hours[1]) . '}:totals';
redis_cmd('HINCRBY', $totals1, 'status_4xx', 1);
($rc, $out, $err) = verify();
is($rc, 1, 'changed totals: verify exits 1');
like($out, qr/^redis\s+hour \Q${\ iso($hours[1])}\E\s+MISMATCH: 1 keys differ, first totals: status_4xx redis=1 postgres=0$/m,
     'the totals counter is named') or diag($out);
redis_cmd('HINCRBY', $totals1, 'status_4xx', -1);
($rc, $out, $err) = verify();
is($rc, 0, 'all put back: verify exits 0') or diag("$out$err");
like($out, qr/^verify: 2 checked, 0 mismatches$/m, 'again 2 checked');

# without redis: the Redis part is skipped and says so
($rc, $out, $err) = verify($conf_nored);
is($rc, 0, 'no redis configured: verify exits 0') or diag("$out$err");
like($out, qr/^redis\s+live hours\s+skipped: no redis configured$/m,
     'the table says the Redis part was skipped');
like($out, qr/^verify: 0 checked, 0 mismatches$/m, 'nothing else checked');

# Redis stopped: a clear error naming the address
stop_aggregator($agg);
my $port = redis_port();
stop_redis();
($rc, $out, $err) = verify();
is($rc, 5, 'Redis unreachable: verify exits 5');
like($err, qr/^verify: redis 127\.0\.0\.1:$port: /m,
     'the error names the address') or diag($err);
unlike($out, qr/^verify: \d+ checked/m, 'no result is claimed');

finish();
