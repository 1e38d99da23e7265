#!/usr/bin/perl
# A malformed PostgreSQL conninfo holding a password (issue 10, finding
# 6).  libpq's parse errors quote the text around the error
# ('invalid percent-encoded token: "hunt%zzer2"', 'missing "=" after
# "2"'), which the aggregator used to print in --check, log as the sink's
# error and publish in /health and /api/summary.  Now the conninfo is
# parsed (PQconninfoParse) when the configuration is loaded, from the
# file or --postgres: a malformed one is a configuration error (exit 2)
# naming the key, with a generic reason and no part of the value, in
# every mode; a well-formed one with reserved characters, percent-encoded,
# still connects; and no fragment of any of the passwords is in the
# aggregator's output or log, nginx's answers or log, or the zone file.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

my $dir = test_dir();
my $zone = zone_file();

start_nginx(<<'EOF', workers => 1);
http {
    pathstats_zone %%ZONE%% size=64k snapshot=64k rings=2;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /app/ { pathstats on; return 200 "ok\n"; }
        location /pathstats/ {
            pathstats_admin;
            pathstats_admin_stale 30s;
        }
    }
}
EOF

my $pg = start_migrated_postgres();
my $port = pg_port();

my @bad = (
    [ 'a URI with a bad percent-escape in the password',
      "postgresql://pathstats:hunt%zzer2\@127.0.0.1:$port/postgres",
      ['hunt', 'zzer2'] ],
    [ 'key=value with an unquoted space in password=',
      "host=127.0.0.1 port=$port dbname=postgres user=pathstats "
      . 'password=hunter 2secret', ['hunter', '2secret'] ],
    [ 'key=value with an unterminated quote',
      "host=127.0.0.1 port=$port password='s3cr3tpw", ['s3cr3tpw'] ],
    [ "a URI whose password has a raw '\@'",
      "postgresql://pathstats:pa\@ssw0rd\@127.0.0.1:$port/postgres",
      ['ssw0rd'] ],
);

my @texts;          # every output and log, for the final search

my $n = 0;
for my $b (@bad) {
    my ($what, $conninfo, $secrets) = @$b;
    $n++;
    my $conf = "$dir/bad$n.conf";
    (my $quoted = $conninfo) =~ s/(["\\])/\\$1/g;
    spew($conf, "zone = $zone\npostgres = \"$quoted\"\n");

    my ($rc, $out, $err) = run_aggregator('-c', $conf, '--check');
    is($rc, 2, "$what: --check exits 2 (configuration)");
    like($err, qr/event=config_invalid\ file="\Q$conf\E"\ line=2\ key=postgres
                  \ value="\(not\ shown:\ may\ hold\ a\ secret\)"
                  \ error="[^"]*(?:libpq
                  \ can\ parse|percent-encode\ '\@')/x,
         '  naming the file, line and key, the value not shown');
    push @texts, ["--check $n", $out . $err];

    ($rc, $out, $err) = run_aggregator('--zone', $zone, '--postgres',
                                       $conninfo, '--check');
    is($rc, 2, '  --postgres on the command line: exit 2 too');
    push @texts, ["--postgres --check $n", $out . $err];

    ($rc, $out, $err) = run_aggregator('-c', $conf, '--migrate');
    is($rc, 2, '  --migrate: exit 2');
    push @texts, ["--migrate $n", $out . $err];

    # the daemon: it would run until stopped (exit -1 after 5 s)
    ($rc, $out, $err) = run_aggregator({ timeout => 5 }, '-c', $conf);
    is($rc, 2, '  the daemon does not start: exit 2');
    push @texts, ["daemon $n", $out . $err];
}

# the admin answers while no aggregator could start
for my $p ('/pathstats/health', '/pathstats/api/summary') {
    my ($st, $body) = http_get($p);
    push @texts, ["$p (no aggregator)", $body // ''];
}

# a password with reserved characters, percent-encoded: accepted, and it
# connects (the harness's PostgreSQL trusts loopback, so any password
# works: what is tested is that the aggregator takes it)
my $good = "postgresql://pathstats:hunt%40er%202%25\@127.0.0.1:$port"
           . '/postgres?connect_timeout=5';
my ($rc, $out, $err) = run_aggregator('--zone', $zone, '--postgres', $good,
                                      '--check');
is($rc, 0, "a well-formed URI with '\@', ' ' and '%' percent-encoded in "
   . 'the password: --check passes') or diag($out . $err);
push @texts, ['--check good', $out . $err];

spew("$dir/good.conf", "zone = $zone\npostgres = \"$good\"\n"
                       . "flush_interval = 200ms\n"
                       . "snapshot_interval = 100ms\n");
my $agg = start_aggregator('-c', "$dir/good.conf");
http_get("/app/p$_") for 1 .. 5;
is_pg_requests(5, '  the daemon flushes 5 requests to PostgreSQL');
ok(wait_until(sub { (http_get('/pathstats/health'))[0] == 200 }, 10),
   '  /health is 200');
for my $p ('/pathstats/health', '/pathstats/api/summary',
           '/pathstats/metrics') {
    my ($st, $body) = http_get($p);
    push @texts, ["$p (good)", $body // ''];
}
is(stop_aggregator($agg), 0, '  and stops cleanly');
push @texts, ['daemon good', slurp($agg->{stderr}) // ''];
push @texts, ['nginx error log', slurp(error_log_path()) // ''],
             ['zone file', slurp($zone) // ''];

# no fragment of any password anywhere
my @secrets = ((map { @{ $_->[2] } } @bad), 'hunt@er 2%', 'hunt%40er');
for my $s (@secrets) {
    my @hit = map { $_->[0] } grep { index($_->[1], $s) >= 0 } @texts;
    ok(!@hit, "'$s' is in none of " . scalar(@texts) . ' outputs, logs and '
              . 'answers') or diag("found in: @hit");
}

finish();
