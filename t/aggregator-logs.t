#!/usr/bin/perl
# The aggregator's log: with log_format = json every line is one JSON
# object with the same fields as the key=value line of the same event
# (numbers as numbers, hostile text intact); the logrotate snippet of
# conf.example rotates log_file with nothing lost (SIGHUP reopens it).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use PathStats::Test;

start_nginx(site_conf(zone => 'size=1m snapshot=1m', locations => <<'EOF'),
location /pathstats/ { pathstats off; pathstats_admin; }
location / { return 500; }
EOF
            workers => 1);
my $dir = test_dir();

# one run in each format: start, an alert on a hostile path, stop
sub run_once {
    my ($format) = @_;
    my $log = "$dir/agg-$format.log";
    my $conf = write_aggregator_conf("agg-$format", zone => zone_file(),
        node_id => 'web-1', snapshot_interval => '100ms',
        log_file => $log, log_format => $format, alert_min_requests => 5);
    my $agg = start_aggregator('-c', $conf);
    parallel_load(clients => 1, requests => 6, path => '/q%22x%5Cy');
    wait_until(sub { (slurp($log) // '') =~ /alert_fired/ }, 10, 0.1);
    is(stop_aggregator($agg), 0, "$format: the aggregator exits cleanly");
    return slurp($log) // '';
}

# key=value text into [event, {key => value}] (quoted values unquoted)
sub parse_text {
    my ($line) = @_;
    my ($ts, $rest) = $line =~ /^(\S+) (.*)$/ or return;
    my %f = (time => $ts);
    while ($rest =~ /(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g) {
        my ($k, $v) = ($1, $2);
        $v = JSON::PP->new->allow_nonref->decode($v) if $v =~ /^"/;
        $f{$k} = $v;
    }
    return \%f;
}

my $text = run_once('text');
my $json = run_once('json');

my ($objs, $bad) = decode_json_lines($json);
is_deeply($bad, [], 'json: every line is one JSON object');
cmp_ok(scalar @$objs, '>=', 4, scalar(@$objs) . ' lines');
ok(!grep({ !defined $_->{time} || !defined $_->{level}
           || !defined $_->{event} } @$objs),
   'json: each has time, level and event');
my @first = keys %{ $objs->[0] };
is((grep { $_ eq 'time' } @first) ? 'time' : '', 'time', 'time first');

my @tlines = map { parse_text($_) } split /\n/, $text;
for my $ev (qw(start alert_fired stop)) {
    my ($t) = grep { ($_->{event} // '') eq $ev } @tlines;
    my ($j) = grep { $_->{event} eq $ev } @$objs;
    ok($t && $j, "event=$ev in both formats") or next;
    is_deeply([sort keys %$j], [sort keys %$t], "  the same fields");
}
my ($fired) = grep { $_->{event} eq 'alert_fired' && $_->{scope} eq 'path' }
              @$objs;
is($fired->{path}, '/q"x\\y', 'a hostile path: quote and backslash intact');
is($fired->{value}, 1, 'its value 1');
like($json, qr/"event":"alert_fired","id":\d+,.*"value":1,/,
     'numbers are JSON numbers');
like($json, qr/"event":"start","version":"[^"]+","pid":\d+,/,
     'a version stays a string');
my ($start) = grep { $_->{event} eq 'start' } @$objs;
is($start->{node_id}, 'web-1', 'start: node_id');

# logrotate with the snippet of conf.example: the path, owner and the
# signal adapted to the test
SKIP: {
    skip 'logrotate not installed', 6 unless -x '/usr/sbin/logrotate';
    my $log = "$dir/rot.log";
    my $conf = write_aggregator_conf('rot', zone => zone_file(),
                                     log_file => $log);
    my $agg = start_aggregator('-c', $conf);
    ok(wait_until(sub { (slurp($log) // '') =~ /event=start/ }, 10, 0.1),
       'the aggregator logs to its file');

    my $snippet = slurp(repo_dir()
                        . '/conf.example/pathstats-aggregator.logrotate');
    my ($user, $group) = (scalar getpwuid($<), scalar getgrgid($( + 0));
    $snippet =~ s{/var/log/pathstats/\*\.log}{$log} or die;
    $snippet =~ s{su pathstats adm}{su $user $group} or die;
    $snippet =~ s{create 0640 pathstats adm}{create 0640 $user $group}
        or die;
    $snippet =~ s{postrotate\n.*?endscript}
                 {postrotate\n\t\tkill -HUP $agg->{pid}\n\tendscript}s
        or die;
    spew("$dir/logrotate.conf", $snippet);
    my ($rc, $out, $err) = run_cmd(['/usr/sbin/logrotate', '--force',
                                    '--state', "$dir/logrotate.state",
                                    "$dir/logrotate.conf"]);
    is($rc, 0, 'logrotate --force rotates with the snippet') or diag($err);
    like(slurp("$log.1") // '', qr/event=start/,
         'the old lines in aggregator.log.1');
    ok(wait_until(sub { (slurp($log) // '') =~ /event=log_reopened/ }, 10,
                  0.1), 'the new file gets the lines after the SIGHUP');
    unlike(slurp($log) // '', qr/event=start/, '  and only those');
    is(stop_aggregator($agg), 0, 'the aggregator exits cleanly');
}

finish();
