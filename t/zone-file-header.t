#!/usr/bin/perl
# The zone header as hostile input (issue 10, finding 3).  The header
# check used to add offsets that wrap (rings_off = 2^64 - 0x30000 passed,
# and the first request wrote 64 KiB before the mapping: SIGSEGV), and
# nginx's ring claim and the aggregator's ring, slot and snapshot
# accessors re-read the layout from the file, so a writer of the file
# could have request records written over the zone header.  Now a
# wrapping header is refused by nginx and the aggregator, and a header
# rewritten while both run changes nothing: a respawned worker records
# into its real ring, the aggregator reads from the rings and writes the
# snapshot where the file was when they validated it, and every request
# is counted once.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use PathStats::Test;

my $zone = zone_file();
my $JSON = JSON::PP->new->utf8;

my $conf = <<'EOF';
http {
    pathstats_zone %%ZONE%% size=256k snapshot=64k rings=4;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /app/ { pathstats on; return 200 "ok\n"; }
        location /pathstats/ { pathstats_admin; }
    }
}
EOF

# the fields a rewrite targets, to put back
my @FIELDS = qw(ring_count ring_capacity ring_desc_off rings_off rings_size
                snapshot_off snapshot_size buf_off0 buf_off1 buf_size
                layout_version);

sub save_header { return { map { $_ => zone_field($_) } @FIELDS } }

sub restore_header {
    my ($h) = @_;
    zone_field($_, $h->{$_}) for @FIELDS;
}


# 1. a header whose offsets wrap around 2^64

my ($rc, $out) = nginx_t($conf);
is($rc, 0, 'nginx -t makes a fresh zone') or diag($out);
my $good = save_header();

my @wraps = (
    [ 'rings_off = 2^64 - 0x30000', rings_off => 2**64 - 0x30000,
      'out of bounds' ],
    [ 'ring_desc_off = 2^64 - 4096', ring_desc_off => 2**64 - 4096,
      'ring descriptors out of bounds' ],
    [ 'snapshot_size = 2^64 - 4096', snapshot_size => 2**64 - 4096,
      'snapshot area out of bounds' ],
    [ 'buf_off1 = 2^64 - 4096', buf_off1 => 2**64 - 4096,
      'snapshot buffers out of bounds' ],
    [ 'rings_off 64 bytes off its page', rings_off => $good->{rings_off} + 64,
      'not page aligned' ],
    [ 'a zone of layout 1 (512-byte records)', layout_version => 1,
      'the file has layout 1 (512-byte records' ],
    [ 'a zone of layout 2 (8-byte upstream times)', layout_version => 2,
      'the file has layout 2 (an 8-byte upstream time' ],
);
for my $w (@wraps) {
    my ($what, $field, $value, $reason) = @$w;
    restore_header($good);
    zone_field($field, $value);
    ($rc, $out) = nginx_t($conf);
    isnt($rc, 0, "$what: nginx -t refuses the zone");
    like($out, qr/\[emerg\].*pathstats\ zone\ file\ "\Q$zone\E"\ is\ unusable:
                  \ [^(]*\Q$reason\E/x,
         "  [emerg] naming the file: $reason");
    my ($arc, undef, $aerr) = run_aggregator('--zone', $zone, '--stats');
    is($arc, 3, '  the aggregator refuses it too (exit 3)');
    like($aerr, qr/event=zone_open_failed .*\Q$reason\E/, '  for that reason');
}
restore_header($good);


# 2. the header rewritten under a running nginx and aggregator

start_nginx($conf, workers => 2);
spew(test_dir() . '/agg.conf', "zone = $zone\nsnapshot_interval = 100ms\n");
my $agg = start_aggregator('-c', test_dir() . '/agg.conf');
ok(wait_until(sub { zone_field('snapshot_version') > 0 }, 10),
   'the aggregator publishes snapshots');
is(http_get_n('/app/before/', 10, timeout => 3), 10,
   '10 requests before the rewrite');

my $magic = zone_field('magic');
my @rewrite = (
    rings_off => 0,                            # rings over the header
    ring_desc_off => 0,                        # descriptors over it too
    ring_count => 1024,
    ring_capacity => 2**31,
    buf_off0 => 0, buf_off1 => 0,              # snapshots over it too
    buf_size => 2**40,
);
for (my $i = 0; $i < @rewrite; $i += 2) {
    zone_field($rewrite[$i], $rewrite[$i + 1]);
}
is(zone_field('rings_off'), 0, 'the header rewritten: rings, descriptors '
   . 'and snapshot buffers all at offset 0, 1024 rings of 2^31');

# a worker that starts now claims a ring after the rewrite
my ($victim) = worker_pids();
kill 'KILL', $victim;
ok(wait_until(sub { my @w = worker_pids();
                    @w == 2 && !grep { $_ == $victim } @w }, 10),
   "worker $victim killed and respawned");

is(http_get_n('/app/after/', 40, timeout => 3), 40,
   '40 requests after the rewrite: all 200');
my $v0 = zone_field('snapshot_version');
ok(wait_until(sub { zone_field('snapshot_version') >= $v0 + 3 }, 10),
   'the aggregator keeps publishing snapshots');

is(zone_field('magic'), $magic, 'the zone magic is intact: no record and '
   . 'no snapshot was written over the header');
is(zone_field('rings_off'), 0, '  nor over the rewritten fields');
my $head = slurp($zone);
unlike(substr($head, 0, 4096), qr{/app/}, '  no request path in the '
       . 'header page');

my ($st, $body) = http_get('/pathstats/api/paths?window=1m&limit=200');
my $d = eval { $JSON->decode($body // '') } // {};
is($st, 200, '/api/paths is served from the snapshot');
my %req;
$req{ $_->{path} } += $_->{requests} for @{ $d->{data} || [] };
my $sum = 0;
$sum += $req{$_} for grep { m{^/app/} } keys %req;
ok(wait_until(sub {
       ($st, $body) = http_get('/pathstats/api/paths?window=1m&limit=200');
       $d = eval { $JSON->decode($body // '') } // {};
       %req = ();
       $req{ $_->{path} } += $_->{requests} for @{ $d->{data} || [] };
       $sum = 0;
       $sum += $req{$_} for grep { m{^/app/} } keys %req;
       $sum == 50;
   }, 10), "  counting every request once: $sum of 50");

is(stop_aggregator($agg), 0, 'the aggregator stops cleanly');
like(slurp($agg->{stderr}) // '', qr/event=start/, '  it had started');

# the header put back: everything is in the real rings
restore_header($good);
my $s = zone_stats();
is($s->{totals}{seen}, 50, 'header restored: 50 requests seen');
is($s->{totals}{recorded}, 50, '  50 recorded');
is($s->{totals}{consumed}, 50, '  50 consumed by the aggregator');
is($s->{totals}{lost} + $s->{totals}{dropped} + $s->{totals}{no_ring}, 0,
   '  none lost, dropped or unrecorded');

# a reload with a rewritten header is refused
zone_field('rings_off', 2**64 - 0x30000);
my $mark = length(slurp(error_log_path()) // '');
my @workers = worker_pids();
kill 'HUP', master_pid();
ok(wait_until(sub {
       substr(slurp(error_log_path()) // '', $mark)
           =~ /\[emerg\].*"\Q$zone\E" is unusable: [^(]*out of bounds/
   }, 10), 'a reload meets the rewritten header: [emerg], refused');
is(http_get_n('/app/reload/', 10, timeout => 3), 10,
   '  the running workers keep recording');
is_deeply([worker_pids()], \@workers, '  unchanged');
restore_header($good);
is(zone_stats()->{totals}{recorded}, 60, '  into their real rings (60)');

stop_nginx();
finish(allow => [qr/worker process $victim exited on signal 9/,
                 qr/\[emerg\].*"\Q$zone\E" is unusable: [^(]*out of bounds/]);
