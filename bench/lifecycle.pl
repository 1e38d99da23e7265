#!/usr/bin/perl
# The history lifecycle on a day of KEYS keys x 24 hours (default
# 100 000 x 24 = 2.4 M hourly rows): rollup, archive (gzip CSV, SHA-256,
# read back), drop, then restore --day, each in rows/s, and the archive's
# bytes per row.  Targets (issue 12): rollup + archive <= 60 s, restore
# <= 60 s on the 2-core machine.  See bench/README.md.
#
# One throwaway PostgreSQL (the test harness's settings: shared_buffers
# 16MB); the day is written three days back, straight into its
# partition, with a histogram of two buckets and a one-client HLL per
# row; `lifecycle` runs with hourly_retention 2d, so one run rolls the
# day up, archives it and drops it; the phases' times are the gaps
# between its log events.  Environment: BUILD, KEYS (100000), RUNS (1).

use strict;
use warnings;
use FindBin ();
use lib "$FindBin::Bin/lib";
use PathStatsBench;     # first: it sets PS_BUILD_DIR and PS_KEEP
use PathStats::Test;
use Test::More;
use File::Path qw(make_path rmtree);
use Time::HiRes qw(time);
use Time::Local qw(timegm);

my $KEYS = $ENV{KEYS} // 100000;
my $RUNS = $ENV{RUNS} // 1;

my $pg = start_migrated_postgres();
my $arch = test_dir() . '/archive';
my $today = psql_query("SELECT (now() AT TIME ZONE 'UTC')::date");
my $day = psql_query("SELECT '$today'::date - 3");
(my $part = $day) =~ s/-//g;

sub log_time {
    my ($log, $event) = @_;
    my ($y, $mo, $d, $h, $mi, $s) = $log =~
        /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+(?:\.\d+)?)Z .*event=$event\b/m
        or die "no $event in the log\n";
    return timegm(0, $mi, $h, $d, $mo - 1, $y) + $s;
}

for my $run (1 .. $RUNS) {
    psql_query('TRUNCATE pathstats_daily, pathstats_rollups, '
               . 'pathstats_archives, pathstats_lifecycle_runs');
    rmtree($arch);
    make_path($arch);
    psql_query("DROP TABLE IF EXISTS pathstats_hourly_p$part");
    psql_query("CREATE TABLE pathstats_hourly_p$part PARTITION OF "
               . "pathstats_hourly FOR VALUES FROM ('$day 00:00+00') TO "
               . "('$day 00:00+00'::timestamptz + interval '1 day') "
               . "WITH (fillfactor = 50)");
    my $t0 = time;
    psql_query(<<"EOF_SQL", timeout => 900);
INSERT INTO pathstats_hourly (hour, host, method, path, node_id, requests,
    status_2xx, status_5xx, errors, bytes_in, bytes_out, latency_sum_us,
    latency_max_us, latency_hist, unique_clients, first_seen, last_seen)
SELECT h, 'bench.test', 'GET', '/api/v1/items/' || k || '/detail', 'bench',
       1 + k % 50, 1 + k % 50, k % 3, k % 3, 200 * (k % 7), 1500 * (k % 50),
       900 * (1 + k % 50), 2000 + k % 1000,
       decode('1400050000000' || (1 + k % 7) || '00c8000000' || '02', 'hex'),
       hll_add(hll_empty(), hll_hash_integer(k)), h, h + interval '1 minute'
  FROM generate_series('$day 00:00+00'::timestamptz,
                       '$day 23:00+00'::timestamptz, interval '1 hour') h,
       generate_series(1, $KEYS) k
EOF_SQL
    psql_query("VACUUM ANALYZE pathstats_hourly_p$part", timeout => 600);
    my $rows = psql_query("SELECT count(*) FROM pathstats_hourly_p$part");
    printf "run %d: %d hourly rows written in %.1f s\n", $run, $rows,
           time - $t0;

    my $conf = write_aggregator_conf('bench', postgres => $pg,
                                     node_id => 'bench',
                                     lifecycle_grace => '0',
                                     hourly_retention => '2d',
                                     archive_dir => $arch);
    my $t1 = time;
    my ($rc, $out, $err) = run_aggregator({ timeout => 900 }, '-c', $conf,
                                          'lifecycle');
    my $t2 = time;
    die "lifecycle failed ($rc):\n$out$err" if $rc != 0;

    my $ts = log_time($err, 'lifecycle_started');
    my $tr = log_time($err, 'lifecycle_rolled_up');
    my $ta = log_time($err, 'lifecycle_archived');
    my $td = log_time($err, 'lifecycle_dropped');
    my ($bytes) = $err =~ /event=lifecycle_archived .* bytes=(\d+)/;

    my $t3 = time;
    ($rc, $out, $err) = run_aggregator({ timeout => 900 }, '-c', $conf,
                                       'restore', '--day', $day);
    my $t4 = time;
    die "restore failed ($rc):\n$out$err" if $rc != 0;
    my ($restored) = $out =~ /restored (\d+) rows/;

    printf "run %d: rollup %.1f s (%.0f rows/s), archive %.1f s "
           . "(%.0f rows/s, %.1f bytes/row, %d bytes), drop %.2f s, "
           . "rollup + archive %.1f s, whole lifecycle %.1f s\n",
           $run, $tr - $ts, $rows / ($tr - $ts), $ta - $tr,
           $rows / ($ta - $tr), $bytes / $rows, $bytes, $td - $ta,
           $ta - $ts, $t2 - $t1;
    printf "run %d: restore %.1f s (%.0f rows/s), %d rows\n", $run,
           $t4 - $t3, $restored / ($t4 - $t3), $restored;
}

stop_postgres();
done_testing();
