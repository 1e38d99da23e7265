#!/usr/bin/perl
# Long lifecycle commands show their progress on a terminal (issue 12):
# with stderr a terminal (script(1)'s pty) archive, restore, backup
# --full, verify and lifecycle end with one progress line (rows, rows/s,
# and for restore the total and ETA) rewritten in place and ended with a
# newline, its count exact; with stderr a pipe nothing of it is written
# and the output is what it was.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Path qw(make_path);
use Time::HiRes qw(time);
use PathStats::Test;

my $pg = start_migrated_postgres();
my $dir = test_dir();
my $arch = "$dir/archive";
make_path($arch);

my $today = psql_query("SELECT (now() AT TIME ZONE 'UTC')::date");
my @days = map { scalar psql_query("SELECT '$today'::date - $_") } 3, 2;

# two past days of 24 hours x 50 paths: 1200 rows a day
psql_query(<<"EOF_SQL");
INSERT INTO pathstats_hourly (hour, host, method, path, node_id, requests,
    status_2xx, errors, bytes_in, bytes_out, latency_sum_us,
    latency_max_us, latency_hist, unique_clients, first_seen, last_seen)
SELECT h, 'prog.test', 'GET', '/p' || p, 'n1', 10 + p, 10 + p, 0, 7 * p,
       1000 + p, 100 * p, 50,
       decode('14000500000001' || '0064000000' || lpad(to_hex(p), 2, '0'),
              'hex'),
       hll_add(hll_empty(), hll_hash_integer(p)), h,
       h + interval '59 minutes'
  FROM generate_series('$days[0]'::timestamptz,
                       '$days[1]'::timestamptz + interval '23 hours',
                       interval '1 hour') h,
       generate_series(1, 50) p
EOF_SQL
is(psql_query('SELECT count(*) FROM pathstats_hourly'), 2400,
   '2400 hourly rows over two past days');

my $conf = write_aggregator_conf('prog', postgres => $pg, node_id => 'cli',
                                 lifecycle_grace => '0',
                                 archive_dir => $arch);
my $bin = aggregator_path();

# on a pty: script(1) runs the command with stdout and stderr on it
sub on_tty {
    my ($args) = @_;
    my $t0 = time;
    my ($rc, $out, $err) = run_cmd(['script', '-qec', "$bin -c $conf $args",
                                    '/dev/null'], chdir => $dir,
                                   timeout => 60);
    PathStats::Test::check_sanitizer("aggregator $args (pty)", $out);
    return ($rc, $out, time - $t0);
}

# the progress lines of a pty's output: each drawn after "\r", up to the
# erase to the end of the line
sub draws {
    my ($out, $what) = @_;
    return $out =~ /\r(\Q$what\E: [^\r\n]*?)\e\[K/g;
}

sub at_most_4_a_second {
    my ($n, $secs, $what) = @_;
    ok($n >= 1 && $n <= 2 + 4 * $secs,
       "$what: $n draws in " . sprintf('%.1f', $secs) . ' s (at most 4/s)');
}

# archive --day: the rows of the day, exactly
my ($rc, $out, $secs) = on_tty("archive --day $days[0]");
is($rc, 0, 'archive on a pty exits 0') or diag($out);
my @d = draws($out, 'archive');
like($d[-1] // '', qr/^archive: 1200 rows, \d+ rows\/s$/,
     'the last progress line: 1200 rows and the rate') or diag(explain(\@d));
like($out, qr/\e\[K\r?\n/, 'ended with a newline');
at_most_4_a_second(scalar @d, $secs, 'archive');
like($out, qr/pathstats_hourly_\Q$days[0]\E\.csv\.gz: 1200 rows/,
     'the result line is there too');

# the same through pipes: no progress at all
my ($err);
($rc, $out, $err) = run_aggregator('-c', $conf, 'archive', '--day',
                                   $days[1]);
is($rc, 0, 'archive through pipes exits 0');
unlike($err, qr/rows\/s|\r|\e\[/, 'a pipe: no progress on stderr');
unlike($out, qr/rows\/s|\r|\e\[/, '  nor on stdout');
like($out, qr/^\S+_\Q$days[1]\E\.csv\.gz: 1200 rows, \d+ bytes, sha256 [0-9a-f]{64}$/m,
     '  stdout has the result line as before');

# restore --day --replace: the total is known, so the share and the ETA
($rc, $out, $secs) = on_tty("restore --day $days[0] --replace");
is($rc, 0, 'restore on a pty exits 0') or diag($out);
@d = draws($out, 'restore');
like($d[-1] // '', qr/^restore: 1200\/1200 rows \(100%\), \d+ rows\/s, ETA 0:00$/,
     'the last line: 1200 of 1200 rows, ETA 0:00') or diag(explain(\@d));
at_most_4_a_second(scalar @d, $secs, 'restore');
like($out, qr/restored 1200 rows from 1 file/, 'the result line');
($rc, $out, $err) = run_aggregator('-c', $conf, 'restore', '--day',
                                   $days[1], '--replace');
is($rc, 0, 'restore through pipes exits 0') or diag($err);
unlike("$out$err", qr/rows\/s|\r|\e\[/, 'a pipe: no progress');

# backup --full: the rows of every table exported
($rc, $out, $secs) = on_tty("backup --full $dir/backup");
is($rc, 0, 'backup on a pty exits 0') or diag($out);
my ($rows) = $out =~ /backup: \d+ files, (\d+) rows/;
@d = draws($out, 'backup');
like($d[-1] // '', qr/^backup: \Q${\ ($rows \/\/ -1)}\E rows, \d+ rows\/s$/,
     "the last line: the $rows rows the backup wrote")
    or diag(explain(\@d));
ok($rows && $rows >= 2400, 'every hourly row is in it');

# lifecycle: rolls up the two days (a row per key and node: 50 a day)
($rc, $out, $secs) = on_tty('lifecycle');
is($rc, 0, 'lifecycle on a pty exits 0') or diag($out);
@d = draws($out, 'lifecycle');
like($d[-1] // '', qr/^lifecycle: \d+ rows, \d+ rows\/s$/,
     'lifecycle ends with its progress line') or diag($out);
is(psql_query('SELECT count(*) FROM pathstats_daily'), 100,
   'the two days rolled up (50 keys each)');

# verify: archives' rows and rollups' keys checked
($rc, $out, $secs) = on_tty('verify');
is($rc, 0, 'verify on a pty exits 0') or diag($out);
@d = draws($out, 'verify');
like($d[-1] // '', qr/^verify: \d+ rows, \d+ rows\/s$/,
     'verify ends with its progress line') or diag($out);
like($out, qr/verify: \d+ checked, 0 mismatches/, 'and its result');
($rc, $out, $err) = run_aggregator('-c', $conf, 'verify');
is($rc, 0, 'verify through pipes exits 0');
unlike("$out$err", qr/rows\/s|\r|\e\[/, 'a pipe: no progress');

finish();
