#!/usr/bin/perl
# The history lifecycle on a real PostgreSQL (issue 12), with hourly rows
# of past days written directly: rollups equal the sums of their hourly
# rows key by key (histograms merged, clients unioned), are idempotent,
# and fold in a late flush; archives (gzip CSV + manifest + SHA-256)
# restore to identical rows; retention drops exactly the days past the
# limit and only once their archives verify; verify names a flipped byte
# and a changed row; a second node holding the lock runs nothing.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Path qw(make_path);
use PathStats::Test;

my $pg = start_migrated_postgres();
my $dir = test_dir();
my $arch = "$dir/archive";
make_path($arch);

my $today = psql_query("SELECT (now() AT TIME ZONE 'UTC')::date");
sub day { scalar psql_query("SELECT '$today'::date - $_[0]") }

# ten past days: 24 hours x 20 paths x 2 nodes; days 10..6 in partitions
# of their own, days 5..1 in the DEFAULT partition (no partition made)
for my $ago (6 .. 10) {
    my $d = day($ago);
    (my $p = $d) =~ s/-//g;
    psql_query("CREATE TABLE pathstats_hourly_p$p PARTITION OF "
               . "pathstats_hourly FOR VALUES FROM ('$d 00:00+00') TO "
               . "('$d 00:00+00'::timestamptz + interval '1 day')");
}
psql_query(<<"EOF_SQL");
INSERT INTO pathstats_hourly (hour, host, method, path, node_id, requests,
    status_2xx, status_5xx, errors, bytes_in, bytes_out, latency_sum_us,
    latency_max_us, latency_hist, unique_clients, first_seen, last_seen)
SELECT h, 'life.test', 'GET', '/p' || p || ',"q"', 'n' || n,
       10 + p + n + extract(hour FROM h)::int,
       9 + p + n + extract(hour FROM h)::int, 1, 1, 7 * p,
       1000 + p * n + extract(day FROM h)::int,
       100 * p, 50 + extract(hour FROM h)::int,
       decode('1400050000000' || (n + 1) || '0064000000'
              || lpad(to_hex(p + 1), 2, '0'), 'hex'),
       hll_add(hll_empty(), hll_hash_integer(extract(hour FROM h)::int)),
       h, h + interval '59 minutes'
  FROM generate_series('$today'::timestamptz - interval '10 days',
                       '$today'::timestamptz - interval '1 hour',
                       interval '1 hour') h,
       generate_series(1, 20) p, generate_series(1, 2) n
EOF_SQL
is(psql_query('SELECT count(*) FROM pathstats_hourly'), 240 * 40,
   '9600 hourly rows over ten past days');
my $requests = psql_query('SELECT sum(requests) FROM pathstats_hourly');

my $conf = write_aggregator_conf('life', postgres => $pg, node_id => 'cli',
                                 lifecycle_grace => '0',
                                 hourly_retention => '4d');
my $conf_arch = write_aggregator_conf('life-arch', postgres => $pg,
                                      node_id => 'cli',
                                      lifecycle_grace => '0',
                                      hourly_retention => '4d',
                                      daily_retention => '8d',
                                      archive_dir => $arch);

# the per-key comparison of a day's rollup with its hourly rows
my $cmp = <<'EOF_SQL';
WITH h AS (SELECT (hour AT TIME ZONE 'UTC')::date AS day, host, method, path,
                  node_id, sum(requests) r, sum(status_2xx) s2,
                  sum(errors) e, sum(bytes_in) bi, sum(bytes_out) bo,
                  sum(latency_sum_us) ls, max(latency_max_us) lm,
                  count(*) hours, min(first_seen) fs, max(last_seen) ls2
             FROM pathstats_hourly GROUP BY 1, 2, 3, 4, 5)
SELECT count(*) FILTER (WHERE d.day IS NULL OR h.day IS NULL
         OR (h.r, h.s2, h.e, h.bi, h.bo, h.ls, h.lm, h.hours, h.fs, h.ls2)
            IS DISTINCT FROM (d.requests, d.status_2xx, d.errors,
            d.bytes_in, d.bytes_out, d.latency_sum_us, d.latency_max_us,
            d.hours, d.first_seen, d.last_seen)), count(*)
  FROM h FULL JOIN pathstats_daily d USING (day, host, method, path, node_id)
EOF_SQL

# 1. the plan changes nothing
my ($rc, $out, $err) = run_aggregator('-c', $conf, 'lifecycle', '--dry-run');
is($rc, 0, 'lifecycle --dry-run: exit 0') or diag($err);
is(scalar(() = $out =~ /^rollup \d{4}-\d\d-\d\d \(new\)$/mg), 10,
   '  plans the rollup of the ten closed days') or diag($out . $err);
is(psql_query('SELECT count(*) FROM pathstats_daily'), 0,
   '  and rolls up nothing');

# 2. rollups: exact per key, histograms merged, clients unioned
($rc, $out, $err) = run_aggregator('-c', $conf, 'lifecycle');
is($rc, 0, 'lifecycle: exit 0') or diag($out . $err);
like($out, qr/^done: rolled up 10 days \(9600 hourly rows\), archived 0/m,
     '  10 days, 9600 hourly rows rolled up');
like($out, qr/no archive_dir: nothing archived or dropped/,
     '  without archive_dir nothing is archived or dropped');
is(join(',', @{ (psql_query($cmp))[0] }), '0,400',
   '  400 daily rows (10 days x 40 keys), none differing from its hours');
is(psql_query('SELECT sum(requests) FROM pathstats_daily'), $requests,
   '  requests: the daily total is the hourly total');
is(psql_query("SELECT encode(latency_hist, 'hex') FROM pathstats_daily "
              . "WHERE path = '/p3,\"q\"' AND node_id = 'n2' AND day = '"
              . day(4) . "'"),
   '14000500000048006400000060',
   '  histograms merged: 24 x (3 at 5 us) and 24 x (4 at 100 us)');
is(psql_query("SELECT DISTINCT hll_cardinality(unique_clients) "
              . "FROM pathstats_daily"), 24,
   '  unique clients: the 24 hours\' sketches unioned');
like($err, qr/event=lifecycle_rolled_up day=\S+ hourly_rows=960 /,
     '  event=lifecycle_rolled_up logged');

# idempotent: forgetting the rollups and running again gives identical rows
my $digest = "SELECT md5(string_agg(d::text, '|' ORDER BY day, path, "
             . "node_id)) FROM (SELECT day, host, method, path, node_id, "
             . "requests, status_2xx, errors, bytes_in, bytes_out, "
             . "latency_sum_us, latency_max_us, latency_hist, "
             . "unique_clients::text, first_seen, last_seen, hours "
             . "FROM pathstats_daily) d";
my $before = psql_query($digest);
($rc, $out, $err) = run_aggregator('-c', $conf, 'lifecycle');
like($out, qr/^done: rolled up 0 days/m, 'a second run finds nothing to do');
psql_query('DELETE FROM pathstats_rollups');
($rc, $out, $err) = run_aggregator('-c', $conf, 'lifecycle');
like($out, qr/^done: rolled up 10 days/m, 'rollups forgotten: all redone');
is(psql_query($digest), $before, '  into identical rows');

# a late flush into a rolled-up day is folded in
my $d5 = day(5);
psql_query("UPDATE pathstats_hourly SET requests = requests + 7, "
           . "status_2xx = status_2xx + 7 WHERE path = '/p1,\"q\"' AND "
           . "node_id = 'n1' AND hour = '$d5 13:00+00'");
psql_query("INSERT INTO pathstats_hourly (hour, host, method, path, node_id,"
           . " requests, status_2xx) VALUES ('$d5 23:00+00', 'life.test', "
           . "'GET', '/late', 'n1', 5, 5)");
($rc, $out, $err) = run_aggregator('-c', $conf, 'lifecycle');
like($out, qr/^rollup $d5 \(hourly rows changed since\)$/m,
     'a late flush: its day is rolled up again');
is(join(',', @{ (psql_query($cmp))[0] }), '0,401',
   '  exact again, with the new key');
is(psql_query('SELECT sum(requests) FROM pathstats_daily'), $requests + 12,
   '  the 12 late requests are in the daily total');
$requests += 12;

# 3. archives, retention: days older than 4 days go, once archived
my $d8 = day(8);
my $rows_digest = sub {
    my ($d) = @_;
    return psql_query("SELECT count(*) || ':' || coalesce(md5("
                      . "string_agg(h::text, '|' ORDER BY hour, path, "
                      . "node_id)), '') FROM (SELECT "
                      . "hour, host, method, path, node_id, requests, "
                      . "status_2xx, status_5xx, errors, bytes_in, "
                      . "bytes_out, latency_sum_us, latency_max_us, "
                      . "latency_hist, unique_clients::text, first_seen, "
                      . "last_seen, updated_at FROM pathstats_hourly WHERE "
                      . "hour >= '$d 00:00+00' AND hour < '$d 00:00+00'::"
                      . "timestamptz + interval '1 day') h");
};
my $day8 = $rows_digest->($d8);
like($day8, qr/^960:/, "day $d8 has 960 hourly rows");

($rc, $out, $err) = run_aggregator('-c', $conf_arch, 'lifecycle');
is($rc, 0, 'lifecycle with archive_dir: exit 0') or diag($out . $err);
like($out, qr/archived 12 days \(9681 rows\), dropped 8 days \(5841 rows\)/m,
     '  10 hourly and 2 daily days archived; 6 hourly and 2 daily dropped')
    or diag($out);
my @left = map { $_->[0] } psql_query(
    "SELECT DISTINCT (hour AT TIME ZONE 'UTC')::date FROM pathstats_hourly "
    . "ORDER BY 1");
is_deeply(\@left, [map { day($_) } 4, 3, 2, 1],
          '  exactly the days within hourly_retention (4d) keep hourly rows');
is(psql_query("SELECT count(*) FROM pg_class WHERE relname ~ "
              . "'^pathstats_hourly_p[0-9]'"), 0,
   '  the old days\' partitions are dropped');
is(psql_query("SELECT count(*) FROM pathstats_archives WHERE kind = "
              . "'hourly' AND verified_at IS NOT NULL"), 10,
   '  pathstats_archives: ten verified hourly archives');
is(psql_query("SELECT count(*) FROM pathstats_archives WHERE dropped_at "
              . "IS NOT NULL"), 8,
   '  eight of them (6 hourly, 2 daily) dropped');
is(psql_query("SELECT string_agg(day::text, ',' ORDER BY day) FROM "
              . "pathstats_daily WHERE day < '$today'::date - 8"), undef,
   '  daily rows older than daily_retention (8d) archived and deleted');
ok(-f "$arch/pathstats_hourly_$d8.csv.gz"
   && -f "$arch/pathstats_hourly_$d8.csv.gz.manifest.json",
   '  the archive and its manifest are in archive_dir');
my $manifest = slurp("$arch/pathstats_hourly_$d8.csv.gz.manifest.json");
like($manifest, qr/"rows": 960/, '  the manifest: 960 rows');
like($manifest, qr/"sha256": "[0-9a-f]{64}"/, '  its SHA-256');

# archive -> drop -> restore gives back identical rows
($rc, $out, $err) = run_aggregator('-c', $conf_arch, 'restore', '--day',
                                   $d8);
is($rc, 0, "restore --day $d8: exit 0") or diag($err);
like($out, qr/^restored 960 rows from 1 file$/m, '  960 rows restored');
is($rows_digest->($d8), $day8, '  identical to the rows before the drop');
($rc, $out, $err) = run_aggregator('-c', $conf_arch, 'restore',
                                   "$arch/pathstats_hourly_$d8.csv.gz");
isnt($rc, 0, 'restoring it again is refused');
like($err, qr/already holds 960 rows of $d8: restoring .* twice/,
     '  as it would count them twice');
is($rows_digest->($d8), $day8, '  nothing changed');
($rc, $out, $err) = run_aggregator('-c', $conf_arch, 'restore', '--replace',
                                   "$arch/pathstats_hourly_$d8.csv.gz");
is($rc, 0, '  --replace restores it in place') or diag($err);
is($rows_digest->($d8), $day8, '  still identical');

# a daily archive restores too
my $d10 = day(10);
($rc, $out, $err) = run_aggregator('-c', $conf_arch, 'restore',
                                   "$arch/pathstats_daily_$d10.csv.gz");
is($rc, 0, 'a daily archive restores') or diag($err);
like($out, qr/^restored 40 rows from 1 file$/m, '  its 40 rows');

# 4. verify: everything matches, then a flipped byte, then a changed row
($rc, $out, $err) = run_aggregator('-c', $conf_arch, 'verify');
is($rc, 0, 'verify: exit 0') or diag($out . $err);
like($out, qr/^verify: \d+ checked, 0 mismatches$/m, '  0 mismatches');
like($out, qr/^rollup\s+pathstats_daily $d8\s+ok \(40 keys\)$/m,
     '  the restored day\'s rollup checked against its hourly rows');

my $victim = "$arch/pathstats_hourly_" . day(9) . ".csv.gz";
my $bytes = slurp($victim);
substr($bytes, 100, 1) = chr(ord(substr($bytes, 100, 1)) ^ 0x01);
spew($victim, $bytes);
($rc, $out, $err) = run_aggregator('-c', $conf_arch, 'verify');
isnt($rc, 0, 'a flipped byte: verify fails');
like($out, qr/MISMATCH: \Q$victim\E/, '  naming the file');
like($out, qr/^verify: \d+ checked, 1 mismatches$/m, '  one mismatch');
substr($bytes, 100, 1) = chr(ord(substr($bytes, 100, 1)) ^ 0x01);
spew($victim, $bytes);

my $d2 = day(2);
psql_query("UPDATE pathstats_daily SET requests = requests + 1 WHERE "
           . "day = '$d2' AND path = '/p4,\"q\"' AND node_id = 'n2'");
($rc, $out, $err) = run_aggregator('-c', $conf_arch, 'verify');
isnt($rc, 0, 'a changed row in pathstats_daily: verify fails');
like($out, qr/^rollup\s+pathstats_daily $d2\s+MISMATCH: 1 keys differ .*\/p4/m,
     '  naming the day and the path');
psql_query("UPDATE pathstats_daily SET requests = requests - 1 WHERE "
           . "day = '$d2' AND path = '/p4,\"q\"' AND node_id = 'n2'");

# retention waits for a verified archive: a corrupt one keeps the day
my $d4 = day(4);
my $a4 = "$arch/pathstats_hourly_$d4.csv.gz";
$bytes = slurp($a4);
substr($bytes, 50, 1) = chr(ord(substr($bytes, 50, 1)) ^ 0x80);
spew($a4, $bytes);
my $conf3 = write_aggregator_conf('life-3d', postgres => $pg,
                                  node_id => 'cli', lifecycle_grace => '0',
                                  hourly_retention => '3d',
                                  daily_retention => '0',
                                  archive_dir => $arch);
($rc, $out, $err) = run_aggregator('-c', $conf3, 'lifecycle');
isnt($rc, 0, 'hourly_retention 3d with a corrupt archive: the run fails');
like($err, qr/event=lifecycle_failed step=drop day=$d4 error=.*\Q$a4\E/,
     '  the drop fails, naming the archive');
like($rows_digest->($d4), qr/^960:/, "  $d4 keeps its 960 hourly rows");
is($rows_digest->($d8), '0:', "  $d8 (restored, archived) is dropped again");
spew($a4, do { substr($bytes, 50, 1) = chr(ord(substr($bytes, 50, 1))
                                               ^ 0x80); $bytes });
($rc, $out, $err) = run_aggregator('-c', $conf3, 'lifecycle');
is($rc, 0, '  the archive repaired, the next run drops it')
    or diag($out . $err);
like($out, qr/dropped 1 days \(960 rows\)/,
     '  the day is dropped') or diag($out);
is($rows_digest->($d4), '0:', "  $d4 has no hourly rows left");

# two nodes at the lifecycle hour: the one without the lock runs nothing
my $psql = PathStats::Test::spawn(
    ['psql', '-X', '-q', '-d', $pg, '-c',
     "SELECT pg_advisory_lock(x'7065746873746175'::bigint); "
     . "SELECT pg_sleep(20)"],
    stdout => "$dir/lock.out", stderr => "$dir/lock.err");
ok(wait_until(sub {
       psql_query("SELECT count(*) FROM pg_locks WHERE locktype = "
                  . "'advisory' AND granted") > 0 }, 10),
   'another session holds the lifecycle lock');
psql_query('DELETE FROM pathstats_rollups');
($rc, $out, $err) = run_aggregator('-c', $conf3, 'lifecycle');
is($rc, 0, '  lifecycle on this node: exit 0');
like($out, qr/another node runs the lifecycle now: nothing done/,
     '  and does nothing');
is(psql_query('SELECT count(*) FROM pathstats_rollups'), 0,
   '  no rollup ran');
kill 'TERM', $psql;
PathStats::Test::wait_pid($psql, 10);

# 5. backup --full, restored into a fresh database: row for row the same
my $bdir = "$dir/backup";
($rc, $out, $err) = run_aggregator('-c', $conf3, 'backup', '--full', $bdir);
is($rc, 0, 'backup --full: exit 0') or diag($err);
my $hourly_files = psql_query("SELECT count(DISTINCT (hour AT TIME ZONE "
                              . "'UTC')::date) FROM pathstats_hourly");
like($out, qr/^backup: @{[ $hourly_files + 6 ]} files, \d+ rows in /m,
     "  a file per hourly day ($hourly_files) and six whole tables");
my @files = sort glob("$bdir/*.csv.gz");
is(scalar(@files), $hourly_files + 6, '  all in the directory');
is(scalar(grep { -f "$_.manifest.json" } @files), scalar(@files),
   '  each with its manifest');

psql_query('CREATE DATABASE fresh');
(my $fresh = $pg) =~ s/dbname=postgres/dbname=fresh/;
($rc, $out, $err) = run_aggregator('--postgres', $fresh, '--migrate');
is($rc, 0, 'a fresh database migrated') or diag($err);
my $conf_fresh = write_aggregator_conf('fresh', postgres => $fresh,
                                       node_id => 'cli');
($rc, $out, $err) = run_aggregator('-c', $conf_fresh, 'restore', @files);
is($rc, 0, '  restore of every file of the backup: exit 0') or diag($err);
for my $t (qw(pathstats_hourly pathstats_daily pathstats_rollups
              pathstats_archives pathstats_watermark pathstats_nodes
              pathstats_lifecycle_runs)) {
    my $q = "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, "
            . "'|' ORDER BY t::text)), '') FROM $t t";
    my $want = psql_query($q);
    is(psql_query($q, conninfo => $fresh), $want,
       "  $t: row for row the same ($want)");
}
($rc, $out, $err) = run_aggregator('-c', $conf_fresh, 'restore', $files[0]);
isnt($rc, 0, '  restoring a file again is refused');
like($err, qr/would count them twice/, '  as a double count');

finish();
