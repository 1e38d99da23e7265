#!/usr/bin/perl
# The aggregator's command line as an operator meets it: --help and
# --version, a bad configuration named by file and line (exit 2), --check
# naming an unreachable PostgreSQL without showing its password (exit 4),
# --migrate applying the schema once however often it runs, and a schema
# newer than the aggregator refused by --check, --migrate and the daemon.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

my ($rc, $out, $err) = run_aggregator('--help');
is($rc, 0, '--help exits 0');
like($out, qr/--migrate/, '--help lists --migrate');
like($out, qr/4 PostgreSQL/, '--help lists the exit statuses');

($rc, $out) = run_aggregator('--version');
is($rc, 0, '--version exits 0');
like($out, qr/^pathstats-aggregator \d+\.\d+\.\d+ \(layout \d+\)$/m,
     '--version prints the version and the zone layout');

my $dir = test_dir();
spew("$dir/bad.conf", "zone = $dir/zone\n\nflush_interval = banana\n");
($rc, $out, $err) = run_aggregator('-c', "$dir/bad.conf", '--check');
is($rc, 2, 'bad configuration: exit 2');
like($err, qr/file="\Q$dir\E\/bad\.conf" line=3 key=flush_interval/,
     '  the file, line and key are named');

start_nginx(site_conf(name => undef, zone => 'size=256k', reuseport => 0,
                      locations => 'location / { return 204; }'));

($rc, $out, $err) = run_aggregator('-c', repo_dir()
                                   . '/conf.example/pathstats-aggregator.conf',
                                   '--zone', zone_file(), '--check');
is($rc, 0, 'conf.example/pathstats-aggregator.conf is valid')
    or diag($out . $err);

# nothing listens on this port: PostgreSQL is not started yet
my $port = pg_port();
for my $ci ("host=127.0.0.1 port=$port user=ps password=S3CRET dbname=ps",
            "postgresql://ps:S3CRET\@127.0.0.1:$port/ps") {
    my $form = $ci =~ /^postgresql:/ ? 'URI' : 'key=value';
    ($rc, $out, $err) = run_aggregator('--zone', zone_file(), '--postgres',
                                       $ci, '--check');
    is($rc, 4, "--check, PostgreSQL unreachable ($form): exit 4");
    like($out, qr/postgres: FAILED: cannot connect: .*127\.0\.0\.1.*$port/,
         '  the message names host and port');
    like($out, qr/Connection refused/, '  and the problem');
    unlike($out . $err, qr/S3CRET/, '  and never the password');
}

my $pg = start_postgres();
($rc, $out, $err) = run_aggregator('--zone', zone_file(), '--postgres', $pg,
                                   '--check');
is($rc, 4, '--check before --migrate: exit 4');
like($out, qr/run pathstats-aggregator --migrate/, '  with the hint');

($rc, $out, $err) = run_aggregator('--zone', zone_file(), '--postgres', $pg);
is($rc, 4, 'the daemon refuses a missing schema: exit 4');
like($err, qr/event=schema_refused.*--migrate/, '  telling to --migrate');

($rc, $out, $err) = run_aggregator('--postgres', $pg, '--migrate');
is($rc, 0, '--migrate: exit 0') or diag($err);
like($out, qr/^applied 001_initial\.sql \(schema version 1\)\napplied 002_hourly_per_node\.sql \(schema version 2\)\napplied 005_fleet_nodes\.sql \(schema version 5\)$/m,
     '  prints what it applied, in order');
($rc, $out, $err) = run_aggregator('--postgres', $pg, '--migrate');
is($rc, 0, '--migrate again: exit 0');
like($out, qr/schema is up to date \(version 5\)/, '  nothing to do');
is(psql_query('SELECT count(*) FROM pathstats_schema_version'), 3,
   '  a version row each');

($rc, $out, $err) = run_aggregator('--zone', zone_file(), '--postgres', $pg,
                                   '--check');
is($rc, 0, '--check with everything up: exit 0') or diag($out . $err);
like($out, qr/^postgres: ok \(schema version 5\)$/m, '  postgres: ok');
like($out, qr/^zone .*: ok/m, '  zone: ok');

psql_query("INSERT INTO pathstats_schema_version (version, name) "
           . "VALUES (999, '999_future.sql')");
($rc, $out, $err) = run_aggregator('--zone', zone_file(), '--postgres', $pg,
                                   '--check');
is($rc, 4, 'schema newer than known: --check exit 4');
like($out, qr/version 999, newer than this aggregator knows/,
     '  says so');
($rc, $out, $err) = run_aggregator('--postgres', $pg, '--migrate');
is($rc, 4, '  --migrate exit 4');
($rc, $out, $err) = run_aggregator('--zone', zone_file(), '--postgres', $pg);
is($rc, 4, '  the daemon refuses to start: exit 4');
like($err, qr/event=schema_refused .*newer/, '  and says why');

finish();
