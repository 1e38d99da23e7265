package PathStats::Test;

# Test harness for pathstats integration tests: starts real nginx (with
# the module), Redis, PostgreSQL and the aggregator in a throwaway
# directory on loopback ports, talks to them, and stops everything on
# exit, even when a test dies.  Core Perl only.
#
#   use lib 't/lib';
#   use PathStats::Test;
#
#   start_nginx(<<'EOF', workers => 2);
#   http {
#       pathstats_zone %%ZONE%% size=1m;
#       server {
#           listen 127.0.0.1:%%PORT%%;
#           ...
#       }
#   }
#   EOF
#   my ($status, $body) = http_get('/users/1');
#   ...
#   finish();    # checks the error logs, then done_testing
#
# Placeholders in nginx configs: %%PORT%% (the port chosen for this
# nginx), %%PORT2%% .. %%PORT9%% (more free ports, stable per test file),
# %%DIR%% (the test directory), %%ZONE%% (zone_file()), %%BUILD%%
# (build_dir()).
#
# Environment: PS_BUILD_DIR (default <repo>/build), PS_KEEP=1 keeps the
# test directory, PS_NGINX (default /usr/sbin/nginx), PS_VERBOSE=1 prints
# what is started.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path getcwd);
use Encode ();
use Errno qw(EINTR EAGAIN ECHILD);
use Exporter qw(import);
use Fcntl qw(:DEFAULT);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(:sys_wait_h setsid _exit);
use Test::More;
use Time::HiRes qw(time sleep);

our @EXPORT = qw(
    repo_dir build_dir test_dir zone_file module_path aggregator_path
    free_port port
    start_nginx site_conf static_site_conf reload_nginx stop_nginx nginx_t
    master_pid worker_pids worker_pids_all nginx_conf_path error_log_path
    http_get http_get_n http_request parallel_load start_load
    start_redis stop_redis redis_cmd redis_port redis_hour_keys
    redis_hash_sum redis_zset_sum redis_paths_sum
    start_postgres stop_postgres psql_query pg_conninfo pg_port
    pg_requests is_pg_requests zone_drops record_units
    start_migrated_postgres
    run_aggregator start_aggregator stop_aggregator write_aggregator_conf
    zone_stats tail_once decode_json_lines wait_for_stats zone_field
    start_receiver metrics_get run_cmd
    wait_until slurp spew check_error_logs finish
    sanitize nginx_env add_error_log at_cleanup
);

my $OWNER = $$;              # only this process cleans up, never a fork
my $NGINX_BIN = $ENV{PS_NGINX} || '/usr/sbin/nginx';
my $IS_ROOT = $> == 0;

my $REPO = abs_path(File::Spec->catdir(dirname(__FILE__), '..', '..', '..'));
my $BUILD = abs_path($ENV{PS_BUILD_DIR} || "$REPO/build")
            // ($ENV{PS_BUILD_DIR} || "$REPO/build");

my $DIR;                     # the throwaway directory, made on first use
my %PORTS;                   # name => port
my $NGINX;                   # { pid, workers, conf, port, ... }
my $REDIS;                   # { pid, port, sock }
my $PG;                      # { port, data, user, conninfo }
my @AGGREGATORS;             # handles of start_aggregator
my @RECEIVERS;               # pids of start_receiver
my @LOADS;                   # pids of parallel_load children
my $T_SEQ = 0;               # nginx -t config counter
my %ALLOW_DIRTY;             # error log lines a test expects
my @EXTRA_LOGS;              # more nginx error logs (add_error_log)
my @CLEANUPS;                # subs run at cleanup, last added first

my $JSON = JSON::PP->new->utf8->canonical;

# A sanitizer build (cmake -DPATHSTATS_SANITIZE=ON; PS_SANITIZE=1 or 0
# overrides the detection): the aggregator gets leak detection, nginx gets
# libasan preloaded (the module needs it and Debian's nginx has none), and
# every report goes to a file under <test dir>/sanitizer that
# check_error_logs fails on.
my $SANITIZE = $ENV{PS_SANITIZE} // do {
    my $cache = "$BUILD/CMakeCache.txt";
    my $on = 0;
    if (open my $fh, '<', $cache) {
        $on = grep { /^PATHSTATS_SANITIZE:BOOL=(?:ON|1|TRUE|YES)$/i } <$fh>;
        close $fh;
    }
    $on ? 1 : 0;
};
my $LIBASAN;                 # gcc -print-file-name=libasan.so, once

sub note_v { diag(@_) if $ENV{PS_VERBOSE} }


# Paths ---------------------------------------------------------------------

# The repository root.
sub repo_dir { $REPO }

# The build directory (PS_BUILD_DIR, default <repo>/build).
sub build_dir { $BUILD }

# The nginx module built there.
sub module_path { "$BUILD/ngx_http_pathstats_module.so" }

# The aggregator built there.
sub aggregator_path { "$BUILD/pathstats-aggregator" }

# This test file's throwaway directory (0755, so that unprivileged nginx
# workers and PostgreSQL can traverse it when the tests run as root).
sub test_dir {
    return $DIR if defined $DIR;

    my $base = $ENV{TMPDIR} && -d $ENV{TMPDIR} ? $ENV{TMPDIR} : '/tmp';
    my $name = $0;
    $name =~ s{.*/}{};
    $name =~ s{\.t$}{};
    $name =~ s{[^A-Za-z0-9_-]}{_}g;

    $DIR = tempdir("pathstats-$name-XXXXXX", DIR => $base,
                   CLEANUP => !$ENV{PS_KEEP});
    chmod 0755, $DIR or croak "chmod $DIR: $!";

    if ($IS_ROOT) {
        # every parent must be traversable by nobody
        my $p = $DIR;
        while (($p = dirname($p)) ne '/') {
            my $mode = (stat $p)[2];
            croak "test directory parent $p is not world-traversable; "
                  . "set TMPDIR to a directory under /tmp"
                unless defined $mode && ($mode & 0001);
        }
    }

    if ($SANITIZE) {
        # world-writable: nginx workers (nobody) write their reports here
        my $san = "$DIR/sanitizer";
        mkdir $san or croak "mkdir $san: $!";
        chmod 01777, $san or croak "chmod $san: $!";
        # every ASan/UBSan program the tests start (the aggregator, tools)
        $ENV{ASAN_OPTIONS} = "detect_leaks=1:abort_on_error=1"
                             . ":log_path=$san/asan";
        $ENV{UBSAN_OPTIONS} = "print_stacktrace=1:halt_on_error=1"
                              . ":log_path=$san/ubsan";
    }

    diag("test directory kept: $DIR") if $ENV{PS_KEEP};
    return $DIR;
}

# 1 if the tests run against a sanitizer build.
sub sanitize { $SANITIZE }

# The environment nginx runs with: in a sanitizer build, libasan
# preloaded (it must come first) and no leak detection, since nginx
# leaves its pools to exit by design.
sub nginx_env {
    my (%extra) = @_;
    return { %extra } unless $SANITIZE;
    my $san = test_dir() . '/sanitizer';
    if (!defined $LIBASAN) {
        $LIBASAN = qx{gcc -print-file-name=libasan.so 2>/dev/null} // '';
        chomp $LIBASAN;
        croak "sanitizer build, but libasan.so not found ('$LIBASAN')"
            unless $LIBASAN =~ m{^/} && -e $LIBASAN;
    }
    return { LD_PRELOAD => $LIBASAN,
             ASAN_OPTIONS => "detect_leaks=0:abort_on_error=1"
                             . ":log_path=$san/nginx-asan",
             UBSAN_OPTIONS => "print_stacktrace=1:halt_on_error=1"
                              . ":log_path=$san/nginx-ubsan",
             %extra };
}

# The zone file path used by %%ZONE%%.
sub zone_file { test_dir() . '/zone' }

sub slurp {
    my ($file) = @_;
    open my $fh, '<:raw', $file or return undef;
    local $/;
    my $data = <$fh>;
    close $fh;
    return $data // '';
}

sub spew {
    my ($file, $data) = @_;
    open my $fh, '>:raw', $file or croak "write $file: $!";
    print {$fh} $data;
    close $fh or croak "close $file: $!";
}

# Polls $cond every $step seconds until it returns true or $timeout
# seconds pass; returns the last value of $cond.
sub wait_until {
    my ($cond, $timeout, $step) = @_;
    $timeout //= 10;
    $step //= 0.05;
    my $deadline = time + $timeout;
    my $v;
    while (1) {
        $v = $cond->();
        return $v if $v;
        return $v if time >= $deadline;
        sleep $step;
    }
}


# Ports ---------------------------------------------------------------------

# A free loopback TCP port, chosen by the kernel, and not one this
# process handed out before: the kernel may give a port again once the
# probe socket is closed, before the server it was meant for has bound
# it (seen: two nodes of a Redis Cluster started on the same port).
my %HANDED;
sub free_port {
    for (1 .. 50) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => 0, Proto => 'tcp',
                                      Listen => 1, ReuseAddr => 1)
            or croak "cannot bind a free port: $!";
        my $p = $s->sockport;
        close $s;
        next if $HANDED{$p}++;
        return $p;
    }
    croak "no free port that was not handed out already";
}

# A free port remembered under $name for the whole test file.
sub port {
    my ($name) = @_;
    $name //= 'nginx';
    return $PORTS{$name} //= free_port();
}


# Processes -----------------------------------------------------------------

# Forks and execs @cmd in its own process group with stdin from /dev/null
# and stdout/stderr appended to files.  %o: stdout, stderr, chdir, env.
sub spawn {
    my ($cmd, %o) = @_;
    # any nginx a test starts, through start_nginx or not
    if ($SANITIZE && $cmd->[0] =~ m{(?:^|/)nginx$}) {
        $o{env} = nginx_env(%{ $o{env} || {} });
    }
    my $pid = fork;
    croak "fork: $!" unless defined $pid;
    if ($pid == 0) {
        eval {
            setpgrp(0, 0);
            $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP PIPE QUIT USR1 USR2 CHLD);
            open STDIN, '<', '/dev/null' or die "stdin: $!";
            if ($o{stdout}) {
                open STDOUT, '>>', $o{stdout} or die "stdout: $!";
            }
            if ($o{stderr}) {
                open STDERR, '>>', $o{stderr} or die "stderr: $!";
            }
            if ($o{chdir}) {
                chdir $o{chdir} or die "chdir $o{chdir}: $!";
            }
            $ENV{$_} = $o{env}{$_} for keys %{ $o{env} || {} };
            exec { $cmd->[0] } @$cmd or die "exec $cmd->[0]: $!";
        };
        print STDERR "spawn: $@";
        _exit(127);
    }
    note_v("started $pid: @$cmd");
    return $pid;
}

# Runs @cmd to completion (at most $o{timeout} seconds, default 60) and
# returns ($exit_code, $stdout, $stderr).  A timeout kills the process
# group and returns exit code -1.
sub run_cmd {
    my ($cmd, %o) = @_;
    my $dir = test_dir();
    my $n = ++$T_SEQ;
    my $out = "$dir/.cmd-$n.out";
    my $err = "$dir/.cmd-$n.err";
    my $pid = spawn($cmd, stdout => $out, stderr => $err, %o);
    my $rc = wait_pid($pid, $o{timeout} // 60);
    if (!defined $rc) {
        kill 'KILL', -$pid;
        wait_pid($pid, 5);
        $rc = -1;
    }
    my @r = ($rc, slurp($out) // '', slurp($err) // '');
    unlink $out, $err;
    return @r;
}

# Waits for child $pid up to $timeout seconds: its exit code (128 + signal
# when killed), or undef if it is still running.
sub wait_pid {
    my ($pid, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) {
            return WIFSIGNALED($?) ? 128 + WTERMSIG($?) : WEXITSTATUS($?);
        }
        return 0 if $r == -1;      # not our child or already reaped
        return undef if time >= $deadline;
        sleep 0.02;
    }
}

sub pid_alive {
    my ($pid) = @_;
    return 0 unless $pid;
    return 0 unless kill 0, $pid;
    # a zombie is dead for our purposes
    my $stat = slurp("/proc/$pid/stat") // return 0;
    return $stat =~ /\)\s+Z\s/ ? 0 : 1;
}

# Sends $sig to $pid, waits up to $timeout for it to exit (reaping it if
# it is our child); then SIGKILLs its process group.
sub terminate {
    my ($pid, $sig, $timeout) = @_;
    return unless $pid;
    kill $sig, $pid;
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        my $r = waitpid($pid, WNOHANG);
        return if $r == $pid;
        return if $r == -1 && !pid_alive($pid);
        sleep 0.02;
    }
    diag("pid $pid did not exit on $sig within ${timeout}s; killing it");
    kill 'KILL', -$pid;
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# (pid => [ppid, cmdline]) for every process.
sub process_table {
    my %t;
    opendir my $dh, '/proc' or return %t;
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        my $stat = slurp("/proc/$pid/stat") // next;
        my ($state, $ppid) = $stat =~ /\)\s+(\S)\s+(\d+)/ or next;
        next if $state eq 'Z';
        my $cmd = slurp("/proc/$pid/cmdline") // '';
        $cmd =~ s/\0+$//;
        $cmd =~ s/\0/ /g;
        $t{$pid} = [$ppid, $cmd];
    }
    closedir $dh;
    return %t;
}


# nginx ---------------------------------------------------------------------

sub expand_placeholders {
    my ($text, $port) = @_;
    my $dir = test_dir();
    $text =~ s/%%PORT%%/$port/g;
    $text =~ s/%%PORT(\d)%%/port("nginx$1")/ge;
    $text =~ s/%%DIR%%/$dir/g;
    $text =~ s/%%ZONE%%/zone_file()/ge;
    $text =~ s/%%BUILD%%/$BUILD/g;
    return $text;
}

# The main-context preamble every test config gets.
sub nginx_preamble {
    my (%o) = @_;
    my $dir = $o{dir} // test_dir();
    my $workers = $o{workers} // 2;
    my $error_log = $o{error_log} // "$dir/error.log";
    my $p = '';

    if (defined $o{load}) {
        # main-context lines that load the modules instead, e.g. an
        # include of /etc/nginx/modules-enabled (before any block)
        $p .= "$o{load}\n";
    } elsif ($o{module} // 1) {
        my $so = module_path();
        croak "nginx module not built: $so (set PS_BUILD_DIR or build)"
            unless -f $so;
        $p .= "load_module $so;\n";
    }
    # workers run unprivileged, as in production
    $p .= "user " . ($o{user} // 'nobody nogroup') . ";\n" if $IS_ROOT;
    # a sanitizer build: keep libasan and its options across a binary
    # upgrade (nginx passes only "env" variables to the new binary)
    $p .= "env LD_PRELOAD;\nenv ASAN_OPTIONS;\nenv UBSAN_OPTIONS;\n"
        if $SANITIZE && ($o{module} // 1);
    $p .= <<"EOF";
pid $dir/nginx.pid;
error_log $error_log $o{log_level};
daemon off;
master_process on;
worker_processes $workers;
worker_shutdown_timeout 10s;
EOF
    $p .= "events {\n    worker_connections 1024;\n}\n"
        unless $o{no_events};
    return $p;
}

# Directives that point nginx's writable paths into the test directory;
# inserted at the top of the http block.
sub http_preamble {
    my ($dir) = @_;
    $dir //= test_dir();
    return <<"EOF";
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    access_log $dir/access.log;
EOF
}

sub build_conf {
    my ($body, $port, %o) = @_;
    $body = expand_placeholders($body, $port);
    my $http = http_preamble($o{dir});
    # a config without an http block gets none
    $body =~ s/^(\s*http\s*\{)/$1\n$http/m;
    return nginx_preamble(%o) . $body;
}

# The http block of the common test site: one server on %%PORT%%
# (reuseport unless $o{reuseport} is 0) named $o{name} (none when
# undef) that records (pathstats on; $o{record} 0: the locations say),
# the zone file $o{zone_file} (default %%ZONE%%) with the parameters
# $o{zone} (default "size=8m"), the server's own lines $o{server} and its
# locations $o{locations} (default one location / answering 200 "ok").
# For start_nginx and reload_nginx.
sub site_conf {
    my (%o) = @_;
    my $zone = ($o{zone_file} // '%%ZONE%%') . ' ' . ($o{zone} // 'size=8m');
    my $listen = '127.0.0.1:%%PORT%%' . (($o{reuseport} // 1) ? ' reuseport'
                                                                : '');
    my $lines = exists $o{name} && !defined $o{name} ? ''
              : "server_name " . ($o{name} // 'site.test') . ";\n";
    $lines .= "pathstats on;\n" if $o{record} // 1;
    $lines .= "$o{server}\n" if defined $o{server};
    $lines .= $o{locations} // 'location / { return 200 "ok\n"; }';
    my $body = join '', map { "        $_\n" } split /\n/, $lines;
    return <<"EOF";
http {
    pathstats_zone $zone;

    server {
        listen $listen;
$body    }
}
EOF
}

# The http block of the small static site that recording tests compare
# with nginx's own access log (%%DIR%%/ps.log: method|status|uri|
# request length|bytes sent): /ok, /fail (500), /moved (301), /api/
# (JSON), a static 404 (405 for DELETE) anything else, server $name.
sub static_site_conf {
    my ($name) = @_;
    my $conf = site_conf(name => $name, zone => 'size=1m',
                         server => "root %%DIR%%/html;\nlog_not_found off;",
                         locations => <<'EOF');
location = /ok      { return 200 "ok\n"; }
location = /fail    { return 500; }
location = /moved   { return 301 /ok; }
location /api/      { return 200 '{"ok":true}'; }
EOF
    $conf =~ s{^(http \{\n.*\n)}{$1    log_format ps '\$request_method|\$status|\$uri|\$request_length|\$bytes_sent';\n    access_log %%DIR%%/ps.log ps;\n};
    return $conf;
}

# Starts nginx (master + $o{workers} workers, default 2) with $body
# appended to the harness's preamble (load_module, pid, error_log, daemon
# off, worker_processes, events{}, temp paths, access_log).  Waits until
# every worker is up and the port accepts connections.  %o: workers,
# module (0 = no load_module), load (lines that load modules instead of
# the build's load_module), port (default port('nginx')), log_level
# (default info), user (of the workers when root, default "nobody
# nogroup"), prefix (-p, default the test directory), timeout.  Returns
# the nginx handle (a hash).
sub start_nginx {
    my ($body, %o) = @_;
    croak "nginx already running" if $NGINX && pid_alive($NGINX->{pid});
    my $dir = test_dir();
    make_path("$dir/tmp", "$dir/html");
    my $port = $o{port} // port('nginx');
    $o{workers} //= 2;
    $o{log_level} //= 'info';

    my $conf = "$dir/nginx.conf";
    spew($conf, build_conf($body, $port, %o));
    unlink "$dir/nginx.pid";

    my $pid = spawn([$NGINX_BIN, '-p', $o{prefix} // "$dir/", '-c',
                     $conf],
                    stdout => "$dir/nginx.stdout",
                    stderr => "$dir/nginx.stderr", chdir => $dir,
                    env => nginx_env(%{ $o{env} || {} }));
    $NGINX = { pid => $pid, workers => $o{workers}, conf => $conf,
               port => $port, opts => \%o };

    my $up = wait_until(sub {
        return -1 unless pid_alive($pid);
        my @w = worker_pids();
        return 0 unless @w == $o{workers};
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp',
                                      Timeout => 1);
        return $s ? 1 : 0;
    }, $o{timeout} // 15);

    if (!$up || $up == -1) {
        my $rc = wait_pid($pid, 0.5);
        kill 'KILL', -$pid;        # the master and any worker it forked
        $rc //= wait_pid($pid, 2);
        my $why = (slurp("$dir/nginx.stderr") // '')
                  . tail_file("$dir/error.log", 20);
        $NGINX = undef;
        croak "nginx did not start" . (defined $rc ? " (exit $rc)" : '')
              . ":\n$why";
    }
    note_v("nginx master $pid workers " . join(',', worker_pids()));
    return $NGINX;
}

# The running nginx master's pid.
sub master_pid { $NGINX ? $NGINX->{pid} : undef }

# The path of the config start_nginx wrote.
sub nginx_conf_path { test_dir() . '/nginx.conf' }

# nginx's error log.
sub error_log_path { test_dir() . '/error.log' }

# Pids of the live (not shutting down) worker processes, sorted.
sub worker_pids {
    my ($master) = @_;
    $master //= master_pid() // return ();
    my %t = process_table();
    my @w = sort { $a <=> $b }
            grep { $t{$_}[0] == $master
                   && $t{$_}[1] =~ /worker process$/ } keys %t;
    return @w;
}

# Pids of every worker of the master, including those shutting down.
sub worker_pids_all {
    my ($master) = @_;
    $master //= master_pid() // return ();
    my %t = process_table();
    my @w = sort { $a <=> $b }
            grep { $t{$_}[0] == $master
                   && $t{$_}[1] =~ /worker process/ } keys %t;
    return @w;
}

# Reloads nginx (SIGHUP), optionally with a new config body first, and
# waits until a full new generation of workers runs.  %o: body (new
# config), wait_old (also wait until the old workers have exited),
# timeout.  Returns the new worker pids.
sub reload_nginx {
    my (%o) = @_;
    croak "nginx is not running" unless $NGINX && pid_alive($NGINX->{pid});
    if (defined $o{body}) {
        spew($NGINX->{conf}, build_conf($o{body}, $NGINX->{port},
                                        %{ $NGINX->{opts} }));
    }
    my %old = map { $_ => 1 } worker_pids();
    kill 'HUP', $NGINX->{pid};
    my $n = $NGINX->{workers};
    my $ok = wait_until(sub {
        my @w = worker_pids();
        return 0 unless @w == $n && !grep { $old{$_} } @w;
        return 1 unless $o{wait_old};
        return !grep { pid_alive($_) } keys %old;
    }, $o{timeout} // 15, 0.02);
    croak "nginx reload did not complete:\n"
          . tail_file(error_log_path(), 20) unless $ok;
    return worker_pids();
}

# Stops nginx gracefully (SIGQUIT) and waits for the master to exit.
# %o: signal (default QUIT), timeout.
sub stop_nginx {
    my (%o) = @_;
    return unless $NGINX;
    my @workers = worker_pids_all();
    terminate($NGINX->{pid}, $o{signal} // 'QUIT', $o{timeout} // 15);
    if (!wait_until(sub { !grep { pid_alive($_) } @workers }, 5)) {
        kill 'KILL', grep { pid_alive($_) } @workers;
    }
    $NGINX = undef;
}

# Runs `nginx -t` on $body with the harness preamble (its own error log,
# so a failure does not count against check_error_logs).  Returns
# ($exit_code, $output, $conf_path).  %o as for start_nginx.
sub nginx_t {
    my ($body, %o) = @_;
    my $dir = test_dir();
    make_path("$dir/tmp", "$dir/html");
    my $n = ++$T_SEQ;
    my $conf = "$dir/nginx-t-$n.conf";
    $o{workers} //= 1;
    $o{log_level} //= 'info';
    $o{error_log} //= "$dir/nginx-t-$n.error.log";
    spew($conf, build_conf($body, $o{port} // port('nginx-t'), %o));
    my ($rc, $out, $err) = run_cmd([$NGINX_BIN, '-t', '-p',
                                    $o{prefix} // "$dir/", '-c',
                                    $conf], chdir => $dir, timeout => 30,
                                   env => nginx_env());
    return ($rc, $out . $err, $conf);
}

sub tail_file {
    my ($file, $lines) = @_;
    my $data = slurp($file) // return '';
    my @l = split /\n/, $data;
    @l = @l[-$lines .. -1] if @l > $lines;
    return join("\n", map { "  $file: $_" } @l) . "\n";
}


# HTTP ----------------------------------------------------------------------

# Sends one request over a fresh connection, bytes exactly as given (no
# URL normalisation), and reads the response until the server closes.
# %o: port (default nginx's), method (GET), headers (arrayref of
# [name, value] or "Name: value" strings), host (Host header, default
# "localhost"; undef with no_host => 1 to omit), body, raw (the whole
# request, sent verbatim), version (HTTP/1.1), timeout (10 s).
# Returns a hash: status (undef if no status line arrived), headers
# (lowercase name => value), body, sent (request bytes), received
# (response bytes), raw (the response), error.
sub http_request {
    my ($path, %o) = @_;
    my $port = $o{port} // ($NGINX ? $NGINX->{port} : port('nginx'));
    my $timeout = $o{timeout} // 10;
    my $req = $o{raw};
    if (!defined $req) {
        my $method = $o{method} // 'GET';
        my $version = $o{version} // 'HTTP/1.1';
        $req = "$method $path $version\r\n";
        $req .= "Host: " . ($o{host} // 'localhost') . "\r\n"
            unless $o{no_host};
        for my $h (@{ $o{headers} || [] }) {
            $req .= ref $h ? "$h->[0]: $h->[1]\r\n" : "$h\r\n";
        }
        $req .= "Content-Length: " . length($o{body}) . "\r\n"
            if defined $o{body};
        $req .= "Connection: close\r\n\r\n";
        $req .= $o{body} if defined $o{body};
    }

    my %r = (sent => length $req, received => 0, raw => '');
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => $timeout);
    if (!$s) {
        $r{error} = "connect: $!";
        return \%r;
    }
    binmode $s;
    my $deadline = time + $timeout;
    my $off = 0;
    my $sel = IO::Select->new($s);
    while ($off < length $req) {
        if (!$sel->can_write($deadline - time)) {
            $r{error} = 'write timeout';
            return \%r;
        }
        my $n = syswrite($s, $req, length($req) - $off, $off);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            $r{error} = "write: $!";
            last;
        }
        $off += $n;
    }
    shutdown($s, 1) if $o{half_close};
    my $buf = '';
    while (1) {
        my $left = $deadline - time;
        if ($left <= 0 || !$sel->can_read($left)) {
            $r{error} //= 'read timeout';
            last;
        }
        my $n = sysread($s, $buf, 65536, length $buf);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            $r{error} //= "read: $!";
            last;
        }
        last if $n == 0;
    }
    close $s;
    $r{raw} = $buf;
    $r{received} = length $buf;
    parse_response(\%r, $buf);
    return \%r;
}

sub parse_response {
    my ($r, $buf) = @_;
    my $end = index($buf, "\r\n\r\n");
    return unless $buf =~ m{^HTTP/\d\.\d (\d{3})};
    $r->{status} = $1;
    return if $end < 0;
    my ($head, $body) = (substr($buf, 0, $end), substr($buf, $end + 4));
    my @lines = split /\r\n/, $head;
    shift @lines;
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $h{lc $k} = $v;
    }
    $r->{headers} = \%h;
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $out .= substr($body, 0, $len, '');
            $body =~ s/^\r\n//;
        }
        $body = $out;
    }
    $r->{body} = $body;
}

# One request; in list context ($status, $body, $response), in scalar
# context the response hash.  Options as for http_request.
sub http_get {
    my ($path, %o) = @_;
    my $r = http_request($path, %o);
    return wantarray ? ($r->{status}, $r->{body}, $r) : $r;
}

# Sends $n GETs one after another, to "$prefix1" .. "$prefix$n", and
# returns how many were answered 200.  %o as for http_request (e.g. a
# short timeout where nginx may not answer).
sub http_get_n {
    my ($prefix, $n, %o) = @_;
    return scalar grep { (http_request("$prefix$_", %o)->{status} // 0)
                         == 200 } 1 .. $n;
}

# Starts $o{clients} (default 4) forked clients, each sending
# $o{requests} (default 100) requests one connection at a time, and
# returns a handle for ->wait (below) without waiting.  %o: port, path
# (a string, or a sub ($client, $i) returning a path or a hash of
# http_request options with a "path" key), paths (arrayref used round
# robin), method, host, duration (stop sending after this many seconds,
# default 60), track_paths (count responses per "METHOD path status").
# The handle's ->stop makes every client stop after its current request
# and then waits like ->wait.
sub start_load {
    my (%o) = @_;
    my $dir = test_dir();
    my $clients = $o{clients} // 4;
    my $requests = $o{requests} // 100;
    my $duration = $o{duration} // 60;
    my $id = ++$T_SEQ;
    my $stop_file = "$dir/.load-$id.stop";
    my @pids;

    for my $c (0 .. $clients - 1) {
        my $file = "$dir/.load-$id-$c.json";
        my $pid = fork;
        croak "fork: $!" unless defined $pid;
        if ($pid == 0) {
            my $rc = 0;
            eval {
                $SIG{TERM} = $SIG{INT} = sub { _exit(1) };
                my %res = (responses => 0, failures => 0, by_status => {},
                           by_path => {}, errors => {});
                my $deadline = time + $duration;
                for my $i (0 .. $requests - 1) {
                    last if time >= $deadline || -e $stop_file;
                    my ($path, %ro);
                    my $spec = ref $o{path} eq 'CODE' ? $o{path}->($c, $i)
                             : $o{paths} ? $o{paths}[($c * $requests + $i)
                                                     % @{ $o{paths} }]
                             : $o{path} // '/';
                    if (ref $spec eq 'HASH') {
                        %ro = %$spec;
                        $path = delete $ro{path};
                    } else {
                        $path = $spec;
                    }
                    $ro{method} //= $o{method} if $o{method};
                    $ro{host} //= $o{host} if $o{host};
                    $ro{port} //= $o{port} if $o{port};
                    $ro{timeout} //= $o{timeout} // 10;
                    my $r = http_request($path, %ro);
                    if (defined $r->{status} && !$r->{error}) {
                        $res{responses}++;
                        $res{by_status}{ $r->{status} }++;
                        if ($o{track_paths}) {
                            my $m = $ro{method} // 'GET';
                            $res{by_path}{"$m $path $r->{status}"}++;
                        }
                    } else {
                        $res{failures}++;
                        $res{errors}{ $r->{error} // 'no status' }++;
                    }
                }
                my $tmp = "$file.tmp";
                open my $fh, '>:raw', $tmp or die "$tmp: $!";
                print {$fh} JSON::PP->new->canonical->encode(\%res);
                close $fh or die "$tmp: $!";
                rename $tmp, $file or die "rename $tmp: $!";
            };
            if ($@) {
                print STDERR "load client $c: $@";
                $rc = 1;
            }
            _exit($rc);
        }
        push @pids, $pid;
        push @LOADS, $pid;
    }

    return bless { pids => \@pids, id => $id, clients => $clients,
                   dir => $dir, timeout => $duration + 30,
                   stop_file => $stop_file },
                 'PathStats::Test::Load';
}

# Runs start_load(%o) to completion.  Scalar context: the exact number of
# responses received (a status line arrived and the server closed the
# connection cleanly).  List context: (count, result hash with
# responses, failures, by_status, by_path, errors).
sub parallel_load {
    my (%o) = @_;
    my $res = start_load(%o)->wait;
    return wantarray ? ($res->{responses}, $res) : $res->{responses};
}

package PathStats::Test::Load;

use Time::HiRes qw(time sleep);
use POSIX qw(:sys_wait_h);

# 1 once every client has finished sending (its result file is there).
sub done {
    my ($self) = @_;
    my @left = grep { !-e "$self->{dir}/.load-$self->{id}-$_.json" }
               0 .. $self->{clients} - 1;
    return @left ? 0 : 1;
}

# Tells every client to stop after its current request, then waits.
sub stop {
    my ($self) = @_;
    if (open my $fh, '>', $self->{stop_file}) {
        close $fh;
    }
    return $self->wait;
}

# Waits for every client and merges their results.
sub wait {
    my ($self) = @_;
    my %res = (responses => 0, failures => 0, by_status => {},
               by_path => {}, errors => {}, clients_failed => 0);
    for my $c (0 .. $#{ $self->{pids} }) {
        my $pid = $self->{pids}[$c];
        my $rc = PathStats::Test::wait_pid($pid, $self->{timeout});
        if (!defined $rc) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            $rc = -1;
        }
        @LOADS = grep { $_ != $pid } @LOADS;
        my $file = "$self->{dir}/.load-$self->{id}-$c.json";
        my $data = PathStats::Test::slurp($file);
        unlink $file, $self->{stop_file};
        if ($rc != 0 || !defined $data) {
            $res{clients_failed}++;
            next;
        }
        my $r = JSON::PP->new->decode($data);
        $res{responses} += $r->{responses};
        $res{failures} += $r->{failures};
        for my $k (qw(by_status by_path errors)) {
            $res{$k}{$_} += $r->{$k}{$_} for keys %{ $r->{$k} };
        }
    }
    return \%res;
}

package PathStats::Test;


# Redis ---------------------------------------------------------------------

# Starts redis-server on a loopback port (the same port again after
# stop_redis), no persistence.  Returns the URL redis://127.0.0.1:PORT.
sub start_redis {
    my (%o) = @_;
    croak "redis already running" if $REDIS && pid_alive($REDIS->{pid});
    my $dir = test_dir();
    make_path("$dir/redis");
    my $port = $o{port} // port('redis');
    my $pid = spawn(['redis-server', '--port', $port, '--bind', '127.0.0.1',
                     '--save', '', '--appendonly', 'no', '--dir',
                     "$dir/redis", '--daemonize', 'no',
                     '--logfile', "$dir/redis.log",
                     @{ $o{args} || [] }],
                    stdout => "$dir/redis.stdout",
                    stderr => "$dir/redis.stdout", chdir => $dir);
    $REDIS = { pid => $pid, port => $port };
    my $ok = wait_until(sub {
        return -1 unless pid_alive($pid);
        my $r = eval { redis_cmd('PING') };
        return defined $r && $r eq 'PONG' ? 1 : 0;
    }, 10);
    if (!$ok || $ok == -1) {
        terminate($pid, 'KILL', 2);
        $REDIS = undef;
        croak "redis-server did not start:\n" . tail_file("$dir/redis.log", 20);
    }
    return "redis://127.0.0.1:$port";
}

# The Redis port (valid after start_redis).
sub redis_port { port('redis') }

# Stops redis-server (SIGTERM, or $o{signal}).
sub stop_redis {
    my (%o) = @_;
    return unless $REDIS;
    close $REDIS->{sock} if $REDIS->{sock};
    terminate($REDIS->{pid}, $o{signal} // 'TERM', 10);
    $REDIS = undef;
}

# Sends one command and returns its reply: a string, an integer, undef
# (nil), an arrayref (multi-bulk), or for an error reply a hash
# { error => "ERR ..." }.  Dies when Redis cannot be reached.
sub redis_cmd {
    my (@args) = @_;
    my $port = $REDIS ? $REDIS->{port} : port('redis');
    my $sock = $REDIS && $REDIS->{sock};
    if (!$sock || !$sock->connected) {
        $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp',
                                      Timeout => 5)
            or die "redis connect 127.0.0.1:$port: $!\n";
        binmode $sock;
        $REDIS->{sock} = $sock if $REDIS;
    }
    my $req = '*' . scalar(@args) . "\r\n";
    for my $a (@args) {
        my $b = Encode::is_utf8($a) ? Encode::encode('UTF-8', $a) : "$a";
        $req .= '$' . length($b) . "\r\n$b\r\n";
    }
    my $ok = eval {
        local $SIG{PIPE} = 'IGNORE';
        print {$sock} $req or die "redis write: $!\n";
        1;
    };
    my $reply = $ok ? eval { resp_read($sock) } : undef;
    if (!$ok || $@) {
        my $err = $@ || "redis write failed\n";
        close $sock;
        $REDIS->{sock} = undef if $REDIS;
        die $err;
    }
    return $reply;
}

# The Redis keys of one kind (the part after the hour and shard, e.g.
# "totals", "paths", "top") of every hour and shard, sorted.
sub redis_hour_keys {
    my ($kind) = @_;
    return sort @{ redis_cmd('KEYS', "pathstats:{*}:$kind") };
}

# A hash kind summed field by field over every hour.
sub redis_hash_sum {
    my ($kind) = @_;
    my %sum;
    for my $k (redis_hour_keys($kind)) {
        my %h = @{ redis_cmd('HGETALL', $k) };
        $sum{$_} += $h{$_} for keys %h;
    }
    return \%sum;
}

# The paths hashes summed field by field over every hour and shard: field
# => { requests, errors, bytes_in, bytes_out, latency_sum_us,
# latency_max_us (the maximum) }.
sub redis_paths_sum {
    my @names = qw(requests errors bytes_in bytes_out latency_sum_us
                   latency_max_us);
    my %sum;
    for my $k (redis_hour_keys('paths')) {
        my %h = @{ redis_cmd('HGETALL', $k) };
        for my $f (keys %h) {
            my @v = split / /, $h{$f};
            for my $i (0 .. 4) {
                $sum{$f}{ $names[$i] } += $v[$i];
            }
            $sum{$f}{latency_max_us} = $v[5]
                if ($sum{$f}{latency_max_us} // -1) < $v[5];
        }
    }
    return \%sum;
}

# A sorted set kind summed member by member over every hour.
sub redis_zset_sum {
    my ($kind) = @_;
    my %sum;
    for my $k (redis_hour_keys($kind)) {
        my %z = @{ redis_cmd('ZRANGE', $k, 0, -1, 'WITHSCORES') };
        $sum{$_} += $z{$_} for keys %z;
    }
    return \%sum;
}

sub resp_line {
    my ($sock) = @_;
    my $sel = IO::Select->new($sock);
    my $line = '';
    while ($line !~ /\r\n$/) {
        die "redis read timeout\n" unless $sel->can_read(10);
        my $n = sysread($sock, my $c, 1);
        die "redis connection closed\n" unless $n;
        $line .= $c;
    }
    $line =~ s/\r\n$//;
    return $line;
}

sub resp_read {
    my ($sock) = @_;
    my $line = resp_line($sock);
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $type eq '+';
    return { error => $rest } if $type eq '-';
    return 0 + $rest if $type eq ':';
    if ($type eq '$') {
        return undef if $rest < 0;
        my $sel = IO::Select->new($sock);
        my $buf = '';
        while (length($buf) < $rest + 2) {
            die "redis read timeout\n" unless $sel->can_read(10);
            my $n = sysread($sock, $buf, $rest + 2 - length $buf,
                            length $buf);
            die "redis connection closed\n" unless $n;
        }
        return substr($buf, 0, $rest);
    }
    if ($type eq '*') {
        return undef if $rest < 0;
        return [ map { resp_read($sock) } 1 .. $rest ];
    }
    die "redis: unexpected reply '$line'\n";
}


# PostgreSQL ----------------------------------------------------------------

sub pg_bindir {
    my @dirs = sort { ($b =~ /(\d+)/)[0] <=> ($a =~ /(\d+)/)[0] }
               grep { -x "$_/initdb" } glob('/usr/lib/postgresql/*/bin');
    croak "PostgreSQL server binaries not found under /usr/lib/postgresql"
        unless @dirs;
    return $dirs[0];
}

# Runs a PostgreSQL server binary as the cluster's owner: nobody when the
# tests run as root (initdb and postgres refuse root), else ourselves.
sub pg_run {
    my ($cmd, %o) = @_;
    my @cmd = @$cmd;
    @cmd = ('runuser', '-u', 'nobody', '--', @cmd) if $IS_ROOT;
    return run_cmd(\@cmd, chdir => test_dir(), %o);
}

# Starts a PostgreSQL cluster in <dir>/pg on a loopback port (initdb on
# first use; the same data and port after stop_postgres).  Superuser
# "pathstats", trust authentication on 127.0.0.1, unix socket inside the
# data directory.  Runs as nobody when the tests run as root.  %o:
# settings (hash of extra postgresql.conf settings).  Returns the conninfo
# "host=127.0.0.1 port=P dbname=postgres user=pathstats".
sub start_postgres {
    my (%o) = @_;
    my $dir = test_dir();
    my $bin = pg_bindir();
    my $port = $o{port} // port('postgres');
    my $data = "$dir/pg/data";
    my $log = "$dir/pg/postgres.log";

    if (!-f "$data/PG_VERSION") {
        make_path("$dir/pg");
        chmod 0700, "$dir/pg";
        if ($IS_ROOT) {
            my ($uid, $gid) = (getpwnam('nobody'))[2, 3];
            chown $uid, $gid, "$dir/pg" or croak "chown $dir/pg: $!";
        }
        my ($rc, $out, $err) = pg_run(["$bin/initdb", '-D', $data,
                                       '-U', 'pathstats', '--auth=trust',
                                       '-E', 'UTF8', '--locale=C',
                                       '--no-sync', '--no-instructions']);
        croak "initdb failed ($rc):\n$out$err" if $rc != 0;
        my %set = (
            port                    => $port,
            listen_addresses        => "'127.0.0.1'",
            unix_socket_directories => "'$dir/pg'",
            shared_buffers          => '16MB',
            max_connections         => 40,
            max_wal_size            => '256MB',
            logging_collector       => 'off',
            log_min_messages        => 'warning',
            log_line_prefix         => "'%m [%p] '",
            dynamic_shared_memory_type => 'posix',
            %{ $o{settings} || {} },
        );
        open my $fh, '>>', "$data/postgresql.conf" or croak "$data: $!";
        print {$fh} "\n# pathstats test harness\n";
        print {$fh} "$_ = $set{$_}\n" for sort keys %set;
        close $fh;
    }

    my ($rc, $out, $err) = pg_run(["$bin/pg_ctl", '-D', $data, '-l', $log,
                                   '-w', '-t', '30', 'start'],
                                  timeout => 60);
    if ($rc != 0) {
        croak "pg_ctl start failed ($rc):\n$out$err" . tail_file($log, 20);
    }
    my $pid = (split /\n/, slurp("$data/postmaster.pid") // '')[0];
    my $conninfo = "host=127.0.0.1 port=$port dbname=postgres user=pathstats";
    $PG = { pid => $pid, port => $port, data => $data, log => $log,
            conninfo => $conninfo };
    return $conninfo;
}

# The conninfo of the running cluster.
sub pg_conninfo {
    return $PG ? $PG->{conninfo}
         : "host=127.0.0.1 port=" . port('postgres')
           . " dbname=postgres user=pathstats";
}

# The PostgreSQL port.
sub pg_port { port('postgres') }

# Stops PostgreSQL: mode fast (SIGINT, default), immediate (SIGQUIT,
# a crash as far as the database is concerned) or smart (SIGTERM).
sub stop_postgres {
    my (%o) = @_;
    return unless $PG;
    my $sig = { fast => 'INT', immediate => 'QUIT',
                smart => 'TERM' }->{ $o{mode} // 'fast' } // 'INT';
    my $pid = $PG->{pid};
    if ($pid) {
        kill $sig, $pid;
        my $gone = wait_until(sub { !pid_alive($pid) }, $o{timeout} // 30);
        if (!$gone) {
            diag("postgres $pid did not stop; killing it");
            kill 'KILL', $pid;
            wait_until(sub { !pid_alive($pid) }, 5);
        }
    }
    $PG = undef;
}

# Runs SQL with psql (-X -A -t -F '|', ON_ERROR_STOP) against $o{conninfo}
# (default the harness cluster).  List context: rows as arrayrefs of
# strings (NULL is ""); scalar context: the first column of the first row.
# Dies with psql's message when the SQL fails.
sub psql_query {
    my ($sql, %o) = @_;
    my $conninfo = $o{conninfo} // pg_conninfo();
    my ($rc, $out, $err) = run_cmd(['psql', '-X', '-A', '-t', '-q', '-F', '|',
                                    '-v', 'ON_ERROR_STOP=1', '-d', $conninfo,
                                    '-c', $sql], timeout => $o{timeout} // 60,
                                   env => { PGCONNECT_TIMEOUT => 5 });
    die "psql failed ($rc): $err\n" if $rc != 0;
    my @rows = map { [ split /\|/, $_, -1 ] } grep { length } split /\n/, $out;
    return @rows if wantarray;
    return @rows ? $rows[0][0] : undef;
}

# start_postgres(), then the aggregator's --migrate against it, tested to
# exit 0; returns the conninfo.
sub start_migrated_postgres {
    my $pg = start_postgres(@_);
    my ($rc, undef, $err) = run_aggregator('--postgres', $pg, '--migrate');
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is($rc, 0, 'schema migrated (--migrate exits 0)') or diag($err);
    return $pg;
}

# SUM(requests) of pathstats_hourly in the harness's PostgreSQL: what the
# exactness tests compare with the requests served.  -1 while it cannot
# be queried (stopped, restarting).
sub pg_requests {
    my $v = eval {
        psql_query('SELECT coalesce(sum(requests), 0) FROM pathstats_hourly')
    };
    return $v // -1;
}

# Waits up to $timeout seconds (default 20) for PostgreSQL to hold at
# least $want requests, then half a second more, in which a late double
# count would show, and tests that it holds exactly $want.
sub is_pg_requests {
    my ($want, $what, $timeout) = @_;
    wait_until(sub { pg_requests() >= $want }, $timeout // 20, 0.2);
    sleep 0.5;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return is(pg_requests(), $want, $what);
}

# The requests nginx served but counted as not recorded, from a zone's
# totals (zone_stats()->{totals}): dropped on a full ring, lost in a
# dead worker's slot, or without a ring.
sub zone_drops {
    my ($t) = @_;
    return $t->{dropped} + $t->{lost} + $t->{no_ring};
}

# The 32-byte units one request's record takes in a ring (layout 3,
# include/pathstats_shm.h): a 40-byte header, the client address (addr
# bytes, 4 for IPv4), 4 bytes of upstream time when proxied, then the
# method, the host (the server_name) and the key; a ring of
# ring_capacity units holds ring_capacity / record_units(...) of them.
sub record_units {
    my (%r) = @_;
    my $bytes = 40 + ($r{addr} // 4) + ($r{upstream} ? 4 : 0)
                + length($r{method} // 'GET') + length($r{host} // '_')
                + length($r{path} // '/');
    return int(($bytes + 31) / 32);
}


# Aggregator ----------------------------------------------------------------

# Writes the aggregator configuration test_dir()/$name.conf from key,
# value pairs, in order (values with a space are quoted); returns its
# path.
sub write_aggregator_conf {
    my ($name, @kv) = @_;
    my $file = test_dir() . "/$name.conf";
    my $text = '';
    while (my ($k, $v) = splice @kv, 0, 2) {
        $v = qq{"$v"} if $v =~ /\s/;
        $text .= "$k = $v\n";
    }
    spew($file, $text);
    return $file;
}

# The command that runs the aggregator: $o{bin} (an array ref, e.g. an
# installed aggregator under setpriv) or the one built in build_dir().
sub aggregator_cmd {
    my (%o) = @_;
    return @{ $o{bin} } if $o{bin};
    my $bin = aggregator_path();
    croak "aggregator not built: $bin" unless -x $bin;
    return ($bin);
}

# Runs the aggregator to completion with @args; returns ($exit_code,
# $stdout, $stderr).  A leading hash ref gives options: timeout (30 s),
# env, bin (aggregator_cmd).
sub run_aggregator {
    my (@args) = @_;
    my %o = ref $args[0] eq 'HASH' ? %{ shift @args } : ();
    my @r = run_cmd([aggregator_cmd(%o), @args], chdir => test_dir(),
                    timeout => $o{timeout} // 30, env => $o{env});
    check_sanitizer("aggregator @args", $r[2]);
    return @r;
}

# Starts the aggregator in the background with @args (a leading hash ref
# gives options: env, name, bin (aggregator_cmd)).  Returns a handle:
# { pid, stdout, stderr } (file paths).  Stopped by stop_aggregator or at
# exit.
sub start_aggregator {
    my (@args) = @_;
    my %o = ref $args[0] eq 'HASH' ? %{ shift @args } : ();
    my @cmd = aggregator_cmd(%o);
    my $dir = test_dir();
    my $n = ++$T_SEQ;
    my $name = $o{name} // "aggregator-$n";
    my $h = { stdout => "$dir/$name.out", stderr => "$dir/$name.err",
              args => \@args };
    unlink $h->{stdout}, $h->{stderr};
    $h->{pid} = spawn([@cmd, @args], stdout => $h->{stdout},
                      stderr => $h->{stderr}, chdir => $dir,
                      env => $o{env});
    push @AGGREGATORS, $h;
    return $h;
}

# Stops a started aggregator with $sig (default TERM) and waits up to
# $timeout seconds (default 15, then SIGKILL).  Returns its exit code
# (128 + signal if killed by one).
sub stop_aggregator {
    my ($h, $sig, $timeout) = @_;
    return undef unless $h && $h->{pid};
    kill $sig // 'TERM', $h->{pid};
    my $rc = wait_pid($h->{pid}, $timeout // 15);
    if (!defined $rc) {
        diag("aggregator $h->{pid} ignored SIG" . ($sig // 'TERM')
             . "; killing it");
        kill 'KILL', -$h->{pid};
        $rc = wait_pid($h->{pid}, 5) // -1;
    }
    @AGGREGATORS = grep { $_ != $h } @AGGREGATORS;
    $h->{pid} = undef;
    $h->{exit} = $rc;
    check_sanitizer("aggregator", slurp($h->{stderr}) // '');
    return $rc;
}

# Decodes JSON lines strictly (valid UTF-8, one object per line).
# Returns (\@objects, \@bad_lines).
sub decode_json_lines {
    my ($text) = @_;
    my (@ok, @bad);
    for my $line (split /\n/, $text // '') {
        next unless length $line;
        my $obj = eval {
            my $copy = $line;
            Encode::decode('UTF-8', $copy, Encode::FB_CROAK);
            $JSON->decode($line);
        };
        if (ref $obj eq 'HASH') {
            push @ok, $obj;
        } else {
            push @bad, $line;
        }
    }
    return (\@ok, \@bad);
}

# The zone's counters: `pathstats-aggregator --zone FILE --stats`
# decoded.  Dies if the command fails or prints no JSON.
sub zone_stats {
    my ($zone) = @_;
    my ($rc, $out, $err) = run_aggregator('--zone', $zone // zone_file(),
                                          '--stats');
    die "--stats failed ($rc): $err\n" if $rc != 0;
    my $s = eval { $JSON->decode($out) };
    die "--stats printed no JSON: $@$out\n" unless ref $s eq 'HASH';
    return $s;
}

# Polls zone_stats until $cond->($stats) is true (timeout seconds,
# default 10); returns the last stats.
sub wait_for_stats {
    my ($cond, $timeout, $zone) = @_;
    my $s;
    wait_until(sub { $s = zone_stats($zone); $cond->($s) }, $timeout // 10,
               0.1);
    return $s;
}

# Byte offset and pack format of the zone header's fields
# (include/pathstats_shm.h, ps_zone_header_t).
my %ZONE_FIELD = (
    magic => [0, 'Q<'], layout_version => [8, 'L<'],
    file_size => [24, 'Q<'], zone_id => [32, 'Q<'],
    ring_count => [48, 'L<'], ring_capacity => [52, 'L<'],
    ring_desc_off => [56, 'Q<'], rings_off => [64, 'Q<'],
    rings_size => [72, 'Q<'], snapshot_off => [80, 'Q<'],
    snapshot_size => [88, 'Q<'], no_ring => [96, 'Q<'],
    master_pid => [104, 'Q<'], attach_count => [112, 'Q<'],
    snapshot_version => [208, 'Q<'], buf_off0 => [216, 'Q<'],
    buf_off1 => [224, 'Q<'], buf_size => [232, 'Q<'],
);

# Reads a field of a zone file's header with pread(2), or writes $value
# into it with pwrite(2) first (what a local writer of the file can do
# while nginx and the aggregator have it mapped).  $zone defaults to
# zone_file().  Returns the field's value (undef if the file is too
# short).
sub zone_field {
    my ($name, $value, $zone) = @_;
    my $f = $ZONE_FIELD{$name} or croak "no zone header field $name";
    my ($off, $fmt) = @$f;
    my $len = length pack($fmt, 0);
    $zone //= zone_file();
    sysopen(my $fh, $zone, defined $value ? O_RDWR : O_RDONLY)
        or croak "open $zone: $!";
    if (defined $value) {
        sysseek($fh, $off, 0) or croak "seek $zone: $!";
        syswrite($fh, pack($fmt, $value)) == $len or croak "write $zone: $!";
    }
    sysseek($fh, $off, 0) or croak "seek $zone: $!";
    my $n = sysread($fh, my $buf, $len);
    close $fh;
    return undef unless ($n // 0) == $len;
    return unpack($fmt, $buf);
}

# Drains the zone with `--tail --once`; returns (\@records, \@bad_lines,
# $exit_code, $stderr).
sub tail_once {
    my ($zone, @extra) = @_;
    my ($rc, $out, $err) = run_aggregator({ timeout => 60 }, '--zone',
                                          $zone // zone_file(), '--tail',
                                          '--once', @extra);
    my ($recs, $bad) = decode_json_lines($out);
    return ($recs, $bad, $rc, $err);
}


# Webhook receiver ----------------------------------------------------------

# Starts a local HTTP receiver for the aggregator's alert_webhook: a
# forked process on a loopback port that records every request it gets
# (method, path, content type and body, one JSON line each) and answers
# as its mode says.  %o: mode (default "200").  Modes: a status code
# ("200", "500", ...), "hang" (read the request, answer nothing until the
# client gives up), "close" (close without an answer).  Returns a handle:
# ->url, ->port, ->requests (the recorded requests, oldest first, each a
# hash with method, path, content_type, body, json = the decoded body or
# undef), ->bodies (the decoded JSON bodies), ->set_mode($mode), ->stop
# (the port then refuses connections), ->start (again, same port).
sub start_receiver {
    my (%o) = @_;
    my $dir = test_dir();
    my $n = ++$T_SEQ;
    my $h = bless { port => $o{port} // free_port(),
                    log => "$dir/receiver-$n.log",
                    mode_file => "$dir/receiver-$n.mode" },
                  'PathStats::Test::Receiver';
    spew($h->{log}, '');
    $h->set_mode($o{mode} // '200');
    $h->start;
    return $h;
}

# GET /pathstats/metrics (or $o{path}) parsed: a hash of
# "name{label="value",...}" (labels as exposed, in their order) => value,
# and in list context also the raw text.  Empty when the request fails.
sub metrics_get {
    my (%o) = @_;
    my ($st, $body) = http_get($o{path} // '/pathstats/metrics', %o);
    my %m;
    if (defined $st && $st == 200) {
        for my $line (split /\n/, $body // '') {
            next if $line =~ /^#/ || $line !~ /\S/;
            my ($k, $v) = $line =~ /^(\S+(?:\{.*\})?)\s+(\S+)$/ or next;
            $m{$k} = $v;
        }
    }
    return wantarray ? (\%m, $body // '') : \%m;
}

package PathStats::Test::Receiver;

use IO::Socket::INET;
use IO::Select;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);

sub url { my ($self) = @_; return "http://127.0.0.1:$self->{port}/hook" }
sub port { $_[0]{port} }

sub set_mode {
    my ($self, $mode) = @_;
    my $tmp = "$self->{mode_file}.tmp";
    PathStats::Test::spew($tmp, $mode);
    rename $tmp, $self->{mode_file} or die "rename $tmp: $!";
}

sub start {
    my ($self) = @_;
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => $self->{port},
                                     Proto => 'tcp', Listen => 16,
                                     ReuseAddr => 1)
        or die "receiver: cannot listen on $self->{port}: $!";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        $SIG{TERM} = sub { _exit(0) };
        while (my $c = $sock->accept) {
            $self->serve($c);
            close $c;
        }
        _exit(0);
    }
    close $sock;
    $self->{pid} = $pid;
    push @RECEIVERS, $pid;
    return $self;
}

# One connection: reads one request, records it, answers by the mode.
sub serve {
    my ($self, $c) = @_;
    binmode $c;
    my $buf = '';
    my $sel = IO::Select->new($c);
    my $deadline = time + 10;
    my ($head, $len);
    while (time < $deadline) {
        if (!defined $head && (my $i = index($buf, "\r\n\r\n")) >= 0) {
            $head = substr($buf, 0, $i);
            $buf = substr($buf, $i + 4);
            ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
            $len //= 0;
        }
        last if defined $head && length($buf) >= $len;
        last unless $sel->can_read($deadline - time);
        my $n = sysread($c, $buf, 65536, length $buf);
        last unless $n;
    }
    return unless defined $head;
    my ($method, $path) = $head =~ /^(\S+)\s+(\S+)/;
    my ($ctype) = $head =~ /^Content-Type:\s*([^\r\n]*)/mi;
    my $rec = JSON::PP->new->canonical->encode({
        method => $method, path => $path, content_type => $ctype,
        body => substr($buf, 0, $len), t => time });
    open my $fh, '>>', $self->{log} or die "$self->{log}: $!";
    print {$fh} "$rec\n";
    close $fh;

    my $mode = PathStats::Test::slurp($self->{mode_file}) // '200';
    if ($mode eq 'hang') {
        # until the client gives up and closes
        $sel->can_read(60);
        return;
    }
    return if $mode eq 'close';
    my $st = $mode =~ /^\d{3}$/ ? $mode : 200;
    my $r = "HTTP/1.1 $st X\r\nContent-Length: 2\r\nConnection: close\r\n"
            . "\r\nok";
    syswrite($c, $r);
}

sub requests {
    my ($self) = @_;
    my @r;
    for my $line (split /\n/, PathStats::Test::slurp($self->{log}) // '') {
        my $x = eval { JSON::PP->new->decode($line) } or next;
        $x->{json} = eval { JSON::PP->new->utf8->decode($x->{body}) };
        push @r, $x;
    }
    return @r;
}

sub bodies {
    my ($self) = @_;
    return map { $_->{json} } $self->requests;
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'TERM', $self->{pid};
    PathStats::Test::wait_pid($self->{pid}, 5);
    @RECEIVERS = grep { $_ != $self->{pid} } @RECEIVERS;
    $self->{pid} = undef;
}

package PathStats::Test;


# Logs and teardown ---------------------------------------------------------

my @SANITIZER_HITS;

sub check_sanitizer {
    my ($what, $text) = @_;
    return unless defined $text;
    if ($text =~ /(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|
                   WARNING: ThreadSanitizer)[^\n]*/x) {
        push @SANITIZER_HITS, "$what: $&";
    }
}

# Asserts that nginx's error log has no [alert] or [emerg] line (and no
# sanitizer report anywhere), and that no nginx process exited on a
# signal.  %o: allow => [qr/.../, ...] lines that the test expects; a
# line "... exited on signal N" is excused only by a pattern that itself
# says "exited on signal" (a test that kills a worker names it: e.g.
# qr/worker process $pid exited on signal 9/), never by a broader one
# that a test allows for an expected [alert].  One test.
sub check_error_logs {
    my (%o) = @_;
    my @allow = @{ $o{allow} || [] };
    my @kills = grep { "$_" =~ /exited on signal/ } @allow;
    my $dir = test_dir();
    my @bad;
    for my $f ("$dir/error.log", "$dir/nginx.stderr", @EXTRA_LOGS) {
        my $log = slurp($f) // next;
        for my $line (split /\n/, $log) {
            if ($line =~ /exited on signal/) {
                push @bad, $line unless grep { $line =~ $_ } @kills;
                next;
            }
            next unless $line =~ /\[(alert|emerg)\]/
                        || $line =~ /AddressSanitizer|LeakSanitizer|
                                     runtime\ error:/x;
            next if grep { $line =~ $_ } @allow;
            push @bad, $line;
        }
    }
    for my $h (@AGGREGATORS) {
        check_sanitizer("aggregator", slurp($h->{stderr}) // '');
    }
    # the report files of a sanitizer build (ASAN/UBSAN_OPTIONS log_path)
    for my $f (sort glob "$dir/sanitizer/*") {
        my $text = slurp($f) // next;
        next unless $text =~ /\S/;
        my ($line) = $text =~ /^(.*(?:ERROR|runtime error|SUMMARY).*)$/m;
        ($line) = $text =~ /^\s*(\S.*)$/m unless defined $line;
        my $name = $f;
        $name =~ s{.*/}{};
        push @bad, "sanitizer report $name: $line";
    }
    push @bad, @SANITIZER_HITS;
    my $ok = ok(!@bad, 'no [alert], [emerg], worker killed by a signal or '
                       . 'sanitizer report in the logs');
    diag(join "\n", @bad[0 .. ($#bad > 19 ? 19 : $#bad)]) unless $ok;
    return $ok;
}

# Ends a test file: check_error_logs(%o), then done_testing.  On failure,
# prints the tail of nginx's error log.
sub finish {
    my (%o) = @_;
    check_error_logs(%o);
    if (!Test::More->builder->is_passing && defined $DIR) {
        diag("error log tail:\n" . tail_file("$DIR/error.log", 30));
    }
    done_testing();
}

# Another nginx's error log (or stderr) that check_error_logs checks too:
# for tests that run more than one nginx (t/lib/PathStats/Fleet.pm).
sub add_error_log {
    my ($file) = @_;
    push @EXTRA_LOGS, $file unless grep { $_ eq $file } @EXTRA_LOGS;
}

# Runs $sub at cleanup (at exit, even when the test dies), before the
# harness stops what it started; the last added runs first.
sub at_cleanup {
    my ($sub) = @_;
    unshift @CLEANUPS, $sub;
}

sub cleanup {
    return unless $$ == $OWNER;
    local ($?, $!, $@);
    eval { $_->() } for @CLEANUPS;
    @CLEANUPS = ();
    kill 'KILL', $_ for @LOADS;
    waitpid($_, 0) for @LOADS;
    @LOADS = ();
    for my $h (@AGGREGATORS) {
        next unless $h->{pid};
        kill 'TERM', $h->{pid};
        if (!defined wait_pid($h->{pid}, 5)) {
            kill 'KILL', -$h->{pid};
            wait_pid($h->{pid}, 2);
        }
    }
    @AGGREGATORS = ();
    for my $pid (@RECEIVERS) {
        kill 'TERM', $pid;
        wait_pid($pid, 2);
    }
    @RECEIVERS = ();
    eval { stop_nginx(timeout => 10) } if $NGINX;
    eval { stop_redis() } if $REDIS;
    eval { stop_postgres(timeout => 20) } if $PG;
}

$SIG{INT} = $SIG{TERM} = sub { cleanup(); exit 130 };

END { cleanup() }

1;
