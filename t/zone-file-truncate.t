#!/usr/bin/perl
# A zone file truncated under a running nginx (issue 10, finding 1): the
# workers used to die with SIGBUS on their next request, and every
# worker respawned in their place died again in init_process, a crash
# loop.  Now every request is still served and counted in no_ring, a
# worker that finds the zone short at start-up (respawned) records
# nothing instead of dying, a reload is refused with the file named, and
# the aggregator refuses the file; no nginx process exits on a signal
# but the one the test kills.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

my $zone = zone_file();

start_nginx(<<'EOF', workers => 2);
http {
    pathstats_zone %%ZONE%% size=1m snapshot=64k;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /app/ { pathstats on; return 200 "ok\n"; }
        location /pathstats/ { pathstats_admin; }
    }
}
EOF

is(http_get_n('/app/before/', 10, timeout => 3), 10,
   '10 requests before the truncation');
my $s = zone_stats();
is($s->{totals}{recorded}, 10, '  all 10 recorded');
is($s->{totals}{no_ring}, 0, '  none in no_ring');
my $size = -s $zone;

# the file shrinks to its header page, as in the issue's reproduction
truncate($zone, 4096) or die "truncate $zone: $!";
is(-s $zone, 4096, "the zone is truncated from $size to 4096 bytes");

my @workers = worker_pids();
is(http_get_n('/app/after/', 40, timeout => 3), 40,
   '40 requests after it: all answered 200');
is_deeply([worker_pids()], \@workers, '  by the same two workers');
is(zone_field('no_ring'), 40, '  and all 40 counted in no_ring');

my $log = slurp(error_log_path()) // '';
my @lost = $log =~ /\[alert\].*pathstats:\ zone\ file\ "\Q$zone\E"\ is\ now
                    \ 4096\ bytes,\ \d+\ of\ them\ allocated,\ where\ $size
                    \ were\ validated.*worker\ (\d+)
                    \ records\ nothing\ more/xg;
ok(@lost >= 1 && @lost <= 2, 'each worker that met the missing pages '
   . 'said so once (' . scalar(@lost) . ' [alert])');
unlike($log, qr/exited on signal/, '  and no worker died');

# a respawned worker finds the file short in init_process
my $victim = $workers[0];
kill 'KILL', $victim;
ok(wait_until(sub { my @w = worker_pids();
                    @w == 2 && !grep { $_ == $victim } @w }, 10),
   "worker $victim killed: the master respawned it");
my ($new) = grep { $_ != $workers[1] } worker_pids();
ok(wait_until(sub { (slurp(error_log_path()) // '')
                    =~ /is now 4096 bytes.*worker $new records nothing/ },
              5), "  the new worker $new says the zone is short at start-up");
is(http_get_n('/app/respawn/', 20, timeout => 3), 20,
   '  20 more requests answered');
sleep 1;
is_deeply([worker_pids()], [sort { $a <=> $b } $new, $workers[1]],
          '  and no worker was respawned again: no crash loop');
is(zone_field('no_ring'), 60, '  no_ring is 60');

my ($st, $body) = http_get('/pathstats/health');
is($st, 503, '/health is 503');
like($body, qr/zone file shrank|has not published/, '  saying why');

# a reload validates the file again, and refuses it
my $mark = length(slurp(error_log_path()) // '');
kill 'HUP', master_pid();
ok(wait_until(sub {
       substr(slurp(error_log_path()) // '', $mark)
           =~ /\[emerg\].*pathstats\ zone\ file\ "\Q$zone\E"\ is\ unusable:
               \ file\ is\ shorter\ than\ its\ header\ says\ \(truncated\)
               \ \(4096\ bytes/x
   }, 10), 'a reload is refused: [emerg] naming the file and why');
sleep 0.5;
is_deeply([worker_pids()], [sort { $a <=> $b } $new, $workers[1]],
          '  the workers keep running');
is(http_get_n('/app/reload/', 10, timeout => 3), 10, '  and serving');
is(zone_field('no_ring'), 70, '  no_ring is 70');

# the aggregator refuses the file too
my ($rc, $out, $err) = run_aggregator('--zone', $zone, '--stats');
is($rc, 3, 'the aggregator refuses the truncated zone: exit 3');
like($err, qr/event=zone_open_failed .*shorter than its header says/,
     '  saying it is truncated');

# a new nginx refuses to start on it
my ($trc, $tout) = nginx_t(<<'EOF');
http {
    pathstats_zone %%ZONE%% size=1m snapshot=64k;
    server { listen 127.0.0.1:%%PORT%%; location / { pathstats on; } }
}
EOF
isnt($trc, 0, 'nginx -t refuses the truncated zone');
like($tout, qr/\[emerg\].*"\Q$zone\E"\ is\ unusable:\ file\ is\ shorter
               \ than\ its\ header\ says.*remove\ it\ and\ restart\ nginx/x,
     '  naming the file, the reason and what to do');

stop_nginx();
$log = slurp(error_log_path()) // '';
unlike($log, qr/exited on signal (?!9\b)/,
       'no nginx process exited on any signal but the SIGKILL');

finish(allow => [qr/worker process $victim exited on signal 9/,
                 qr/pathstats: zone file "\Q$zone\E" is now 4096 bytes/,
                 qr/\[emerg\].*"\Q$zone\E" is unusable: file is shorter/]);
