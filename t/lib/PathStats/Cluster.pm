package PathStats::Cluster;

# A local Redis Cluster for the tests: redis-server --cluster-enabled yes
# on loopback ports in the test directory, joined with redis-cli --cluster
# create, stopped at exit.  Core Perl only; uses PathStats::Test for the
# test directory, ports, processes and the RESP reader.
#
#   use PathStats::Cluster;
#   my $url = start_redis_cluster(masters => 3, replicas => 1);
#   ...  # redis = $url in the aggregators' configs
#   my $sum = cluster_hash_sum('totals');      # over every master
#   my $port = cluster_kill_master_of('pathstats:{2026010100.0}:totals');
#   cluster_wait_ok();                         # its replica took over

use strict;
use warnings;

use Carp qw(croak);
use Exporter qw(import);
use File::Path qw(make_path);
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use PathStats::Test;

our @EXPORT = qw(
    start_redis_cluster stop_redis_cluster cluster_cmd cluster_at
    cluster_nodes cluster_masters cluster_master_of cluster_kill
    cluster_wait_ok cluster_hash_sum cluster_paths_sum cluster_keys
    cluster_ops cluster_url
);

# the harness's process helpers, not exported by it
BEGIN {
    no strict 'refs';
    *{$_} = \&{"PathStats::Test::$_"} for qw(spawn run_cmd pid_alive
                                             terminate);
}

my @NODES;        # { port, pid, dir }
my %SOCK;         # port => socket
my $URL;

# Sends one command to the node on $port; the reply as redis_cmd gives
# it (an error is { error => ... }).  Dies when the node cannot be
# reached.
sub cluster_at {
    my ($port, @args) = @_;
    my $sock = $SOCK{$port};
    if (!$sock || !$sock->connected) {
        $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp',
                                      Timeout => 5)
            or die "redis connect 127.0.0.1:$port: $!\n";
        binmode $sock;
        $SOCK{$port} = $sock;
    }
    my $req = '*' . scalar(@args) . "\r\n";
    $req .= '$' . length("$_") . "\r\n$_\r\n" for @args;
    my $reply = eval {
        local $SIG{PIPE} = 'IGNORE';
        print {$sock} $req or die "redis write: $!\n";
        PathStats::Test::resp_read($sock);
    };
    if ($@) {
        my $err = $@;
        close $sock;
        delete $SOCK{$port};
        die $err;
    }
    return $reply;
}

# Sends one command for $key to whichever live node takes it, following
# MOVED (as redis-cli -c does).
sub cluster_cmd {
    my ($key, @args) = @_;
    my @ports = map { $_->{port} } grep { pid_alive($_->{pid}) } @NODES;
    my $port = $ports[0];
    for (1 .. 5) {
        my $r = eval { cluster_at($port, @args) };
        if (!defined $r && $@) {
            shift @ports;
            $port = $ports[0] // die "no live cluster node\n";
            next;
        }
        if (ref $r eq 'HASH'
            && $r->{error} =~ /^(?:MOVED|ASK) \d+ [^:]+:(\d+)/)
        {
            $port = $1;
            next;
        }
        return $r;
    }
    die "too many redirections for $key\n";
}

# Starts $o{masters} (3) masters and $o{replicas} (1) replicas of each,
# creates the cluster, waits until it is ok and every replica is in
# sync.  Returns the aggregator URL redis-cluster://127.0.0.1:P1,... (all
# the masters' addresses).
sub start_redis_cluster {
    my (%o) = @_;
    my $masters = $o{masters} // 3;
    my $replicas = $o{replicas} // 1;
    my $n = $masters * (1 + $replicas);
    my $dir = test_dir();

    for my $i (1 .. $n) {
        my $port = port("cluster$i");
        my $ndir = "$dir/rc/$port";
        make_path($ndir);
        my $pid = spawn(['redis-server', '--port', $port,
                         '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
                         '--cluster-config-file', "$ndir/nodes.conf",
                         '--cluster-node-timeout', $o{node_timeout} // 1000,
                         '--cluster-replica-validity-factor', 0,
                         '--repl-diskless-sync', 'yes',
                         '--repl-diskless-sync-delay', 0,
                         '--save', '', '--appendonly', 'no',
                         '--dir', $ndir, '--daemonize', 'no',
                         '--logfile', "$ndir/redis.log"],
                        stdout => "$ndir/stdout", stderr => "$ndir/stdout",
                        chdir => $ndir);
        push @NODES, { port => $port, pid => $pid, dir => $ndir };
    }
    at_cleanup(\&stop_redis_cluster);

    for my $node (@NODES) {
        my $ok = wait_until(sub {
            return -1 unless pid_alive($node->{pid});
            my $r = eval { cluster_at($node->{port}, 'PING') };
            return defined $r && $r eq 'PONG' ? 1 : 0;
        }, 10);
        croak "redis-server on $node->{port} did not start:\n"
              . slurp("$node->{dir}/redis.log") unless $ok && $ok == 1;
    }

    my ($rc, $out, $err) = run_cmd(['redis-cli', '--cluster', 'create',
                                    (map { "127.0.0.1:$_->{port}" } @NODES),
                                    '--cluster-replicas', $replicas,
                                    '--cluster-yes'], timeout => 60);
    croak "redis-cli --cluster create failed ($rc):\n$out$err" if $rc != 0;

    cluster_wait_ok(30) or croak "the cluster did not become ok:\n"
                                 . (cluster_at($NODES[0]{port}, 'CLUSTER',
                                               'NODES') // '');

    my @m = cluster_masters();
    croak "expected $masters masters, found " . scalar(@m)
        unless @m == $masters;
    $URL = 'redis-cluster://' . join(',', map { "127.0.0.1:$_" } @m);
    return $URL;
}

# The URL start_redis_cluster returned.
sub cluster_url { $URL }

# Every node as [port, role ('master'|'slave'), master's port (replicas),
# [slot ranges], failed?], from CLUSTER NODES of a live node.
sub cluster_nodes {
    for my $node (grep { pid_alive($_->{pid}) } @NODES) {
        my $text = eval { cluster_at($node->{port}, 'CLUSTER', 'NODES') };
        next unless defined $text && !ref $text;
        my (%by_id, @rows);
        for my $line (split /\n/, $text) {
            my ($id, $addr, $flags, $master, @rest) = split / /, $line;
            my ($port) = $addr =~ /:(\d+)/;
            my @slots = @rest[4 .. $#rest];
            $by_id{$id} = $port;
            push @rows, [$port, $flags =~ /master/ ? 'master' : 'slave',
                         $master, \@slots, $flags =~ /fail(?!\?)/ ? 1 : 0];
        }
        $_->[2] = $_->[2] eq '-' ? undef : $by_id{ $_->[2] } for @rows;
        return @rows;
    }
    return ();
}

# The ports of the masters that serve slots, sorted.
sub cluster_masters {
    return sort { $a <=> $b }
           map { $_->[0] }
           grep { $_->[1] eq 'master' && !$_->[4] && @{ $_->[3] } }
           cluster_nodes();
}

# The port of the master serving $key's slot.
sub cluster_master_of {
    my ($key) = @_;
    my $slot = cluster_cmd($key, 'CLUSTER', 'KEYSLOT', $key);
    for my $n (cluster_nodes()) {
        next unless $n->[1] eq 'master' && !$n->[4];
        for my $range (@{ $n->[3] }) {
            next if $range =~ /^\[/;      # a slot being migrated
            my ($lo, $hi) = split /-/, $range;
            $hi //= $lo;
            return $n->[0] if $slot >= $lo && $slot <= $hi;
        }
    }
    return undef;
}

# Kills the node on $port with $sig (default KILL).
sub cluster_kill {
    my ($port, $sig) = @_;
    my ($node) = grep { $_->{port} == $port } @NODES or croak "no node $port";
    close $SOCK{$port} if $SOCK{$port};
    delete $SOCK{$port};
    terminate($node->{pid}, $sig // 'KILL', 5);
}

# Waits up to $timeout seconds (default 20) until every live node says
# cluster_state:ok, every slot is served by a live master and every
# live replica's link is up; 1 or 0.
sub cluster_wait_ok {
    my ($timeout) = @_;
    return wait_until(sub {
        my @live = grep { pid_alive($_->{pid}) } @NODES;
        for my $node (@live) {
            my $info = eval { cluster_at($node->{port}, 'CLUSTER', 'INFO') };
            return 0 unless defined $info && !ref $info
                            && $info =~ /cluster_state:ok/
                            && $info =~ /cluster_slots_ok:16384/;
            my $repl = eval { cluster_at($node->{port}, 'INFO',
                                         'replication') } // '';
            return 0 if $repl =~ /role:slave/
                        && $repl !~ /master_link_status:up/;
        }
        my %live = map { $_->{port} => 1 } @live;
        my @masters = grep { $_->[1] eq 'master' && @{ $_->[3] } }
                      cluster_nodes();
        return 0 if grep { !$live{ $_->[0] } || $_->[4] } @masters;
        return 1;
    }, $timeout // 20, 0.2) ? 1 : 0;
}

# The keys matching $pattern on every live master: { key => port }.
sub cluster_keys {
    my ($pattern) = @_;
    my %k;
    for my $port (cluster_masters()) {
        my $keys = eval { cluster_at($port, 'KEYS', $pattern) } || [];
        $k{$_} = $port for @$keys;
    }
    return \%k;
}

# A hash kind of every hour and shard ("totals", ...) summed field by
# field over the whole cluster.
sub cluster_hash_sum {
    my ($kind) = @_;
    my %sum;
    my $keys = cluster_keys("pathstats:{*}:$kind");
    for my $k (keys %$keys) {
        my %h = @{ cluster_at($keys->{$k}, 'HGETALL', $k) || [] };
        $sum{$_} += $h{$_} for keys %h;
    }
    return \%sum;
}

# The paths hashes of every hour and shard summed per field over the
# cluster: field => requests.
sub cluster_paths_sum {
    my %sum;
    my $keys = cluster_keys('pathstats:{*}:paths');
    for my $k (keys %$keys) {
        my %h = @{ cluster_at($keys->{$k}, 'HGETALL', $k) || [] };
        for my $f (keys %h) {
            my ($req) = split / /, $h{$f};
            $sum{$f} += $req;
        }
    }
    return \%sum;
}

# Per live master (port): the scripts it ran and the commands it
# processed since the last CONFIG RESETSTAT: { port => [scripts, cmds] }.
sub cluster_ops {
    my %ops;
    for my $port (cluster_masters()) {
        my $info = eval { cluster_at($port, 'INFO', 'commandstats') } // '';
        my $scripts = 0;
        $scripts += $1 while $info =~ /cmdstat_eval(?:sha)?:calls=(\d+)/g;
        my $stats = eval { cluster_at($port, 'INFO', 'stats') } // '';
        my ($cmds) = $stats =~ /total_commands_processed:(\d+)/;
        $ops{$port} = [$scripts, $cmds // 0];
    }
    return \%ops;
}

# Stops every node (at exit too).
sub stop_redis_cluster {
    for my $port (keys %SOCK) {
        close $SOCK{$port};
    }
    %SOCK = ();
    for my $node (@NODES) {
        terminate($node->{pid}, 'TERM', 5) if pid_alive($node->{pid});
    }
    @NODES = ();
}

1;
