#!/usr/bin/perl
# The spool's disk fills up: what cannot be kept is counted and reported,
# never silently lost.
#
# 1. A real full disk: the spool lives on a 2 MB tmpfs with spool_max far
#    above it.  PostgreSQL stops and long distinct paths fill the disk
#    (ENOSPC): /health is 503 and says the spool cannot write and why,
#    /api/summary and /metrics show the spool, nginx keeps answering, and
#    once the rings fill it drops and counts.  PostgreSQL back: the spool
#    is replayed, the delta held in memory is flushed, and PostgreSQL has
#    exactly the served requests minus nginx's counted drops.
# 2. spool_max reached before the disk: the flushes that do not fit are
#    dropped and counted; /health, /api/summary and /metrics say how many
#    requests were lost, and PostgreSQL has exactly the rest.
#
# Needs root (mount -t tmpfs).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use Time::HiRes qw(sleep time);
use PathStats::Test;

my $dir = test_dir();
my $fs = "$dir/spoolfs";
my $owner = $$;
my $mounted = 0;

plan skip_all => 'needs root to mount a tmpfs' if $> != 0;
mkdir $fs or die "mkdir $fs: $!";
system('mount', '-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', $fs);
plan skip_all => "cannot mount a tmpfs on $fs (mount exited " . ($? >> 8)
                 . ')' if $? != 0;
$mounted = 1;

END {
    if ($mounted && $$ == $owner) {
        local ($?, $!, $@);
        PathStats::Test::cleanup();     # the aggregator writes in $fs
        system('umount', $fs) == 0
            or system('umount', '-l', $fs) == 0
            or warn "umount $fs failed\n";
    }
}

# 512k over 8 rings: 2048 units of 32 bytes per ring, 1024 records of
# this test (2 units each), filled in a second of this load
start_nginx(site_conf(name => 'spoolfull.test',
                      zone => 'size=512k snapshot=4m',
                      locations => <<'EOF'), workers => 2);
location /pathstats/ { pathstats off; pathstats_admin; }
location = /a   { return 200 "a\n"; }
location /big/  { pathstats_normalize off; return 200 "big\n"; }
EOF

my $JSON = JSON::PP->new->utf8;
my $pg = start_migrated_postgres();

my @args = ('--zone', zone_file(), '--postgres', $pg, '--flush-interval',
            '100ms', '--node-id', 'spoolfull-1');
spew("$dir/disk.conf", "spool_dir = $fs/disk\nspool_max = 64m\n");
spew("$dir/max.conf", "spool_dir = $fs/max\nspool_max = 1m\n");

sub db_total {
    my $v = eval { psql_query('SELECT coalesce(sum(requests), 0) FROM '
                              . 'pathstats_hourly') };
    return $v // -1;
}

sub api {
    my ($path) = @_;
    my ($st, $body) = http_get("/pathstats/$path");
    return ($st, eval { $JSON->decode($body) } // {}, $body // '');
}

sub health {
    my ($st, $d) = api('health');
    return ($st, join(' | ', @{ $d->{reasons} || [] }));
}

sub pg_sink {
    my (undef, $d) = api('api/summary');
    my ($s) = grep { $_->{name} eq 'postgres' }
              @{ $d->{data}{pipeline}{sinks} || [] };
    return $s // {};
}

sub metric {
    my ($name) = @_;
    my (undef, undef, $body) = api('metrics');
    return $body =~ /^\Q$name\E\{sink="postgres"\} (\d+)$/m ? $1 : undef;
}

sub log_of { slurp($_[0]{stderr}) // '' }

# requests the spool counted as lost (event=spool_full ... dropped_total)
sub spool_lost {
    my @n = log_of($_[0]) =~ /event=spool_full .*?dropped_total=(\d+)/g;
    return $n[-1] // 0;
}

sub segments { scalar(my @s = glob("$_[0]/*.seg")) }

sub totals { zone_stats()->{totals} }

sub drained {
    my $t;
    wait_until(sub { $t = totals(); $t->{in_ring} == 0 }, 15, 0.1);
    return $t;
}

# long distinct paths: letters only, so that nothing normalizes them
my $long = 'x' x 240;
my $batch = 0;
sub long_load {
    my ($clients, $requests) = @_;
    my $b = ++$batch;
    my ($n, $res) = parallel_load(
        clients => $clients, requests => $requests,
        path => sub { my ($c, $i) = @_;
                      my $k = join '', map { chr(97 + $_) } split //,
                              sprintf('%02d%d%05d', $b, $c, $i);
                      "/big/$k/$long" });
    return ($n, $res->{failures});
}

my $served = 0;
my $t0 = time;

# 1. the disk fills before spool_max ------------------------------------

my $agg = start_aggregator('-c', "$dir/disk.conf", @args);
ok(wait_until(sub { log_of($agg) =~ /event=sink_ready/ }, 10),
   'started with the spool on a 2 MB tmpfs, spool_max 64m');
$served += parallel_load(clients => 2, requests => 50, paths => ['/a']);
ok(wait_until(sub { db_total() == $served }, 10), "$served requests in "
   . 'PostgreSQL');

# every flush is a segment first (the write-ahead log), removed once
# applied: the snapshot that shows it gone can come a flush after the rows
my $sp;
ok(wait_until(sub { $sp = pg_sink()->{spool};
                    $sp && $sp->{max_bytes} && $sp->{segments} == 0
                    && (metric('pathstats_spool_segments') // -1) == 0 }, 10),
   'summary: the postgres sink has a spool object, its segments applied');
is_deeply($sp, { segments => 0, bytes => 0, max_bytes => 64 << 20,
                 dropped_requests => 0, corrupt_segments => 0,
                 full => JSON::PP::false, last_error => undef },
          '  empty, 64 MiB, nothing lost, no error');
is(metric('pathstats_spool_segments'), 0, 'metrics: spool segments 0');
is((health())[0], 200, 'health: 200');

stop_postgres(mode => 'fast');
my ($full, $fails) = (0, 0);
for (1 .. 8) {
    my ($n, $f) = long_load(4, 500);
    $served += $n;
    $fails += $f;
    $full = log_of($agg) =~ /event=spool_write_failed .*No space left/;
    last if $full;
}
ok($full, "the tmpfs filled up after $served requests: "
   . 'event=spool_write_failed ... No space left on device');
unlike(log_of($agg), qr/event=spool_full/, '  before spool_max: nothing '
       . 'dropped by the spool');

my ($st, $why);
ok(wait_until(sub { ($st, $why) = health();
                    $why =~ /spool of sink postgres cannot write/ }, 5),
   'health reports the spool error') or diag("$st $why");
is($st, 503, '  status 503');
my $enospc = 'No space left on device';
like($why, qr/cannot write: \w+ [0-9a-f]{16}\.tmp: \Q$enospc\E/,
     '  with its cause');
like($why, qr/sink postgres is down/, '  and the sink is down');
$sp = pg_sink()->{spool} // {};
like($sp->{last_error} // '', qr/: \Q$enospc\E$/,
     'summary: spool.last_error says why');
ok($sp->{segments} > 0 && $sp->{bytes} > 1_000_000,
   "  $sp->{segments} segments, $sp->{bytes} bytes on the full disk");
ok(!$sp->{full} && $sp->{dropped_requests} == 0, '  nothing dropped');
is(metric('pathstats_spool_segments'), $sp->{segments},
   'metrics: pathstats_spool_segments');
ok((metric('pathstats_spool_bytes') // 0) > 1_000_000,
   'metrics: pathstats_spool_bytes');
is(metric('pathstats_sink_up'), 0, 'metrics: pathstats_sink_up 0');

# nothing is released now: the rings fill and nginx drops, and counts
my ($n, $f) = long_load(4, 800);
$served += $n;
$fails += $f;
is($fails, 0, "nginx answered every request ($served) while the disk was "
   . 'full');
my $t = totals();
ok($t->{dropped} > 0, "the rings filled: nginx dropped $t->{dropped} and "
   . 'counted them');
ok(PathStats::Test::pid_alive($agg->{pid}), 'the daemon is alive')
    or diag(log_of($agg));

# fixed: PostgreSQL is back
start_postgres();
$t = drained();
my $drops = $t->{dropped} + $t->{lost} + $t->{no_ring};
my $want = $served - $drops;
ok(wait_until(sub { db_total() >= $want }, 20, 0.2), 'PostgreSQL back: '
   . 'the spool is replayed and the delta flushed');
sleep 0.5;                  # a late double count would show up now
is(db_total(), $want, "PostgreSQL SUM = served $served - nginx drops "
   . "$drops (spool dropped 0)");
is($t->{consumed}, $t->{recorded} - $t->{lost},
   '  consumed = recorded - lost');
ok(wait_until(sub { segments("$fs/disk") == 0 }, 10), '  the spool is empty');
ok(wait_until(sub { (health())[0] == 200 }, 5), 'health: 200 again')
    or diag((health())[1]);
$sp = pg_sink()->{spool} // {};
ok($sp->{segments} == 0 && !defined $sp->{last_error},
   'summary: spool empty, no error');
is(metric('pathstats_spool_dropped_requests_total'), 0,
   'metrics: pathstats_spool_dropped_requests_total 0');
is(stop_aggregator($agg), 0, 'SIGTERM exits 0');
my $t1 = time - $t0;

# 2. spool_max is reached before the disk --------------------------------

$agg = start_aggregator('-c', "$dir/max.conf", @args);
ok(wait_until(sub { log_of($agg) =~ /event=sink_ready/ }, 10),
   'restarted with spool_max 1m on the same tmpfs');
stop_postgres(mode => 'fast');

# load until the spool's last write was dropped (a small flush may still
# fit after a larger one did not): it is full now
my $lost;
($full, $fails) = (0, 0);
for (1 .. 10) {
    my ($n, $f) = long_load($full ? 1 : 4, $full ? 100 : 500);
    $served += $n;
    $fails += $f;
    drained();
    sleep 0.3;                          # the last flush
    $lost = spool_lost($agg);
    # a snapshot published since
    wait_until(sub { $sp = pg_sink();
                     ($sp->{spool}{dropped_requests} // -1) == $lost
                     && $sp->{lag_records} == 0 }, 5, 0.1);
    $full = $sp->{spool}{full};
    last if $full;
}
ok($full, 'the spool is full: its last write was dropped');
is($fails, 0, '  nginx answered every request');
($st, $why) = health();
is($st, 503, 'health: 503');
ok($lost > 0, "event=spool_full: $lost requests lost");
like($why, qr/spool of sink postgres is full: $lost requests lost/,
     '  health says how many');
$sp = pg_sink()->{spool} // {};
ok($sp->{full} && $sp->{dropped_requests} == $lost
   && $sp->{bytes} <= $sp->{max_bytes} && $sp->{max_bytes} == 1 << 20,
   "summary: spool full, $lost dropped_requests, within max_bytes")
    or diag(explain $sp);
is(metric('pathstats_spool_dropped_requests_total'), $lost,
   'metrics: pathstats_spool_dropped_requests_total');
unlike(log_of($agg), qr/event=spool_write_failed/, '  no disk error');

start_postgres();
$t = drained();
$drops = $t->{dropped} + $t->{lost} + $t->{no_ring};
$want = $served - $drops - $lost;
ok(wait_until(sub { db_total() >= $want }, 20, 0.2), 'PostgreSQL back: '
   . 'replayed');
sleep 0.5;
is(db_total(), $want, "PostgreSQL SUM = served $served - nginx drops "
   . "$drops - spool dropped $lost");
ok(wait_until(sub { (health())[0] == 200 }, 5),
   'health: 200 again once the spool is replayed') or diag((health())[1]);
is(metric('pathstats_spool_dropped_requests_total'), $lost,
   'metrics: the counter keeps its value');
is(stop_aggregator($agg), 0, 'SIGTERM exits 0');
note(sprintf('disk full part %.1f s, spool_max part %.1f s', $t1,
             time - $t0 - $t1));

finish();
