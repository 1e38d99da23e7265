package PathStatsBench;

# Shared pieces of the Perl benchmarks (bench/freshness.pl,
# bench/admin-latency.pl): a minimal HTTP/1.1 keep-alive client
# (Content-Length or chunked, pipelining), the nearest-rank percentile,
# a process's CPU time from /proc, and the zone file on tmpfs; and, when
# loaded first, BUILD and KEEP (the benchmarks' names) set as
# PS_BUILD_DIR and PS_KEEP for the test harness (t/lib/PathStats/Test.pm)
# that it loads.  Core Perl only.

use strict;
use warnings;

use Cwd qw(abs_path);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Temp ();
use IO::Select;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time);

my $REPO;

BEGIN {
    $REPO = abs_path(dirname(__FILE__) . '/../..');
    my $build = $ENV{BUILD} // "$REPO/build";
    $ENV{PS_BUILD_DIR} = abs_path($build) // $build;
    $ENV{PS_KEEP} = 1 if $ENV{KEEP};
}

use lib "$REPO/t/lib";
use PathStats::Test qw(slurp);

our @EXPORT = qw(ka_new ka_close ka_parse ka_get ka_pipeline pct cpu_ns
                 bench_zone);


# A minimal HTTP/1.1 keep-alive client (Content-Length or chunked) --------

sub ka_new { return { port => $_[0], s => undef, buf => '' } }

sub ka_close {
    my ($c) = @_;
    close $c->{s} if $c->{s};
    $c->{s} = undef;
    $c->{buf} = '';
}

# ($status, $body) once a whole response is in $c->{buf}, else ()
sub ka_parse {
    my ($c) = @_;
    my $end = index($c->{buf}, "\r\n\r\n");
    return () if $end < 0;
    my $head = substr($c->{buf}, 0, $end);
    my ($status) = $head =~ m{^HTTP/1\.\d (\d{3})} or die "bad response\n";
    my ($len) = $head =~ /^content-length:\s*(\d+)/mi;
    my $chunked = $head =~ /^transfer-encoding:\s*chunked/mi;
    $c->{close} = $head =~ /^connection:\s*close/mi;
    ($c->{pid}) = $head =~ /^x-worker-pid:\s*(\d+)/mi;
    my $pos = $end + 4;
    if (defined $len) {
        return () if length($c->{buf}) < $pos + $len;
        my $body = substr($c->{buf}, $pos, $len);
        substr($c->{buf}, 0, $pos + $len, '');
        return ($status, $body);
    }
    die "response with neither Content-Length nor chunked\n" unless $chunked;
    my $body = '';
    while (1) {
        my $eol = index($c->{buf}, "\r\n", $pos);
        return () if $eol < 0;
        my $n = hex substr($c->{buf}, $pos, $eol - $pos);
        if ($n == 0) {
            my $fin = index($c->{buf}, "\r\n", $eol + 2);  # no trailers
            return () if $fin < 0;
            substr($c->{buf}, 0, $fin + 2, '');
            return ($status, $body);
        }
        return () if length($c->{buf}) < $eol + 2 + $n + 2;
        $body .= substr($c->{buf}, $eol + 2, $n);
        $pos = $eol + 2 + $n + 2;
    }
}

# GET $path on the keep-alive connection; reconnects once when the
# server closed an idle connection.  Returns ($status, $body).
sub ka_get {
    my ($c, $path) = @_;
    for my $attempt (1, 2) {
        if (!$c->{s}) {
            $c->{s} = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                            PeerPort => $c->{port},
                                            Proto => 'tcp', Timeout => 5)
                or die "connect 127.0.0.1:$c->{port}: $!\n";
            setsockopt($c->{s}, IPPROTO_TCP, TCP_NODELAY, 1);
            binmode $c->{s};
            $c->{buf} = '';
        }
        my $req = "GET $path HTTP/1.1\r\nHost: localhost\r\n\r\n";
        my $w = syswrite($c->{s}, $req);
        if (!defined $w || $w != length $req) {
            ka_close($c);
            next;
        }
        my $sel = IO::Select->new($c->{s});
        my $deadline = time + 10;
        my $got = 0;
        while (1) {
            my @r = ka_parse($c);
            if (@r) {
                ka_close($c) if $c->{close};
                return @r;
            }
            die "response timeout for $path\n"
                unless $sel->can_read($deadline - time);
            my $n = sysread($c->{s}, $c->{buf}, 262144, length $c->{buf});
            if (!$n) {
                last if $got == 0 && $attempt == 1;   # stale keep-alive
                die "connection lost reading $path\n";
            }
            $got += $n;
        }
        ka_close($c);
    }
    die "cannot send $path\n";
}


# Sends GET @paths in one write on the keep-alive connection and reads
# the answers; returns their statuses.
sub ka_pipeline {
    my ($c, @paths) = @_;
    ka_get($c, '/pathstats/health') unless $c->{s};     # connect
    my $req = join '', map { "GET $_ HTTP/1.1\r\nHost: localhost\r\n\r\n" }
                       @paths;
    my $off = 0;
    while ($off < length $req) {
        my $w = syswrite($c->{s}, $req, length($req) - $off, $off);
        die "write: $!\n" unless defined $w;
        $off += $w;
    }
    my $sel = IO::Select->new($c->{s});
    my $deadline = time + 10;
    my @st;
    while (@st < @paths) {
        my @r = ka_parse($c);
        if (@r) {
            push @st, $r[0];
            if ($c->{close}) {
                die "the server closed the pipeline\n" if @st < @paths;
                ka_close($c);
            }
            next;
        }
        die "pipeline timeout\n" unless $sel->can_read($deadline - time);
        my $n = sysread($c->{s}, $c->{buf}, 262144, length $c->{buf});
        die "connection lost in the pipeline\n" unless $n;
    }
    return @st;
}

# Statistics ---------------------------------------------------------------

sub pct {
    my ($sorted, $p) = @_;
    return undef unless @$sorted;
    my $i = int($p / 100 * @$sorted + 0.999999) - 1;   # nearest rank
    $i = 0 if $i < 0;
    $i = $#$sorted if $i > $#$sorted;
    return $sorted->[$i];
}


# CPU time (ns) of a process: /proc/PID/schedstat, all its threads ------

sub cpu_ns {
    my ($pid) = @_;
    my $ns = 0;
    for my $f (glob "/proc/$pid/task/*/schedstat") {
        my ($run) = split ' ', slurp($f) // '0';
        $ns += $run // 0;
    }
    return $ns;
}


# The zone ---------------------------------------------------------------

# The zone file's path: on tmpfs, as in production (conf.example), not in
# the test directory on the disk; ZONE_DIR (/dev/shm) overrides.  The
# file goes into a directory of its own made there (0755, this user's),
# since nginx and the aggregator refuse a zone that another user could
# have made in a directory everyone may write.  Both are removed at exit
# by the process that asked for them, unless KEEP is set.
my @ZONES;
my $OWNER = $$;

sub bench_zone {
    my $base = $ENV{ZONE_DIR} // '/dev/shm';
    my $dir = File::Temp::tempdir("pathstats-bench-$$-XXXXXX",
                                  DIR => $base, CLEANUP => 0);
    chmod 0755, $dir or die "chmod $dir: $!\n";
    my $zone = "$dir/zone";
    push @ZONES, $zone;
    return $zone;
}

END {
    if ($$ == $OWNER && !$ENV{KEEP}) {
        for my $zone (@ZONES) {
            unlink $zone;
            rmdir File::Basename::dirname($zone);
        }
    }
}

1;
