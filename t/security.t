#!/usr/bin/perl
# Security: the zone file nginx creates is 0660 and owned by the worker
# user and group (even under umask 077); the aggregator refuses a
# world-writable zone in every mode (exit 3, naming the file) while nginx
# keeps serving; a PostgreSQL password (key=value and URI forms) appears
# in no log, admin answer or byte of the zone, also while PostgreSQL is
# down; client addresses are full, truncated, hashed (keyed, stable per
# key) or off, as configured, in /api/summary, and --tail prints what
# pathstats_client_address let nginx record; the admin location of
# conf.example/nginx.conf is restricted with allow ... deny all, and its
# rules really refuse another source address.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Path qw(make_path);
use IO::Select;
use IO::Socket::IP;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use PathStats::Test;

my $JSON = JSON::PP->new->utf8->canonical;
my $dir = test_dir();
my $zone = zone_file();
my $repo = repo_dir();

my $PW_KV = 'S3CRETpw';           # key=value conninfo password
my $PW_URI = 'S3CRETuri';         # postgresql:// URI password
my $PW_REDIS = 'S3CRETredis';     # redis:// URL password (refused)
my $HASH_KEY1 = 'k3y-0ne-S3CRET';
my $HASH_KEY2 = 'k3y-tw0-S3CRET';

# other loopback sources: 127.0.0.2 (all of 127/8 is on lo) and ::1
my $HAVE_V4B = can_bind('127.0.0.2');
my $HAVE_V6 = can_bind('::1');

sub can_bind {
    my ($addr) = @_;
    my $s = IO::Socket::IP->new(LocalHost => $addr, LocalPort => 0,
                                Proto => 'tcp', Listen => 1);
    return $s ? 1 : 0;
}

# One GET from source address $src (to nginx on 127.0.0.1, or ::1 for an
# IPv6 source); the status, or undef.
sub get_from {
    my ($src, $path) = @_;
    my $v6 = $src =~ /:/;
    my $s = IO::Socket::IP->new(LocalHost => $src,
                                PeerHost => $v6 ? '::1' : '127.0.0.1',
                                PeerPort => port('nginx'), Proto => 'tcp',
                                Timeout => 5) or return undef;
    binmode $s;
    syswrite($s, "GET $path HTTP/1.1\r\nHost: localhost\r\n"
                 . "Connection: close\r\n\r\n");
    my ($buf, $sel, $deadline) = ('', IO::Select->new($s), time + 5);
    while (time < $deadline && $sel->can_read($deadline - time)) {
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    close $s;
    return $buf =~ m{^HTTP/1\.\d (\d{3})} ? $1 : undef;
}

sub api {
    my ($path) = @_;
    my ($st, $body) = http_get($path);
    return ($st, eval { $JSON->decode($body // '') }, $body // '');
}

# Every admin answer, by name: the text to search for secrets.
sub admin_answers {
    my %a;
    for my $p ('/pathstats/', '/pathstats/api/summary',
               '/pathstats/api/paths?window=24h', '/pathstats/metrics',
               '/pathstats/health', '/pathstats/api/trends?range=24h') {
        my ($st, $body) = http_get($p);
        $a{$p} = [$st // 0, $body // ''];
    }
    return \%a;
}

# Asserts that $secret is in none of the texts (name => text).
sub no_secret {
    my ($secret, $what, %texts) = @_;
    my @hit = grep { index($texts{$_}, $secret) >= 0 } sort keys %texts;
    ok(!@hit, "$what: '$secret' in none of " . scalar(keys %texts)
              . ' texts') or diag("found in: @hit");
    note("  searched: " . join(', ', sort keys %texts));
}


# 5. conf.example/nginx.conf: the pathstats_admin location ------------------
#
# t/conf-example.t runs nginx -t on the snippet and checks that its
# /pathstats/ location contains "deny all"; here the block holding
# pathstats_admin is parsed, and its rules are then used for real.

my $example = slurp("$repo/conf.example/nginx.conf") // '';
(my $active = $example) =~ s/#[^\n]*//g;        # comments out
my ($admin_block) = $active =~ /location\s+\S+\s*\{((?:[^{}])*?
                                \bpathstats_admin\s*;[^{}]*)\}/x;
ok(defined $admin_block, 'conf.example: a location holds pathstats_admin');
my @acl = map { s/\s+/ /gr }
          ($admin_block // '') =~ /^\s*((?:allow|deny)\s+[^;]+);/mg;
my @allow = grep { /^allow / } @acl;
ok(@allow >= 1 && !grep({ $_ eq 'allow all' } @allow),
   "  it allows named addresses (@allow)");
is($acl[-1] // '', 'deny all', '  and its last access rule is deny all');
is(scalar(grep { /^deny / } @acl), 1, '  the only deny rule');
my $acl_conf = join '', map { "            $_;\n" } @acl;


# nginx: zone made under umask 077, admin location with the example's rules

make_path("$dir/tmp", "$dir/html");
my $listen6 = $HAVE_V6 ? "        listen [::1]:%%PORT%%;\n" : '';
my $old_umask = umask(077);
start_nginx(<<"EOF", workers => 2);
http {
    pathstats_zone %%ZONE%% size=1m snapshot=1m;
    server {
        listen 127.0.0.1:%%PORT%%;
$listen6        server_name sec.test;
        location /pathstats/ {
            pathstats_admin;
            pathstats_admin_stale 30s;
$acl_conf        }
        location /app/ { pathstats on; return 200 "ok\\n"; }
        location /trunc/ {
            pathstats on;
            pathstats_client_address truncated;
            return 200 "ok\\n";
        }
        location /noaddr/ {
            pathstats on;
            pathstats_client_address off;
            return 200 "ok\\n";
        }
    }
}
EOF
umask($old_umask);

my ($st, $d, $body);
($st) = http_get('/pathstats/health');
isnt($st, 403, 'the example rules let 127.0.0.1 into the admin location');
SKIP: {
    skip 'cannot bind 127.0.0.2', 1 unless $HAVE_V4B;
    is(get_from('127.0.0.2', '/pathstats/api/summary'), 403,
       '  and refuse 127.0.0.2 (403)');
}


# 1. the zone file: 0660, the worker user and group --------------------------

my @zst = stat $zone;
is(sprintf('%04o', $zst[2] & 07777), '0660',
   'zone file mode is exactly 0660 (nginx started with umask 077)');
SKIP: {
    skip 'not root: nginx runs as us and chowns nothing', 3 unless $> == 0;
    my ($user, $group) = slurp(nginx_conf_path())
                         =~ /^\s*user\s+(\S+?)(?:\s+(\S+?))?\s*;/m;
    $group //= $user;               # nginx: the group named as the user
    is($zst[4], scalar getpwnam($user), "  owned by the worker user ($user)");
    is($zst[5], scalar getgrnam($group), "  group: the worker group ($group)");
    my ($w) = worker_pids();
    my ($wuid) = (slurp("/proc/$w/status") // '') =~ /^Uid:\s+\d+\s+(\d+)/m;
    is($zst[4], $wuid, '  the uid the workers run as');
}


# 2. a world-writable zone is refused ----------------------------------------

my $seen0 = zone_stats()->{totals}{seen};
chmod(($zst[2] & 07777) | 0002, $zone) or die "chmod o+w $zone: $!";
is(sprintf('%04o', (stat $zone)[2] & 07777), '0662', 'chmod o+w: 0662');

my $why = qr/error="refusing a world-writable zone file[^"]*chmod o-w"/;
my $refusal = qr/event=zone_open_failed zone="\Q$zone\E" $why/;
for my $mode (['daemon'], ['--stats'], ['--tail', '--once'], ['--check']) {
    my @args = $mode->[0] eq 'daemon' ? () : @$mode;
    my ($rc, $out, $err) = run_aggregator({ timeout => 10 }, '--zone', $zone,
                                          @args);
    is($rc, 3, "world-writable zone, @$mode: exit 3 (zone)");
    like($err, $refusal, '  the log names the file and says world-writable')
        or diag($err);
}

my @codes = map { http_get("/app/ww$_")->{status} // 0 } 1 .. 5;
is_deeply(\@codes, [(200) x 5], 'nginx keeps serving meanwhile');

chmod(($zst[2] & 07777) & ~0002, $zone) or die "chmod o-w $zone: $!";
my $s = eval { zone_stats() } // {};
is(($s->{totals}{seen} // 0) - $seen0, 5,
   'after chmod o-w: --stats works, and the 5 requests were recorded');


# --tail --once: the client field is what pathstats_client_address let
# nginx record (README "Records"); the aggregator's client_address does
# not apply to it (run_tail prints the raw record), so it is tested here
# against nginx's directive only

my @sources = ('127.0.0.1', ($HAVE_V4B ? '127.0.0.2' : ()),
               ($HAVE_V6 ? '::1' : ()));
for my $src (@sources) {
    for my $loc (qw(app trunc noaddr)) {
        get_from($src, "/$loc/tail") == 200 or die "GET /$loc/tail from $src";
    }
}
my ($recs, $bad, $trc, $terr) = tail_once();
is($trc, 0, '--tail --once works again after chmod o-w') or diag($terr);
my %tail;
push @{ $tail{ $_->{path} } }, $_->{client} // 'null' for @$recs;
is_deeply([sort @{ $tail{'/app/ww1'} || [] }], ['127.0.0.1'],
          '  the requests made while refused are there');
my %tail_want = (
    '/app/tail'    => [sort @sources],
    '/trunc/tail'  => [sort map { /:/ ? '::' : '127.0.0.0' } @sources],
    '/noaddr/tail' => [('null') x @sources],
);
for my $p (sort keys %tail_want) {
    is_deeply([sort @{ $tail{$p} || [] }], $tail_want{$p},
              "  --tail client of $p: @{ $tail_want{$p} }");
}


# 3. passwords ----------------------------------------------------------------

my $pg = start_postgres();
my $pg_kv = "$pg password=$PW_KV";
my $pg_uri = 'postgresql://pathstats:' . $PW_URI . '@127.0.0.1:' . pg_port()
             . '/postgres';
my ($rc, $out, $err) = run_aggregator('--postgres', $pg_kv, '--migrate');
is($rc, 0, '--migrate with a password in the conninfo') or diag($err);
no_secret($PW_KV, '--migrate output', stdout => $out, stderr => $err);

my $agg = start_aggregator('--zone', $zone, '--postgres', $pg_kv,
                           '--flush-interval', '200ms', '--log-level',
                           'debug');
http_get("/app/pw$_") for 1 .. 10;
ok(wait_until(sub {
       (eval { psql_query('SELECT sum(requests) FROM pathstats_hourly') }
        // 0) == 10 }, 10),
   'key=value conninfo with a password: 10 requests flushed');
my $up = admin_answers();
is($up->{'/pathstats/health'}[0], 200, '  healthy');

# PostgreSQL goes away: the flush fails, the reconnection is refused
my $log_off = length(slurp($agg->{stderr}) // '');
stop_postgres();
http_get("/app/pwdown$_") for 1 .. 5;
ok(wait_until(sub {
       substr(slurp($agg->{stderr}) // '', $log_off)
           =~ /event=sink_down sink=postgres error=.*Connection refused/
   }, 10), 'PostgreSQL stopped: the failed reconnection is logged');
my $down_sink;
ok(wait_until(sub {
       my (undef, $dd) = api('/pathstats/api/summary');
       ($down_sink) = grep { $_->{name} eq 'postgres' }
                      @{ $dd->{data}{pipeline}{sinks} || [] };
       return $down_sink && !$down_sink->{up}
              && ($down_sink->{last_error} // '') =~ /Connection refused/;
   }, 10), '  /api/summary shows the sink down with its error');
like($down_sink->{last_error} // '', qr/127\.0\.0\.1.*${\ pg_port()}/,
     '  the error names host and port');
my $down = admin_answers();
is($down->{'/pathstats/health'}[0], 503, '  /health is 503');
like($down->{'/pathstats/health'}[1], qr/postgres/, '  naming the sink');
is(stop_aggregator($agg), 0, 'the aggregator stops cleanly while PG is down');
my $log_kv = slurp($agg->{stderr}) // '';
like($log_kv, qr/event=sink_error sink=postgres|event=flush_failed/,
     '  its log has the flush failure');

no_secret($PW_KV, 'key=value conninfo',
          'aggregator log' => $log_kv,
          'nginx error log' => slurp(error_log_path()) // '',
          (map { ("$_ (PG up)" => $up->{$_}[1]) } keys %$up),
          (map { ("$_ (PG down)" => $down->{$_}[1]) } keys %$down),
          'zone file bytes' => slurp($zone) // '');

# the URI form, starting while PostgreSQL is down
$agg = start_aggregator('--zone', $zone, '--postgres', $pg_uri,
                        '--flush-interval', '200ms', '--log-level', 'debug');
ok(wait_until(sub { (slurp($agg->{stderr}) // '')
                    =~ /event=sink_down sink=postgres/ }, 10),
   'URI conninfo with a password, PostgreSQL down: sink_down logged');
my $down_uri = admin_answers();
start_postgres();
http_get("/app/pwuri$_") for 1 .. 5;
ok(wait_until(sub {
       (eval { psql_query('SELECT sum(requests) FROM pathstats_hourly') }
        // 0) == 20 }, 20),
   '  PostgreSQL back: the held and new requests flushed, 20 in all');
my $up_uri = admin_answers();
is(stop_aggregator($agg), 0, '  the aggregator stops cleanly');
my $log_uri = slurp($agg->{stderr}) // '';
like($log_uri, qr/event=sink_up sink=postgres/, '  it logged sink_up');

no_secret($PW_URI, 'URI conninfo',
          'aggregator log' => $log_uri,
          'nginx error log' => slurp(error_log_path()) // '',
          (map { ("$_ (PG down)" => $down_uri->{$_}[1]) } keys %$down_uri),
          (map { ("$_ (PG up)" => $up_uri->{$_}[1]) } keys %$up_uri),
          'zone file bytes' => slurp($zone) // '');

# Redis: the URL has no password (no AUTH support); one is refused
($rc, $out, $err) = run_aggregator('--zone', $zone, '--redis',
                                   "redis://:$PW_REDIS\@127.0.0.1:6379",
                                   '--check');
is($rc, 2, 'a redis:// URL with a password is refused: exit 2');
like($err, qr/event=config_invalid option=--redis/, '  as an invalid value');
# config errors never echo the value of a key that may hold a secret
no_secret($PW_REDIS, 'refused redis URL', stderr => $err, stdout => $out);
like($err, qr/value="\(not shown: may hold a secret\)"/,
     '  the value is not shown');
spew("$dir/dup.conf", "zone = $zone\npostgres = \"$pg\"\n"
                      . "postgres = \"$pg_kv\"\n");
($rc, $out, $err) = run_aggregator('-c', "$dir/dup.conf", '--check');
isnt($rc, 0, 'a duplicate postgres key is refused');
no_secret($PW_KV, 'a duplicate postgres key', stderr => $err,
          stdout => $out);
spew("$dir/typo.conf", "zone = $zone\npostgress = \"$pg_kv\"\n");
($rc, $out, $err) = run_aggregator('-c', "$dir/typo.conf", '--check');
like($err, qr/key=postgress .*error="unknown key"/,
     'a misspelt key is named');
no_secret($PW_KV, 'a misspelt postgres key', stderr => $err,
          stdout => $out);


# 4. client_address in the aggregator ----------------------------------------

# Runs the daemon (no sinks) with client_address $mode, sends 3 requests
# from 127.0.0.1 and 2 from each other source, and returns the summary
# data once it has them, with the text of every admin answer and the log.
my $run = 0;
sub client_run {
    my ($mode, $key) = @_;
    $run++;
    my $conf = "$dir/clients-$run.conf";
    spew($conf, "zone = $zone\nclient_address = $mode\n"
                . "snapshot_interval = 100ms\n"
                . (defined $key ? "client_hash_key = \"$key\"\n" : ''));
    my $h = start_aggregator('-c', $conf);
    my %n = ('127.0.0.1' => 3, map { $_ => 2 } grep { $_ ne '127.0.0.1' }
                                                    @sources);
    my $total = 0;
    for my $src (sort keys %n) {
        for (1 .. $n{$src}) {
            get_from($src, "/app/clients-$run") == 200 or die "GET from $src";
            $total++;
        }
    }
    my $sum;
    wait_until(sub {
        my (undef, $dd) = api('/pathstats/api/summary');
        $sum = $dd->{data};
        return $sum && ($sum->{pid} // 0) == $h->{pid}
               && ($sum->{windows}{'1h'}{requests} // 0) == $total;
    }, 10);
    my $texts = admin_answers();
    is(stop_aggregator($h), 0, "client_address = $mode: the aggregator ran");
    return ($sum // {}, { map { $_ => $texts->{$_}[1] } keys %$texts },
            slurp($h->{stderr}) // '');
}

sub clients_of {
    my ($sum) = @_;
    return { map { $_->{client} => $_->{requests} }
             @{ $sum->{top_clients} || [] } };
}

my %others = map { $_ => 2 } grep { $_ ne '127.0.0.1' } @sources;
my $nsrc = scalar @sources;

my ($sum, $texts, $log) = client_run('full');
is_deeply(clients_of($sum), { '127.0.0.1' => 3, %others },
          '  full: top_clients are the addresses');
is($sum->{windows}{'1m'}{unique_clients}, $nsrc,
   "  unique_clients $nsrc");

($sum) = client_run('truncated');
my %trunc = ('127.0.0.0/24' => 3 + ($HAVE_V4B ? 2 : 0),
             ($HAVE_V6 ? ('::/48' => 2) : ()));
is_deeply(clients_of($sum), \%trunc,
          '  truncated: top_clients are /24 (and /48) networks');
is($sum->{windows}{'1m'}{unique_clients}, scalar keys %trunc,
   '  unique_clients counts the networks');

my @hashed;
for my $key ($HASH_KEY1, $HASH_KEY1, $HASH_KEY2) {
    ($sum, $texts, $log) = client_run('hashed', $key);
    my $c = clients_of($sum);
    push @hashed, $c;
    is(scalar(grep { /^[0-9a-f]{16}$/ } keys %$c), $nsrc,
       "  hashed: $nsrc clients, each 16 hex digits");
    is_deeply([sort { $a <=> $b } values %$c],
              [sort { $a <=> $b } 3, values %others],
              '  with their request counts');
    is($sum->{windows}{'1m'}{unique_clients}, $nsrc,
       "  unique_clients $nsrc");
    my @raw = grep { /127\.0\.0\.|::1/ } map { "$_: $texts->{$_}" }
              sort keys %$texts;
    ok(!@raw, '  no raw address in any admin answer')
        or diag(substr($raw[0], 0, 300));
    no_secret($key, 'client_hash_key', log => $log, %$texts,
              'zone file bytes' => slurp($zone) // '');
    unlike($log, qr/event=client_hash_key_random/,
           '  no random-key warning: the key is used');
}
my %by_count3 = reverse %{ $hashed[2] };
is_deeply($hashed[1], $hashed[0],
          'the same client_hash_key gives the same hashes in another run');
is($by_count3{3} && !exists $hashed[0]{ $by_count3{3} } ? 1 : 0, 1,
   'another key gives 127.0.0.1 another hash');
is(scalar(grep { exists $hashed[0]{$_} } keys %{ $hashed[2] }), 0,
   '  and every other address too');

($sum, $texts) = client_run('off');
is_deeply($sum->{top_clients}, [], '  off: top_clients is empty');
is($sum->{windows}{'1m'}{unique_clients}, 0, '  unique_clients 0');
is($sum->{windows}{'1m'}{requests}, 3 + 2 * keys %others,
   '  the requests are still counted');

finish();
