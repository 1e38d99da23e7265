#!/usr/bin/perl
# Nothing lost, nothing doubled while PostgreSQL is away: with spool_dir
# set, every flush goes to the disk spool first (a write-ahead log), the
# rings keep draining, and the spool is applied to PostgreSQL in order,
# exactly once, as soon as it answers: after an outage under load, after
# the daemon is killed with SIGKILL during the outage and restarted
# before PostgreSQL is back, after a crash between a replay's COMMIT and
# the removal of its segments with PostgreSQL down at restart (skipped at
# replay), and, with a spool too small, everything but the requests the
# daemon counted and logged as lost (event=spool_full).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use PathStats::Test;

start_nginx(site_conf(name => 'spool.test',
                      locations => <<'EOF'), workers => 2);
location = /a   { return 200 "a\n"; }
location = /b   { return 404; }
location /c/    { return 500; }
location /big/  { pathstats_normalize off; return 200 "big\n"; }
EOF

my $pg = start_migrated_postgres();

my $dir = test_dir();
my $spool = "$dir/spool";
spew("$dir/spool.conf", "spool_dir = $spool\nspool_max = 64m\n");
spew("$dir/tiny.conf", "spool_dir = $dir/tiny\nspool_max = 1m\n");

my @args = ('--zone', zone_file(), '--postgres', $pg, '--flush-interval',
            '100ms', '--node-id', 'spool-1');
my @paths = ('/a', '/b', '/c/1', '/c/2', '/a?q=1');

sub segments {
    my ($d) = @_;
    opendir my $dh, $d or return 0;
    my $n = grep { /^[0-9a-f]{16}\.seg$/ } readdir $dh;
    closedir $dh;
    return $n;
}

sub in_ring { zone_stats()->{totals}{in_ring} }

my $total = 0;

# 1. PostgreSQL stops under load: the rings keep draining into the spool
my $agg = start_aggregator('-c', "$dir/spool.conf", @args);
ok(wait_until(sub { (slurp($agg->{stderr}) // "") =~ /event=pipeline_started/ }, 10),
   'started with a spool');
my $load = start_load(clients => 3, requests => 1200,
                      path => sub { my ($c, $i) = @_;
                                    sleep 0.001;     # a few seconds of load
                                    $paths[($c + $i) % @paths] });
sleep 0.5;
stop_postgres(mode => 'immediate');
my $c1 = zone_stats()->{totals}{consumed};
sleep 1;
my $s = zone_stats();
ok($s->{totals}{consumed} > $c1, "PostgreSQL down: consumed keeps advancing "
   . "($c1 -> $s->{totals}{consumed})");
ok(segments($spool) > 0, '  into spool segments');
my $res = $load->wait;
is($res->{failures}, 0, 'load: no client failures');
$total += $res->{responses};
ok(wait_until(sub { in_ring() == 0 }, 10),
   '  the rings are drained while PostgreSQL is down');
ok(PathStats::Test::pid_alive($agg->{pid}), 'the daemon survives the outage')
    or diag(slurp($agg->{stderr}));
start_postgres();
is_pg_requests($total, "PostgreSQL back: exactly $total requests");
ok(wait_until(sub { segments($spool) == 0 }, 10), '  the spool is empty');
like(slurp($agg->{stderr}), qr/event=spool_replayed/, '  it was replayed');

# 2. SIGKILL during the outage with a spool on disk, restart, then
#    PostgreSQL comes back
stop_postgres(mode => 'fast');
my $n = parallel_load(clients => 2, requests => 100, paths => \@paths);
$total += $n;
ok(wait_until(sub { in_ring() == 0 }, 10), "$n more spooled");
ok(segments($spool) > 0, '  segments on disk');
stop_aggregator($agg, 'KILL');
$n = parallel_load(clients => 2, requests => 40, paths => \@paths);
$total += $n;
is(in_ring(), $n, "$n wait in the rings while no daemon runs");
$agg = start_aggregator('-c', "$dir/spool.conf", @args);
ok(wait_until(sub { (slurp($agg->{stderr}) // "") =~ /event=spool_standin/ }, 10),
   'restarted with PostgreSQL down: the spool stands in');
ok(wait_until(sub { in_ring() == 0 }, 10), '  and reading goes on');
start_postgres();
is_pg_requests($total, "PostgreSQL back: exactly $total requests, none doubled");
ok(wait_until(sub { segments($spool) == 0 }, 10), '  the spool is empty');
my $st = zone_stats();
ok(wait_until(sub {
    psql_query("SELECT sum(committed_pos) FROM pathstats_watermark WHERE "
               . "node_id = 'spool-1'") == $st->{totals}{head} }, 5),
   'watermarks equal the released ring positions (head)');
is(stop_aggregator($agg), 0, 'SIGTERM exits 0');

# 3. the daemon dies right after a replay's COMMIT, before it removes
#    the segments it applied, and restarts while PostgreSQL is down: the
#    segments are skipped at the next replay, whose watermarks show them
#    applied
$agg = start_aggregator({ env => { PATHSTATS_TEST_CRASH_AFTER_COMMIT => 1 } },
                        '-c', "$dir/spool.conf", @args);
ok(wait_until(sub { (slurp($agg->{stderr}) // "") =~ /event=sink_ready/ }, 10),
   'started with the crash-after-commit test hook');
$n = parallel_load(clients => 2, requests => 60, paths => \@paths);
ok(wait_until(sub { !PathStats::Test::pid_alive($agg->{pid}) }, 10),
   '  it died right after its first COMMIT');
is(stop_aggregator($agg), 1, '  exit 1 (event=test_crash_after_commit)');
my $committed = pg_requests() - $total;
$total += $n;
ok($committed > 0, "  $committed records committed");
ok(segments($spool) > 0, '  their segments still in the spool');
$n = parallel_load(clients => 2, requests => 15, paths => \@paths);
$total += $n;
stop_postgres(mode => 'fast');
$agg = start_aggregator('-c', "$dir/spool.conf", @args);
ok(wait_until(sub { (slurp($agg->{stderr}) // "") =~ /event=spool_standin/ },
              10), 'restarted with PostgreSQL down: the spool stands in')
    or diag(slurp($agg->{stderr}));
$n = parallel_load(clients => 2, requests => 40, paths => \@paths);
$total += $n;
ok(wait_until(sub { in_ring() == 0 }, 10), "  $n more, and the rings drain");
start_postgres();
is_pg_requests($total, "PostgreSQL back: exactly $total requests, the "
               . "committed segments not counted again");
ok(wait_until(sub { segments($spool) == 0 }, 10), '  the spool is empty');
like(slurp($agg->{stderr}) // '', qr/event=spool_replayed .*applied=already/,
     '  the applied segments were skipped');
unlike(slurp($agg->{stderr}) // '', qr/event=spool_overlap/,
       '  no segment straddled a watermark');
is(stop_aggregator($agg), 0, 'SIGTERM exits 0');

# 4. a spool too small: what does not fit is counted and logged, the
#    rest is exact
$agg = start_aggregator('-c', "$dir/tiny.conf", @args);
ok(wait_until(sub { (slurp($agg->{stderr}) // "") =~ /event=sink_ready/ }, 10),
   'restarted with a 1 MB spool');
stop_postgres(mode => 'fast');
my $long = 'x' x 240;
$n = parallel_load(clients => 4, requests => 1200,
                   path => sub { my ($c, $i) = @_;
                                 my $k = join '', map { chr(97 + $_) }
                                         split //, sprintf('%d%05d', $c, $i);
                                 "/big/$k/$long" });
$total += $n;
ok(wait_until(sub { in_ring() == 0 }, 15), "$n long-path requests drained");
ok(wait_until(sub { (slurp($agg->{stderr}) // "") =~ /event=spool_full/ }, 5),
   'the spool filled up: event=spool_full');
my @drops = (slurp($agg->{stderr}) // "") =~ /event=spool_full .*?dropped_total=(\d+)/g;
my $lost = $drops[-1] // 0;
ok($lost > 0 && $lost < $n, "$lost requests counted as lost");
start_postgres();
is_pg_requests($total - $lost, "PostgreSQL back: exactly the served "
               . "requests minus the $lost counted as lost");
ok(wait_until(sub { segments("$dir/tiny") == 0 }, 10), '  the spool is empty');
is(stop_aggregator($agg), 0, 'SIGTERM exits 0');

finish();
