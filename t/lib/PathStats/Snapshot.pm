package PathStats::Snapshot;

# Builds snapshot buffers in the format of include/pathstats_snapshot.h
# and publishes them into a zone file with t/tools/snapwrite.c, so that
# the admin location can be tested without the aggregator (and with
# snapshots no aggregator would write).
#
#   my $bytes = snapshot_bytes(windows => { '24h' => \@rows }, ...);
#   publish_snapshot($bytes);          # into zone_file(); returns version
#   snapwrite('heartbeat', 0);         # aggregator heartbeat = now
#
# A row is a hash: host, method, path (character strings) and the sort
# keys requests, errors, error_rate, p95, bytes, last_seen; its JSON is
# rendered from those (or taken from $row->{json}, raw bytes).

use strict;
use warnings;

use Carp qw(croak);
use Exporter qw(import);
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(time);
use PathStats::Test qw(test_dir repo_dir zone_file spew);

our @EXPORT = qw(snapshot_bytes row_json publish_snapshot snapwrite
                 snapwrite_bg
                 snapwrite_path SORTS);

use constant {
    MAGIC => 0x504e5350, VERSION => 1,
    BLOB => 1, ROWS => 2, ORDER => 3, SUMMARY => 4, TRENDS => 5,
    METRICS => 6, HEALTH => 7, WINDOW_INFO => 8, LONG_TRENDS => 13,
    DAY_ROWS => 14, DAY_ORDER => 15, DAY_WINDOW_INFO => 16,
};

use constant SORTS => qw(requests errors error_rate p95 bytes last_seen);
# 7d and 30d: the day windows, in sections of their own (DAY_*)
my @WINDOWS = qw(1m 1h 24h 7d 30d);
my @RANGES = qw(24h 7d 30d);
my @LONG_RANGES = qw(90d 1y);

my $JSON = JSON::PP->new->utf8->canonical;

# The JSON object /api/paths serves for a row, as UTF-8 bytes.
sub row_json {
    my ($r) = @_;
    return $r->{json} if defined $r->{json};
    my $req = $r->{requests} // 0;
    my $err = $r->{errors} // 0;
    return $JSON->encode({
        host => $r->{host}, method => $r->{method}, path => $r->{path},
        requests => $req + 0, errors => $err + 0,
        status => { '1xx' => 0, '2xx' => $req - $err, '3xx' => 0,
                    '4xx' => 0, '5xx' => $err + 0 },
        bytes_in => 0, bytes_out => ($r->{bytes} // 0) + 0,
        error_rate => ($r->{error_rate} // 0) + 0,
        latency_ms => { avg => 1, p50 => 1, p95 => ($r->{p95} // 0) + 0,
                        p99 => 1, max => 1 },
        unique_clients => 1,
        first_seen => '2026-01-01T00:00:00Z',
        last_seen => $r->{last_seen_iso} // '2026-01-01T00:00:00Z',
    });
}

# %o: windows => { '1m'|'1h'|'24h'|'7d'|'30d' => [rows] }, summary,
# trends => { range (24h 7d 30d 90d 1y) => text },
# metrics, health, window_info => { window => text }
# (all text as bytes), generated_us (default now), sequence, heartbeat_us,
# orders => 0 to leave the order sections out, sections => [[type, arg,
# body]] extra raw sections.
sub snapshot_bytes {
    my (%o) = @_;
    my $blob = '';
    my $ref = sub {
        my ($bytes) = @_;
        utf8::encode($bytes) if utf8::is_utf8($bytes);
        my $off = length $blob;
        $blob .= $bytes;
        return pack('VV', $off, length $bytes);
    };

    my @sections;    # [type, arg, body]
    for my $w (0 .. $#WINDOWS) {
        my $rows = $o{windows}{ $WINDOWS[$w] } or next;
        my $body = '';
        for my $r (@$rows) {
            $body .= $ref->($r->{host}) . $ref->($r->{method})
                     . $ref->($r->{path}) . $ref->(row_json($r));
        }
        my $day = $w >= 3;
        push @sections, [$day ? DAY_ROWS : ROWS, $w, $body];
        next if defined $o{orders} && !$o{orders};
        my @s = (SORTS);
        for my $k (0 .. $#s) {
            my $key = $s[$k];
            my @idx = sort {
                ($rows->[$b]{$key} // 0) <=> ($rows->[$a]{$key} // 0)
                    || $a <=> $b
            } 0 .. $#$rows;
            push @sections, [$day ? DAY_ORDER : ORDER, $w * 6 + $k,
                             pack('V*', @idx)];
        }
    }
    push @sections, [SUMMARY, 0, $ref->($o{summary})] if defined $o{summary};
    for my $i (0 .. $#RANGES) {
        my $t = $o{trends} && $o{trends}{ $RANGES[$i] };
        push @sections, [TRENDS, $i, $ref->($t)] if defined $t;
    }
    for my $i (0 .. $#LONG_RANGES) {
        my $t = $o{trends} && $o{trends}{ $LONG_RANGES[$i] };
        push @sections, [LONG_TRENDS, $i, $ref->($t)] if defined $t;
    }
    push @sections, [METRICS, 0, $ref->($o{metrics})] if defined $o{metrics};
    push @sections, [HEALTH, 0, $ref->($o{health})] if defined $o{health};
    for my $w (0 .. $#WINDOWS) {
        my $t = $o{window_info} && $o{window_info}{ $WINDOWS[$w] };
        push @sections, [$w >= 3 ? DAY_WINDOW_INFO : WINDOW_INFO, $w,
                         $ref->($t)] if defined $t;
    }
    push @sections, @{ $o{sections} || [] };
    unshift @sections, [BLOB, 0, $blob];

    my $pad = sub { my $n = shift; ($n + 7) & ~7 };
    my $off = $pad->(48 + 24 * @sections);
    my ($table, $bodies) = ('', '');
    for my $s (@sections) {
        $table .= pack('VVQ<Q<', $s->[0], $s->[1], $off, length $s->[2]);
        my $b = $s->[2] . ("\0" x ($pad->(length $s->[2]) - length $s->[2]));
        $bodies .= $b;
        $off += length $b;
    }
    my $head_len = 48 + length $table;
    my $gap = "\0" x ($pad->($head_len) - $head_len);
    my $total = $head_len + length($gap) + length($bodies);
    my $now = int(time * 1e6);
    my $header = pack('VVQ<Q<Q<Q<VV', MAGIC, $o{version} // VERSION, $total,
                      $o{generated_us} // $now, $o{sequence} // 1,
                      $o{heartbeat_us} // $now, scalar @sections,
                      $o{flags} // 1);
    return $header . $table . $gap . $bodies;
}

my $BIN;

# The snapwrite tool, compiled on first use with the system cc.
sub snapwrite_path {
    return $BIN if $BIN;
    my $bin = test_dir() . '/snapwrite';
    my $repo = repo_dir();
    system('cc', '-O1', '-Wall', '-Wextra', '-Werror', "-I$repo/include",
           '-o', $bin, "$repo/t/tools/snapwrite.c") == 0
        or croak "cannot compile t/tools/snapwrite.c";
    return $BIN = $bin;
}

# Runs snapwrite on zone_file(); returns its output (dies on failure).
sub snapwrite {
    my @args = @_;
    my $bin = snapwrite_path();
    my $zone = zone_file();
    my $out = qx{$bin $zone @args 2>&1};
    croak "snapwrite @args: $out" if $?;
    chomp $out;
    return $out;
}

# Starts snapwrite @args on zone_file() in the background, its output
# into the file $out when given; returns its pid.
sub snapwrite_bg {
    my ($out, @args) = @_;
    my $bin = snapwrite_path();
    my $zone = zone_file();
    my $pid = fork // croak "fork: $!";
    if ($pid == 0) {
        if (defined $out) {
            open STDOUT, '>', $out or POSIX::_exit(1);
        }
        exec($bin, $zone, @args) or POSIX::_exit(1);
    }
    return $pid;
}

# Publishes $bytes (buf_len = $len if given); returns the new version.
sub publish_snapshot {
    my ($bytes, $len) = @_;
    my $file = test_dir() . '/snapshot.bin';
    spew($file, $bytes);
    return snapwrite('publish', $file, defined $len ? $len : ());
}

1;
