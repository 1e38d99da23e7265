#!/usr/bin/perl
# The dashboard in headless Chromium with 10 000 paths in the snapshot
# (targets: first render <= 300 ms after the HTML arrives, one refresh
# cycle <= 50 ms of script).  See bench/README.md.
#
# One throwaway nginx (one worker) and one pathstats-aggregator in the
# embedded mode (no PostgreSQL, no Redis), on 127.0.0.1; Debian's
# Chromium through t/lib/browser.mjs (the test suite's driver, same
# flags: nothing leaves the machine, every request passes its
# interception).
#
# 1. fill: one request each to /fill/00000 .. /fill/<PATHS-1>, 100
#    pipelined a write; then wait until /api/paths counts PATHS.
# 2. page weight: every file of the page as served (bytes, and gzip -6
#    bytes as nginx's gzip would send them).
# 3. first render, RUNS times: load the page in a fresh tab state (the
#    browser's cache is bypassed: every run fetches and compiles the
#    files anew) and read, in the page, the time from the HTML's last
#    byte (Navigation Timing responseEnd) to the marks the dashboard
#    sets after the frame that shows
#      - its first screen: header, summary cards, alerts and the paths
#        table of 50 rows (one summary and one paths request);
#      - all of it: the trends, top clients, pipeline and /health's
#        word on the banner too (two requests more);
#    and of that, the time until its script was loaded and started.
#    Also the CPU time the whole browser spent on the load: every
#    process of Chromium and of the driver (/proc utime + stime, with
#    that of exited children), from before the navigation to the
#    complete render; unlike the wall-clock figures, other jobs on the
#    machine barely move it.  A build without the first-screen mark
#    (before it) shows "-" there.
# 4. refresh, RUNS times: the renderer's script time (CDP
#    Performance.getMetrics ScriptDuration) across exactly one of the
#    dashboard's own refresh cycles (four API calls, every panel
#    redrawn), with nothing else evaluated in the page meanwhile; and
#    the cycle's wall time as the page measured it (network included).
#
# Each figure: the median of RUNS, with its range (min - max).
#
# Environment: BUILD (build directory, default <repo>/build), PATHS
# (10000), RUNS (7), KEEP (1 keeps the directory).

use strict;
use warnings;

use FindBin ();
use Cwd qw(abs_path);

my $REPO;

BEGIN {
    $REPO = abs_path("$FindBin::Bin/..");
    $ENV{PS_BUILD_DIR} = abs_path($ENV{BUILD} // "$REPO/build")
                         // ($ENV{BUILD} // "$REPO/build");
    $ENV{PS_KEEP} = 1 if $ENV{KEEP};
}

use lib "$FindBin::Bin/../t/lib";
use PathStats::Test;
use PathStats::Browser;
use lib "$FindBin::Bin/lib";
use PathStatsBench;
use IO::Compress::Gzip qw(gzip $GzipError);
use POSIX ();
use JSON::PP ();
use Time::HiRes qw(time sleep);

$| = 1;

my $PATHS = $ENV{PATHS} // 10000;
my $RUNS = $ENV{RUNS} // 7;
my $JSON = JSON::PP->new->utf8;

start_nginx(<<'EOF', workers => 1);
http {
    pathstats_zone %%ZONE%% size=64m snapshot=32m rings=2;

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name bench.test;
        keepalive_requests 1000000;

        location /pathstats/ { pathstats_admin; }
        location /fill/ {
            pathstats on;
            pathstats_normalize off;
            return 200 "f\n";
        }
    }
}
EOF

my $agg = start_aggregator('--zone', zone_file());

# 1. fill

my $t0 = time;
my $c = ka_new(port('nginx'));
for (my $i = 0; $i < $PATHS; $i += 100) {
    my $n = $PATHS - $i < 100 ? $PATHS - $i : 100;
    my @r = ka_pipeline($c, map { sprintf '/fill/%05d', $i + $_ } 0 .. $n - 1);
    die "fill: status $r[0]\n" if grep { $_ != 200 } @r;
}
ka_close($c);
my $total = wait_until(sub {
    my ($st, $body) = http_get('/pathstats/api/paths?limit=1');
    my $d = eval { $JSON->decode($body) } // {};
    my $t = $d->{pagination}{total} // 0;
    return $t == $PATHS ? $t : 0;
}, 60) or die "the snapshot never held $PATHS paths\n";
printf "fill: %d paths in the snapshot after %.1f s\n", $total, time - $t0;

# 2. page weight

# the page and the files it names
my (undef, $page) = http_get('/pathstats/');
my %seen;
my @files = grep { !$seen{$_}++ } 'index.html',
    $page =~ /\s(?:href|src)="([\w.-]+\.(?:js|css|svg))"/g;
my ($bytes, $gz) = (0, 0);
for my $f (@files) {
    my ($st, $body) = http_get('/pathstats/' . ($f eq 'index.html' ? '' : $f));
    die "$f: $st\n" unless $st == 200;
    gzip(\$body => \my $z, -Level => 6) or die "gzip: $GzipError\n";
    $bytes += length $body;
    $gz += length $z;
}
printf "page weight: %d files, %d bytes (%.1f KB), %d bytes gzipped\n",
       scalar @files, $bytes, $bytes / 1024, $gz;

# 3. first render

sub summary {
    my ($name, $unit, @v) = @_;
    @v = sort { $a <=> $b } @v;
    my $med = @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
    printf "%-34s median %7.1f %s  range %.1f - %.1f  (%d runs: %s)\n",
           $name, $med, $unit, $v[0], $v[-1], scalar @v,
           join(' ', map { sprintf '%.1f', $_ } @v);
    return $med;
}

# CPU milliseconds of process $root and everything under it, the
# children it reaped included
sub tree_cpu_ms {
    my ($root) = @_;
    my (%parent, %ticks);
    for my $stat (glob '/proc/[0-9]*/stat') {
        open(my $fh, '<', $stat) or next;
        my $line = <$fh> // next;
        close $fh;
        my ($pid, $rest) = $line =~ /^(\d+) \(.*\) (.*)$/s or next;
        my @f = split ' ', $rest;      # from field 3, the state
        $parent{$pid} = $f[1];
        $ticks{$pid} = $f[11] + $f[12] + $f[13] + $f[14];
    }
    my $sum = 0;
    for my $pid (keys %ticks) {
        my $p = $pid;
        $p = $parent{$p} while $p && $p != $root && $parent{$p};
        $sum += $ticks{$pid} if $p && $p == $root;
    }
    return $sum * 1000 / POSIX::sysconf(POSIX::_SC_CLK_TCK());
}

# the time from the HTML's last byte to a mark (undef without it)
sub since_html {
    my ($b, $mark) = @_;
    return $b->js(qq{(() => {
        const m = performance.getEntriesByName('$mark');
        const nav = performance.getEntriesByType('navigation')[0];
        return m.length ? m[0].startTime - nav.responseEnd : null; })()});
}

my $b = start_browser(width => 1280, height => 900);
my (@screen, @first, @modules, @cpu);
for my $run (1 .. $RUNS) {
    # a new document each time, its files fetched again (not from the
    # memory cache: no-cache makes the browser revalidate, and the query
    # string differs)
    my $cpu0 = tree_cpu_ms($b->{pid});
    $b->goto("./?run=$run");
    $b->wait(q{performance.getEntriesByName('pathstats-first-render')
               .length}, 20);
    push @cpu, tree_cpu_ms($b->{pid}) - $cpu0;
    push @screen, since_html($b, 'pathstats-first-screen') // ();
    push @first, since_html($b, 'pathstats-first-render');
    push @modules, since_html($b, 'pathstats-start');
}
my $rows = $b->js(q{document.querySelectorAll('#paths-body tr').length});
die "the table shows $rows rows, not 50\n" unless $rows == 50;
my $first = @screen ? summary('first render: the first screen', 'ms',
                              @screen)
                    : do { print "first render: the first screen     -\n";
                           999999 };
summary('first render: everything', 'ms', @first);
summary('  of which: script loaded', 'ms', @modules);
summary('browser CPU for the load', 'ms', @cpu);

# 4. one refresh cycle's script time

my (@script, @wall);
for my $run (1 .. $RUNS) {
    my $n = $b->cycles;
    my $deadline = time + 10;
    sleep 0.02 while $b->cycles == $n && time < $deadline;
    my $m0 = $b->metrics;
    my $c0 = $n + 1;
    sleep 3.6;          # REFRESH_MS (3 s) and the cycle's own time
    my $m1 = $b->metrics;
    my $c1 = $b->cycles;
    if ($c1 != $c0 + 1) {
        redo;            # not exactly one cycle in between: again
    }
    push @script, ($m1->{ScriptDuration} - $m0->{ScriptDuration}) * 1000;
    push @wall, $b->js('Number(document.body.dataset.refreshMs)');
}
my $script = summary('refresh: script time of one cycle', 'ms', @script);
summary('refresh: wall time of one cycle', 'ms', @wall);

my $ev = $b->events;
die "console errors: @{ $ev->{console} }\n" if @{ $ev->{console} };
$b->quit;
stop_aggregator($agg);

printf "targets: first render (the first screen) <= 300 ms: %s; refresh "
       . "script <= 50 ms: %s; page <= 100 KB: %s\n",
       $first <= 300 ? 'met' : 'MISSED', $script <= 50 ? 'met' : 'MISSED',
       $bytes <= 102400 ? 'met' : 'MISSED';
printf "chromium %s, %s\n", `chromium --version 2>/dev/null` =~ /([\d.]+)/,
       scalar localtime;
