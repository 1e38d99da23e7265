# The Debian packages as an operator uses them, on this machine's nginx:
# scripts/build-packages.sh builds them (lintian-clean); apt-get installs
# them; nginx -t passes with the module enabled through modules-enabled;
# --check passes with the packaged configuration as the pathstats user;
# requests are counted exactly through the admin location.  A newer
# build installed over it keeps the zone's counters across nginx's
# reload, runs the schema migration its aggregator needs and keeps the
# changed conffile.  apt-get purge then leaves the machine as it was.
#
# Installs into the real system, so it runs as root, one copy at a time
# (a lock), and never while pathstats packages that it did not install
# are there.  Skipped, with the reason, where packages cannot be built.
use strict;
use warnings;
use lib 't/lib';
use Fcntl qw(:flock);
use JSON::PP ();
use POSIX qw(strftime);
use Test::More;
use Time::HiRes qw(time sleep);
use PathStats::Test;

my @PKGS = qw(libnginx-mod-http-pathstats pathstats-aggregator pathstats);
my $CONF = '/etc/pathstats/aggregator.conf';
my $ZONE = '/var/lib/pathstats/zone';
my $AGG = '/usr/sbin/pathstats-aggregator';
my $LINK = '/etc/nginx/modules-enabled/50-mod-http-pathstats.conf';
my $SNIPPET = '/usr/share/nginx/modules-available/mod-http-pathstats.conf';
my $JSON = JSON::PP->new->utf8;
# the installed aggregator as the service runs it: user pathstats with
# its groups (www-data among them)
my @AS_PATHSTATS = ('setpriv', '--reuid=pathstats', '--regid=pathstats',
                    '--init-groups', '--');
my $repo = repo_dir();
my $OWNER = $$;

# the harness's process helpers (not exported)
sub run_cmd  { PathStats::Test::run_cmd(@_) }
sub spawn    { PathStats::Test::spawn(@_) }
sub wait_pid { PathStats::Test::wait_pid(@_) }

# dpkg's "Status Version" of a package ("" when dpkg never had it)
sub pkg_status {
    my ($pkg) = @_;
    return scalar `dpkg-query -W -f '\${Status} \${Version}' $pkg 2>/dev/null`;
}

sub installed_version {
    my ($pkg) = @_;
    return pkg_status($pkg) =~ /^install ok installed (\S+)$/ ? $1 : undef;
}

# installed, unpacked, or removed with its configuration left
sub present {
    my $state = (split ' ', pkg_status($_[0]))[2];
    return defined $state && $state ne 'not-installed';
}

# Preconditions ---------------------------------------------------------

plan skip_all => 'installs packages into the system: needs root' if $> != 0;
plan skip_all => 'a sanitizer run: the packages are a plain build, tested '
               . 'by the plain suite' if sanitize();
plan skip_all => 'dpkg-buildpackage cannot run here (not Debian, or '
               . 'dpkg-dev missing)'
    unless -f '/etc/debian_version' && -x '/usr/bin/dpkg-buildpackage';
plan skip_all => 'Debian\'s nginx and nginx-dev are not installed'
    unless installed_version('nginx') && installed_version('nginx-dev');
{
    my $missing = `cd '$repo' && dpkg-checkbuilddeps 2>&1`;
    plan skip_all => "build dependencies missing: $missing" if $? != 0;
}

# one run at a time on this machine: it installs and purges packages
my $lock_file = '/run/lock/pathstats-packages-test.lock';
open my $lock, '>', $lock_file or die "$lock_file: $!";
my $waited = time;
until (flock $lock, LOCK_EX | LOCK_NB) {
    plan skip_all => "another t/packages.t held $lock_file for 20 minutes"
        if time - $waited > 1200;
    sleep 1;
}

# the packages' triggers reload Debian's nginx service when it runs (its
# configuration from /etc/nginx; the harness's nginx instances have their
# own, with -c): never under whoever relies on it
{
    my @system;
    opendir my $dh, '/proc' or die "/proc: $!";
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        my $title = slurp("/proc/$pid/cmdline") // next;
        push @system, $pid
            if $title =~ /^nginx: master process/ && $title !~ / -c /;
    }
    closedir $dh;
    plan skip_all => "Debian's nginx service runs (master @system): the "
                   . 'packages would reload it' if @system;
}

my @there = grep { present($_) } @PKGS;
plan skip_all => "pathstats packages are on this machine (@there) and this "
               . "test would purge them; apt-get purge @there to run it"
    if @there;

# State --------------------------------------------------------------------

my $dir = test_dir();
my $started = time;
my ($INSTALLED, $BUILD2, $LINTIAN, $AGGR);

# What the packages touch, listed before they are installed and after
# they are purged: the file trees (path and type), the accounts, the
# units' enablement state, dpkg's records.
sub machine_state {
    my @roots = qw(/etc/nginx /usr/lib/nginx /var/lib/nginx
                   /usr/share/nginx/modules-available /etc/systemd/system
                   /var/lib/systemd/deb-systemd-helper-enabled
                   /var/lib/systemd/deb-systemd-helper-masked /etc/logrotate.d
                   /etc/pathstats /usr/share/pathstats /var/lib/pathstats
                   /var/log/pathstats /usr/share/doc/pathstats
                   /usr/share/doc/pathstats-aggregator
                   /usr/share/doc/libnginx-mod-http-pathstats);
    my @files;
    for my $root (@roots) {
        next unless -e $root || -l $root;
        push @files, split /\n/,
            `find '$root' -printf '%p %y %m %u %g\n' 2>/dev/null | sort`;
    }
    # /run/nginx.pid: Debian's nginx service is not started by a trigger
    push @files, grep { -e $_ }
        qw(/run/nginx.pid /usr/sbin/pathstats-aggregator
           /usr/share/man/man8/pathstats-aggregator.8.gz
           /usr/share/man/man5/ngx_http_pathstats_module.5.gz),
        glob('/var/lib/dpkg/info/*pathstats*');
    my @accounts = grep { /pathstats|^www-data:/ }
                   split /\n/, (slurp('/etc/passwd') // '')
                               . (slurp('/etc/group') // '');
    # what dpkg has installed: apt-get install pulls in nothing more
    my @packages = grep { !/pathstats/ } split /\n/,
        `dpkg-query -W -f '\${db:Status-Abbrev}\${Package} \${Version}\n'`;
    return { files => \@files, accounts => \@accounts,
             packages => \@packages };
}

# nginx -t with the system configuration makes nginx's temporary
# directories in /var/lib/nginx and gives them to its user: put them back
# as they were
my %nginx_tmp = map { $_ => [ (stat $_)[4, 5] ] } glob('/var/lib/nginx/*');
# and it creates the pid file (empty) when none is there: remove it again
my $had_pid_file = -e '/run/nginx.pid';

sub system_nginx_t {
    my @r = run_cmd(['/usr/sbin/nginx', '-t']);
    unlink '/run/nginx.pid' if !$had_pid_file && -z '/run/nginx.pid';
    for my $d (glob('/var/lib/nginx/*')) {
        if ($nginx_tmp{$d}) {
            chown @{ $nginx_tmp{$d} }, $d;
        } else {
            rmdir $d;
        }
    }
    return @r;
}

sub apt_get {
    my (@args) = @_;
    my ($rc, $out, $err) = run_cmd(
        ['apt-get', '-y', '-o', 'DPkg::Lock::Timeout=600',
         '-o', 'Dpkg::Use-Pty=0', @args],
        timeout => 900, env => { DEBIAN_FRONTEND => 'noninteractive' });
    return ($rc, $out . $err);
}

sub purge_all {
    my @p = grep { present($_) } @PKGS;
    return (0, '') unless @p;
    return apt_get('purge', @p);
}

# a run that dies leaves nothing installed, nothing running
END {
    if ($$ == $OWNER) {
        local ($?, $!, $@);
        kill 'TERM', -$_ for grep { defined } $BUILD2, $LINTIAN;
        eval { stop_aggregator($AGGR) } if $AGGR && $AGGR->{pid};
        eval { stop_nginx() };
        if ($INSTALLED) {
            my ($rc, $out) = purge_all();
            diag("cleanup: apt-get purge failed ($rc):\n$out") if $rc;
        }
    }
}

sub read_json {
    my ($path) = @_;
    my ($st, $body) = http_get($path);
    return undef unless defined $st && $st == 200;
    return eval { $JSON->decode($body) };
}

# requests of $path (host pkg.test) in /api/paths' $window, or -1
sub admin_count {
    my ($path, $window) = @_;
    my $d = read_json("/pathstats/api/paths?host=pkg.test&q=$path"
                      . "&window=$window") // return -1;
    my ($row) = grep { $_->{path} eq $path } @{ $d->{data} || [] };
    return $row ? $row->{requests} : 0;
}

sub is_admin_count {
    my ($path, $window, $want, $what) = @_;
    wait_until(sub { admin_count($path, $window) >= $want }, 20, 0.2);
    sleep 1;        # a late double count would show
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return is(admin_count($path, $window), $want, $what);
}

sub mode_owner {
    my ($path) = @_;
    my @st = stat $path or return 'missing';
    return sprintf '%04o %s:%s', $st[2] & 07777, scalar getpwuid($st[4]),
           scalar getgrgid($st[5]);
}


sub stats {
    my ($rc, $out, $err) = run_cmd([$AGG, '--zone', $ZONE, '--stats']);
    die "--stats failed ($rc): $err" if $rc != 0;
    return $JSON->decode($out);
}

my $version = do {
    my ($v) = (slurp("$repo/CMakeLists.txt") // '')
              =~ /^project\(pathstats VERSION ([0-9][0-9.]*)/m;
    $v;
};
ok($version, "CMakeLists.txt's project() has a version ($version)");
(my $version2 = $version) =~ s/(\d+)$/$1 + 1/e;

# Build ----------------------------------------------------------------

my $before = machine_state();
note('building the packages (scripts/build-packages.sh)');
my $t0 = time;
my ($rc, $out, $err) = run_cmd(["$repo/scripts/build-packages.sh",
                                "$dir/v1"], timeout => 900,
                               env => { PS_DEB_LINTIAN => 0,
                                        TMPDIR => $dir });
is($rc, 0, 'scripts/build-packages.sh builds the packages')
    or BAIL_OUT("build failed:\n$out$err");
note(sprintf 'built in %.0f s', time - $t0);
my @debs = map { "$dir/v1/${_}_${version}_" . ($_ eq 'pathstats' ? 'all'
                                                  : 'amd64') . '.deb' } @PKGS;
ok(-f $_, "built $_") for @debs;

# lintian, while the upgrade build and the first install run
$LINTIAN = spawn(
    ['lintian', '--fail-on', 'error,warning', '--no-tag-display-limit',
     @debs], stdout => "$dir/lintian.out", stderr => "$dir/lintian.out")
    if -x '/usr/bin/lintian';

# The upgrade: the same tree as a newer version whose aggregator needs
# one more schema migration, built in the background.
my $src2 = "$dir/src2";
($rc, $out, $err) = run_cmd(["$repo/scripts/build-packages.sh", '--export',
                             $src2]);
is($rc, 0, 'build-packages.sh --export copies the source') or diag($err);
my $migrate_h = "$src2/aggregator/store/pg/migrate.h";
my ($schema) = (slurp($migrate_h) // '') =~ /#define PS_SCHEMA_VERSION\s+(\d+)/;
ok($schema, "the aggregator knows schema version $schema");
my $schema2 = $schema + 1;
my $migration2 = sprintf '%03d_package_upgrade.sql', $schema2;
{
    my $h = slurp($migrate_h);
    $h =~ s/(#define PS_SCHEMA_VERSION\s+)\d+/$1$schema2/;
    spew($migrate_h, $h);
    spew("$src2/schema/$migration2",
         "CREATE TABLE pathstats_package_upgrade (note text);\n");
    my $c = slurp("$src2/CMakeLists.txt");
    $c =~ s/^(project\(pathstats VERSION )\Q$version\E/$1$version2/m;
    spew("$src2/CMakeLists.txt", $c);
    my $date = strftime('%a, %d %b %Y %H:%M:%S +0000', gmtime);
    spew("$src2/debian/changelog", <<"EOF" . slurp("$src2/debian/changelog"));
pathstats ($version2) bookworm; urgency=medium

  * t/packages.t's upgrade: schema migration $schema2.

 -- pathstats test <test\@localhost>  $date

EOF
}
$BUILD2 = spawn(
    ["$src2/scripts/build-packages.sh", "$dir/v2"],
    stdout => "$dir/build2.log", stderr => "$dir/build2.log",
    env => { PS_DEB_LINTIAN => 0, TMPDIR => $dir,
             DEB_BUILD_OPTIONS => 'nocheck noautodbgsym parallel=2' });

# Install -----------------------------------------------------------------

$INSTALLED = 1;
($rc, $out) = apt_get('install', @debs);
is($rc, 0, 'apt-get install ./*.deb installs the packages') or diag($out);
is(installed_version($_), $version, "$_ $version is installed") for @PKGS;

my $abi = (`dpkg-query -W -f '\${Provides}' nginx` =~ /(nginx-abi-[^\s,]+)/)[0];
like(`dpkg-query -W -f '\${Depends}' libnginx-mod-http-pathstats`,
     qr/(?:^|, )\Q$abi\E(?:,|$)/,
     "the module depends on the ABI of this machine's nginx ($abi)");
ok(-f '/usr/lib/nginx/modules/ngx_http_pathstats_module.so',
   'the module is in /usr/lib/nginx/modules');
is(slurp($SNIPPET), "load_module modules/ngx_http_pathstats_module.so;\n",
   "$SNIPPET loads it");
is(readlink($LINK), $SNIPPET, "$LINK enables it");

my @pw = getpwnam('pathstats');
ok(@pw && $pw[2] < 1000, 'a system user pathstats');
is(scalar getgrgid($pw[3] // -1), 'pathstats', 'with its own group');
like((getgrnam('www-data'))[3], qr/(?:^|\s)pathstats(?:\s|$)/,
     'pathstats is in nginx\'s worker group www-data (the zone\'s group)');
is(mode_owner('/var/lib/pathstats'), '0750 root:www-data',
   '/var/lib/pathstats: only root creates files, only www-data enters');
is(mode_owner('/var/lib/pathstats/spool'), '0750 pathstats:pathstats',
   'the spool is the aggregator\'s');
is(mode_owner('/var/log/pathstats'), '2750 pathstats:adm',
   'the log directory');
is(mode_owner($CONF), '0640 root:pathstats',
   'the configuration is readable by pathstats only (it may hold a password)');
like(`dpkg-query -W -f '\${Conffiles}' pathstats-aggregator`,
     qr{^ \Q$CONF\E [0-9a-f]{32}$}m, "$CONF is a conffile");

my $unit_file = '/lib/systemd/system/pathstats-aggregator.service';
my $unit = slurp($unit_file) // '';
like($unit, qr/^\Q$_\E$/m, "the unit has $_")
    for 'User=pathstats', 'NoNewPrivileges=yes', 'ProtectSystem=strict',
        'PrivateTmp=yes',
        'ReadWritePaths=/var/lib/pathstats /var/log/pathstats',
        'Restart=always', 'RestartPreventExitStatus=2 3 4',
        "ExecStart=$AGG -c $CONF",
        'Environment=GLIBC_TUNABLES=glibc.malloc.hugetlb=1';
ok(-l '/etc/systemd/system/multi-user.target.wants/'
      . 'pathstats-aggregator.service', 'the service is enabled');
SKIP: {
    skip 'systemd-analyze is not installed', 2
        unless -x '/usr/bin/systemd-analyze';
    ($rc, $out, $err) = run_cmd(['systemd-analyze', 'verify', $unit_file]);
    is("$rc $out$err", '0 ', 'systemd-analyze verify finds nothing wrong');
    ($rc, $out, $err) = run_cmd(['systemd-analyze', 'security',
                                 '--offline=true', $unit_file]);
    my ($exposure) = $out =~ /Overall exposure level for \S+: ([\d.]+)/;
    ok(defined $exposure && $exposure <= 2.0,
       'systemd-analyze security: exposure ' . ($exposure // '?')
       . ' (at most 2.0)') or diag("$out$err");
}
# the unit's start condition, as systemd runs it: as pathstats, a
# non-zero exit (1-254) skips the start
my ($condition) = $unit =~ /^ExecCondition=(.+)$/m;
sub start_condition {
    my ($crc) = run_cmd([@AS_PATHSTATS, 'sh', '-c', $condition]);
    return $crc;
}
ok(-f '/etc/logrotate.d/pathstats-aggregator', 'a logrotate file');
ok(-f "/usr/share/man/man8/pathstats-aggregator.8.gz"
   && -f "/usr/share/man/man5/ngx_http_pathstats_module.5.gz", 'man pages');
ok(-f "/usr/share/pathstats/schema/001_initial.sql",
   'the migrations are in /usr/share/pathstats/schema');

($rc, $out, $err) = run_cmd([$AGG, '--version']);
like($out, qr/^pathstats-aggregator \Q$version\E /,
     "the installed aggregator is $version");

($rc, $out, $err) = system_nginx_t();
is($rc, 0, 'nginx -t passes with the system configuration, which loads '
           . 'the module through modules-enabled') or diag("$out$err");

# Serve --------------------------------------------------------------------

# nginx as Debian runs it (workers as www-data, modules from
# modules-enabled) with a test server on a loopback port, the packaged
# zone path
my %nginx = (load => 'include /etc/nginx/modules-enabled/*.conf;',
             prefix => '/usr/share/nginx/',
             user => 'www-data');
my $site = <<"EOF";
http {
    pathstats_zone $ZONE size=1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name pkg.test;
        pathstats on;
        location / { return 200 "ok\\n"; }
        location = /version { pathstats off; return 200 \$pathstats_version; }
        location /pathstats/ {
            pathstats off;
            pathstats_admin;
            allow 127.0.0.1;
            deny all;
        }
    }
}
EOF
is(start_condition(), 3, 'before nginx made the zone, the service\'s start '
                        . 'is skipped (ExecCondition exits 3)');
($rc, $out) = nginx_t($site, %nginx);
is($rc, 0, 'nginx -t with the module from modules-enabled') or diag($out);
start_nginx($site, %nginx);
is(start_condition(), 0, 'then it starts');
is(mode_owner($ZONE), '0660 www-data:www-data',
   'nginx made the zone: its workers\' user and group, 0660');
($rc) = run_cmd(['setpriv', '--reuid=nobody', '--regid=nogroup',
                 '--clear-groups', '--', 'test', '-e', $ZONE]);
isnt($rc, 0, 'another user cannot even see the zone file');
is((http_get('/version'))[1], $version, "\$pathstats_version is $version");

my $pg = start_postgres();
{
    # what an operator adds: this makes the conffile a changed one
    my $c = slurp($CONF);
    spew($CONF, "$c\n# added on this node\npostgres = $pg\n"
                . "node_id = pkg-test\n");
}
my $conf_changed = slurp($CONF);

($rc, $out, $err) = run_aggregator({ bin => [@AS_PATHSTATS, $AGG] }, '-c',
                                   $CONF, '--migrate');
is($rc, 0, '--migrate as pathstats with the packaged configuration')
    or diag("$out$err");
($rc, $out, $err) = run_aggregator({ bin => [@AS_PATHSTATS, $AGG] }, '-c',
                                   $CONF, '--check');
is($rc, 0, '--check passes with the packaged configuration as pathstats')
    or diag("$out$err");
like($out, qr/^zone \Q$ZONE\E: ok/m, '--check opened the zone');

$AGGR = start_aggregator({ bin => [@AS_PATHSTATS, $AGG] }, '-c', $CONF);
my $n1 = parallel_load(clients => 2, requests => 60, path => '/hits');
is($n1, 120, '120 requests served');
is_admin_count('/hits', '1m', 120,
               'the admin location counts each of them once');
is_pg_requests(120, 'PostgreSQL holds 120 requests');
# the package build embedded the dashboard into the module: the page as
# dashboard/ has it, the script as the bundler makes it of the modules
{
    my $bundle = `perl '$repo/scripts/bundle-dashboard.pl' '$repo/dashboard'`;
    my %want = ('' => slurp("$repo/dashboard/index.html"),
                'dashboard.js' => $bundle);
    for my $file (sort keys %want) {
        my ($st, $body) = http_get("/pathstats/$file");
        is($st, 200, "the dashboard's /pathstats/$file is served");
        ok(length $want{$file} && defined $body && $body eq $want{$file},
           'as the checkout makes it');
    }
}
like(slurp('/var/log/pathstats/aggregator.log') // '', qr/event=\w+/,
     'the aggregator logs to /var/log/pathstats/aggregator.log');

# Upgrade ----------------------------------------------------------------

my $zone_before = stats();
note('waiting for the upgrade build');
my $rc2 = wait_pid($BUILD2, 900);
$BUILD2 = undef;
is($rc2, 0, "the upgrade ($version2) builds")
    or BAIL_OUT('upgrade build failed:' . slurp("$dir/build2.log"));
my @debs2 = map {
    (my $d = $_) =~ s{/v1/(.*)_\Q$version\E_}{/v2/$1_${version2}_};
    $d;
} @debs;
($rc, $out) = apt_get('install', @debs2);
is($rc, 0, "apt-get install of $version2 over $version") or diag($out);
is(installed_version($_), $version2, "$_ $version2 is installed") for @PKGS;
like($out, qr/applied \Q$migration2\E \(schema version $schema2\)/,
     'the upgrade ran the migration the new aggregator needs');
is(psql_query('SELECT max(version) FROM pathstats_schema_version'),
   $schema2, "the database is at schema version $schema2");
is(slurp($CONF), $conf_changed, 'the changed conffile is kept as it was');
is_deeply([glob("$CONF.dpkg-*")], [], 'no .dpkg-new or .dpkg-dist beside it');
is(mode_owner($CONF), '0640 root:pathstats', 'with its mode and group');
is(readlink($LINK), $SNIPPET, 'the module stays enabled');

# the package triggers nginx's reload: the zone and its counters stay
reload_nginx(wait_old => 1);
my $zone_after = stats();
is($zone_after->{zone_id}, $zone_before->{zone_id},
   'after the reload nginx uses the same zone');
is($zone_after->{totals}{seen}, $zone_before->{totals}{seen},
   "with its counters ($zone_before->{totals}{seen} requests seen)");
is((http_get('/version'))[1], $version,
   'a reload keeps the module nginx has loaded');

# the service restarts with the new aggregator, which accepts the schema
is(stop_aggregator($AGGR), 0, "the $version aggregator stops cleanly");
($rc, $out, $err) = run_aggregator({ bin => [@AS_PATHSTATS, $AGG] }, '-c',
                                   $CONF, '--check');
is($rc, 0, "the $version2 aggregator's --check passes") or diag("$out$err");
like($out, qr/postgres: ok \(schema version $schema2\)/,
     "against schema version $schema2");
$AGGR = start_aggregator({ bin => [@AS_PATHSTATS, $AGG] }, '-c', $CONF);
my $n2 = parallel_load(clients => 2, requests => 40, path => '/hits');
is($n2, 80, '80 more requests served');
is_pg_requests(200, 'PostgreSQL holds all 200 requests');

# a restart loads the new module; the zone file keeps its counters
stop_nginx();
start_nginx($site, %nginx);
is((http_get('/version'))[1], $version2,
   "after a restart nginx runs the $version2 module");
my $zone_restarted = stats();
is($zone_restarted->{zone_id}, $zone_before->{zone_id},
   'the restarted nginx attached the same zone');
is($zone_restarted->{totals}{seen}, 200, 'which has seen all 200 requests');
my $n3 = parallel_load(clients => 2, requests => 25, path => '/hits');
is($n3, 50, '50 more requests served');
is_pg_requests(250, 'PostgreSQL holds all 250 requests');
is_admin_count('/hits', '24h', 250,
               'the admin location counts all 250 across the upgrade');

if (defined $LINTIAN) {
    my $lrc = wait_pid($LINTIAN, 600);
    $LINTIAN = undef;
    is($lrc, 0, 'lintian: no error, no warning')
        or diag(slurp("$dir/lintian.out"));
}

# Purge ------------------------------------------------------------------

is(stop_aggregator($AGGR), 0, 'the aggregator stops cleanly');
$AGGR = undef;
stop_nginx();
check_error_logs();
stop_postgres();
($rc, $out) = purge_all();
is($rc, 0, 'apt-get purge removes the packages') or diag($out);
$INSTALLED = undef;
is(installed_version($_), undef, "$_ is gone") for @PKGS;
ok(!-e $LINK && !-l $LINK && !-l "$LINK.removed",
   'nothing left in /etc/nginx/modules-enabled');
ok(!-e '/var/lib/pathstats' && !-e '/var/log/pathstats',
   'purge removed the data (zone, spool) and the logs');
ok(!getpwnam('pathstats') && !getgrnam('pathstats'),
   'and the pathstats user and group');
my $after = machine_state();
is_deeply($after->{files}, $before->{files},
          'every file the packages made is gone; nothing else changed');
is_deeply($after->{accounts}, $before->{accounts},
          '/etc/passwd and /etc/group are as they were');
is_deeply($after->{packages}, $before->{packages},
          'the same Debian packages installed, of the same versions');
($rc, $out, $err) = system_nginx_t();
is($rc, 0, 'nginx -t still passes with the system configuration')
    or diag("$out$err");

note(sprintf 'packages.t took %.0f s', time - $started);
done_testing();
