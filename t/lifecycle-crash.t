#!/usr/bin/perl
# kill -9 of a lifecycle run during an archive and during a drop, then a
# rerun: nothing lost, nothing doubled.  Each day's hourly rows plus the
# rows of its dropped archives are exactly what was written, every
# archive verifies, no temporary file is left.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Path qw(make_path);
use Time::HiRes qw(sleep);
use PathStats::Test;

my $pg = start_migrated_postgres();
my $arch = test_dir() . '/archive';
make_path($arch);

# six past days of 24 x 2500 rows, each day in its own partition
my $today = psql_query("SELECT (now() AT TIME ZONE 'UTC')::date");
for my $ago (1 .. 6) {
    my $d = psql_query("SELECT '$today'::date - $ago");
    (my $p = $d) =~ s/-//g;
    psql_query("CREATE TABLE pathstats_hourly_p$p PARTITION OF "
               . "pathstats_hourly FOR VALUES FROM ('$d 00:00+00') TO "
               . "('$d 00:00+00'::timestamptz + interval '1 day')");
}
psql_query(<<"EOF_SQL", timeout => 120);
INSERT INTO pathstats_hourly (hour, host, method, path, node_id, requests,
    status_2xx, bytes_out, latency_hist)
SELECT h, 'crash.test', 'GET', '/c/' || k, 'n', k % 9 + 1, k % 9 + 1, k,
       decode('14000500000003', 'hex')
  FROM generate_series('$today'::timestamptz - interval '6 days',
                       '$today'::timestamptz - interval '1 hour',
                       interval '1 hour') h,
       generate_series(1, 2500) k
EOF_SQL
my %want = map { $_->[0] => "$_->[1]:$_->[2]" } psql_query(
    "SELECT (hour AT TIME ZONE 'UTC')::date, count(*), sum(requests) FROM "
    . "pathstats_hourly GROUP BY 1");
is(scalar(keys %want), 6, 'six days of 60 000 rows written');

my $conf = write_aggregator_conf('crash', postgres => $pg, node_id => 'c',
                                 lifecycle_grace => '0',
                                 hourly_retention => '3d',
                                 archive_dir => $arch);

# starts a run and kills it with SIGKILL as soon as its log has $event
sub kill_at {
    my ($event) = @_;
    my $h = start_aggregator('-c', $conf, 'lifecycle');
    wait_until(sub { (slurp($h->{stderr}) // '') =~ /event=$event/ }, 60,
               0.005);
    stop_aggregator($h, 'KILL');
    my $log = slurp($h->{stderr}) // '';
    return $log !~ /event=lifecycle_finished/;
}

ok(kill_at('lifecycle_archived'), 'a run killed -9 during its archives');
ok(kill_at('lifecycle_dropped'), 'a run killed -9 during its drops');

my ($rc, $out, $err) = run_aggregator('-c', $conf, 'lifecycle');
is($rc, 0, 'the rerun completes') or diag($out . $err);
($rc, $out, $err) = run_aggregator('-c', $conf, 'lifecycle');
like($out, qr/archived 0 days \(0 rows\), dropped 0 days/,
     '  and a further run has nothing left to do');

# per day: the hourly rows left plus the dropped archives' rows
my %got;
for my $d (sort keys %want) {
    my $h = psql_query("SELECT count(*) || ':' || coalesce(sum(requests), 0)"
                       . " FROM pathstats_hourly WHERE hour >= '$d 00:00+00'"
                       . " AND hour < '$d 00:00+00'::timestamptz + "
                       . "interval '1 day'");
    my $a = psql_query("SELECT coalesce(sum(rows), 0) || ':' || "
                       . "coalesce(sum(requests), 0) FROM pathstats_archives"
                       . " WHERE kind = 'hourly' AND day = '$d' AND "
                       . "dropped_at IS NOT NULL");
    my ($hr, $hq) = split /:/, $h;
    my ($ar, $aq) = split /:/, $a;
    $got{$d} = ($hr + $ar) . ':' . ($hq + $aq);
}
is_deeply(\%got, \%want,
          'every day: hourly rows + dropped archives = what was written');
is(psql_query("SELECT count(DISTINCT (hour AT TIME ZONE 'UTC')::date) FROM "
              . "pathstats_hourly"), 3, '  the three days past 3d dropped');
is(psql_query("SELECT sum(requests) FROM pathstats_daily"),
   psql_query("SELECT sum(split_part(v, ':', 2)::bigint) FROM (VALUES "
              . join(',', map { "('$_')" } values %want) . ") x(v)"),
   '  the daily rollups hold every request once');
is_deeply([glob("$arch/*.tmp")], [], '  no temporary file left');
($rc, $out, $err) = run_aggregator('-c', $conf, 'verify');
is($rc, 0, '  verify: everything matches') or diag($out);
like($out, qr/^verify: 9 checked, 0 mismatches$/m,
     '  6 archives and 3 days\' rollups checked')
    or diag($out);

# a late row into a day whose hourly rows were archived and dropped: its
# rollup is kept, the row goes to a second archive part and is dropped
my ($gone) = sort keys %want;
my $daily = psql_query("SELECT sum(requests) FROM pathstats_daily WHERE "
                       . "day = '$gone'");
psql_query("INSERT INTO pathstats_hourly (hour, host, method, path, "
           . "node_id, requests, status_2xx) VALUES ('$gone 05:00+00', "
           . "'crash.test', 'GET', '/late', 'n', 4, 4)");
($rc, $out, $err) = run_aggregator('-c', $conf, 'lifecycle');
is($rc, 0, 'a late row into a dropped day: the run succeeds')
    or diag($out . $err);
like($out, qr/^rollup $gone skipped: its hourly rows were archived/m,
     '  the day is not rolled up again from the late row alone');
is(psql_query("SELECT sum(requests) FROM pathstats_daily WHERE day = "
              . "'$gone'"), $daily, '  its daily rows are kept');
is(psql_query("SELECT rows || ':' || requests || ':' || (dropped_at IS NOT "
              . "NULL) FROM pathstats_archives WHERE kind = 'hourly' AND "
              . "day = '$gone' AND part = 2"), '1:4:true',
   '  the late row is archived as part 2, then dropped');
ok(-f "$arch/pathstats_hourly_$gone.2.csv.gz", '  in its own file');

finish();
