#!/usr/bin/perl
# /health: 200 only while a valid snapshot is fresh, the aggregator's
# heartbeat is recent and the aggregator reports no problem; otherwise
# 503 with every reason.  pathstats_admin_stale sets the limit.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use PathStats::Test;
use PathStats::Snapshot;

start_nginx(site_conf(name => undef, zone => 'size=1m snapshot=1m',
                      reuseport => 0, record => 0,
                      locations => <<'EOF'), workers => 2);
location /pathstats/ { pathstats_admin; }
location /fast/ { pathstats_admin; pathstats_admin_stale 1s; }
EOF

my $JSON = JSON::PP->new->utf8;

sub health {
    my ($prefix) = @_;
    my ($st, $body) = http_get("/$prefix/health");
    my $d = eval { $JSON->decode($body) } // {};
    return ($st, $d, join(' | ', @{ $d->{reasons} || [] }));
}

sub now_us { int(time * 1e6) }

my @rows = map { { host => 'h', method => 'GET', path => "/p$_",
                   requests => $_ } } 1 .. 3;

my ($st, $d, $why) = health('pathstats');
is($st, 503, 'no snapshot: 503');
is($d->{status}, 'unhealthy', 'no snapshot: unhealthy');
like($why, qr/not published a snapshot/, 'no snapshot: says so');
like($why, qr/never run/, 'no heartbeat: says so');

snapwrite('heartbeat', 0);
publish_snapshot(snapshot_bytes(windows => { '24h' => \@rows },
                                health => '[]'));
($st, $d, $why) = health('pathstats');
is($st, 200, 'fresh snapshot and heartbeat: 200');
is($d->{status}, 'ok', 'status ok');
is_deeply($d->{reasons}, [], 'no reasons');
is($d->{stale_after_seconds}, 10, 'default limit 10 s');
($st, $d) = health('fast');
is_deeply([$st, $d->{stale_after_seconds}], [200, 1],
          'pathstats_admin_stale 1s: healthy while fresh');

# the snapshot ages while nothing is published
sleep 1.5;
snapwrite('heartbeat', 0);
($st, $d, $why) = health('fast');
is($st, 503, 'snapshot older than 1 s: 503');
like($why, qr/^snapshot is stale: 1\.\d{3} s old, the limit is 1000 ms$/,
     'the reason names the age and the limit');
my ($pst, $body) = http_get('/fast/api/paths');
ok($JSON->decode($body)->{metadata}{stale}, 'api/paths says stale:true');
(undef, $body) = http_get('/fast/metrics');
unlike($body, qr/^pathstats_snapshot_stale 1$/m,
       'metrics without the section: no gauge (503)');
($st) = health('pathstats');
is($st, 200, 'the same snapshot is fresh for a 10 s limit');

# an old snapshot, published now
publish_snapshot(snapshot_bytes(windows => { '24h' => \@rows },
                                generated_us => now_us() - 30e6,
                                metrics => "m 1\n"));
($st, $d, $why) = health('pathstats');
is($st, 503, 'snapshot generated 30 s ago: 503');
like($why, qr/snapshot is stale: 30\.\d{3} s old/, 'stale snapshot reason');
(undef, $body) = http_get('/pathstats/metrics');
like($body, qr/^pathstats_snapshot_stale 1$/m, 'metrics: stale gauge 1');
like($body, qr/^pathstats_snapshot_age_seconds 30\.\d{3}$/m,
     'metrics: age 30 s');

# the heartbeat
publish_snapshot(snapshot_bytes(windows => { '24h' => \@rows }));
snapwrite('heartbeat', 5000);
($st, $d, $why) = health('fast');
is($st, 503, 'heartbeat 5 s old, limit 1 s: 503');
my $limit = 'the limit is 1000 ms';
like($why, qr/^aggregator heartbeat is stale: 5\.\d{3} s old, $limit$/,
     'only the heartbeat reason');
ok(abs($d->{aggregator_heartbeat_age_seconds} - 5) < 1,
   'heartbeat age reported');
($st) = health('pathstats');
is($st, 200, 'heartbeat 5 s old, limit 10 s: 200');
snapwrite('heartbeat', 20000);
($st, $d, $why) = health('pathstats');
is($st, 503, 'heartbeat 20 s old: 503');
like($why, qr/^aggregator heartbeat is stale: 20\.\d{3} s old/,
     'heartbeat reason');
snapwrite('heartbeat', -1);
($st, $d, $why) = health('pathstats');
is_deeply([$st, $why], [503, 'the aggregator has never run'],
          'no heartbeat at all');
snapwrite('heartbeat', 0);

# problems the aggregator reports in the snapshot
publish_snapshot(snapshot_bytes(windows => { '24h' => \@rows },
    health => ' [ "postgres: connection refused", "ring 3: 12 dropped" ] '));
($st, $d) = health('pathstats');
is($st, 503, 'aggregator-reported problems: 503');
is_deeply($d->{reasons}, ['postgres: connection refused',
                          'ring 3: 12 dropped'], 'passed through as reasons');
publish_snapshot(snapshot_bytes(windows => { '24h' => \@rows },
                                health => '{"oops":1}'));
($st, $d, $why) = health('pathstats');
is_deeply([$st, $why], [503, 'aggregator health is not a JSON array'],
          'malformed health section');
publish_snapshot(snapshot_bytes(windows => { '24h' => \@rows },
                                health => "[\n]"));
($st) = health('pathstats');
is($st, 200, 'an empty array is healthy');

# an invalid snapshot
publish_snapshot('x' x 100);
($st, $d, $why) = health('pathstats');
is_deeply([$st, $why], [503, 'snapshot invalid: bad snapshot magic'],
          'invalid snapshot reason');

# both stale at once, and both workers agree
publish_snapshot(snapshot_bytes(windows => { '24h' => \@rows },
                                generated_us => now_us() - 60e6));
snapwrite('heartbeat', 60000);
my %seen;
for (1 .. 6) {
    ($st, $d) = health('pathstats');
    $seen{"$st " . scalar @{ $d->{reasons} }}++;
}
is_deeply([keys %seen], ['503 2'], 'stale snapshot and heartbeat: two '
          . 'reasons, from every worker');

# configuration errors name the file and line

my ($rc, $out) = nginx_t(<<'EOF');
http {
    pathstats_zone %%ZONE%%-t size=1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /pathstats/ { pathstats_admin; pathstats_admin_stale 5x; }
    }
}
EOF
isnt($rc, 0, 'nginx -t rejects pathstats_admin_stale 5x');
like($out, qr/"pathstats_admin_stale" directive invalid value in \S+:\d+/,
     '... naming the file and line');
($rc, $out) = nginx_t(<<'EOF');
http {
    server {
        listen 127.0.0.1:%%PORT%%;
        pathstats_admin;
    }
}
EOF
like($out, qr/"pathstats_admin" directive is not allowed here/,
     'pathstats_admin belongs in a location');

finish();
