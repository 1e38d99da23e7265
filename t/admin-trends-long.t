#!/usr/bin/perl
# /api/trends?range=90d and range=1y (issue 12, longer views), with past
# days written straight into PostgreSQL: a day rolled up into
# pathstats_daily counts its daily rows only, even when hourly rows of it
# are still there (no day twice); a day not rolled up (today, recent
# days) counts its hourly rows; a day with only daily rows counts them.
# 90d is 90 daily points ending today, 1y 53 weekly points, each week from
# a Monday 00:00 UTC; every point's requests and errors are exact, and a
# day before a range's first point is in no point of it.  A path's trend
# has no long range (400 naming range).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use Time::Local qw(timegm);
use PathStats::Test;

start_nginx(site_conf(name => 'long.test', zone => 'size=1m snapshot=1m',
                      reuseport => 0, record => 0,
                      locations => <<'EOF'), workers => 1);
location /pathstats/ { pathstats_admin; }
EOF

my $JSON = JSON::PP->new->utf8->canonical;
my $pg = start_migrated_postgres();

my $today = psql_query("SELECT (now() AT TIME ZONE 'UTC')::date");
my $monday = psql_query("SELECT date_trunc('week', '$today'::date)::date");
my $monday_ago = psql_query("SELECT '$today'::date - '$monday'::date");
sub day { scalar psql_query("SELECT '$today'::date - $_[0]") }

my (%req, %err);   # expected per day, by days ago

# daily rows of day $ago: $n keys over two nodes, requests/errors each
sub daily {
    my ($ago, $n, $r, $e) = @_;
    my $d = day($ago);
    psql_query(<<"EOF_SQL");
INSERT INTO pathstats_daily (day, host, method, path, node_id, requests,
    errors, hours)
SELECT '$d', 'long.test', 'GET', '/k' || k, 'n' || (k % 2), $r, $e, 24
  FROM generate_series(1, $n) k
EOF_SQL
}

# hourly rows of day $ago: hours $h0..$h1 x $n keys, requests/errors each
sub hourly {
    my ($ago, $h0, $h1, $n, $r, $e) = @_;
    my $d = day($ago);
    psql_query(<<"EOF_SQL");
INSERT INTO pathstats_hourly (hour, host, method, path, node_id, requests,
    errors, first_seen, last_seen)
SELECT '$d 00:00+00'::timestamptz + h * interval '1 hour', 'long.test',
       'GET', '/k' || k, 'n' || (k % 2), $r, $e, now(), now()
  FROM generate_series($h0, $h1) h, generate_series(1, $n) k
EOF_SQL
}

# a day rolled up, hourly rows still there (and a late one that differs):
# the daily rows count, once
daily(3, 4, 25, 2);            $req{3} = 100; $err{3} = 8;
hourly(3, 0, 23, 2, 1, 1);
# a recent day not rolled up: its hourly rows, 00:00 and 23:00 included
hourly(2, 0, 23, 3, 2, 1);     $req{2} = 144; $err{2} = 72;
# today: hourly rows up to the current hour
my $hour_now = psql_query("SELECT extract(hour FROM now() AT TIME ZONE "
                          . "'UTC')::int");
hourly(0, 0, $hour_now, 1, 5, 0);
$req{0} = 5 * ($hour_now + 1); $err{0} = 0;
# days with daily rows only: one in both ranges, 90d's first day and the
# one before it, one of the 1y range only, one older than 1y
daily(10, 3, 7, 1);            $req{10} = 21; $err{10} = 3;
daily(89, 2, 11, 1);           $req{89} = 22; $err{89} = 2;
daily(90, 2, 13, 2);           $req{90} = 26; $err{90} = 4;
daily(200, 5, 3, 0);           $req{200} = 15; $err{200} = 0;
daily(400, 5, 1000, 1000);     # outside 1y: in no point
# a week boundary: the Sunday before a Monday two weeks back, and that
# Monday, land in two different weeks
my $m2 = $monday_ago + 14;
daily($m2 + 1, 1, 1000, 10);   $req{$m2 + 1} = 1000; $err{$m2 + 1} = 10;
daily($m2, 1, 2000, 20);       $req{$m2} = 2000; $err{$m2} = 20;
# the 53rd week back's Monday and the Sunday before it (outside 1y)
my $first_week = $monday_ago + 52 * 7;
daily($first_week, 1, 9, 9);   $req{$first_week} = 9; $err{$first_week} = 9;
daily($first_week + 1, 1, 500, 500);

is(psql_query("SELECT count(*) FROM pathstats_daily"), 4 + 3 + 2 + 2 + 5
   + 5 + 1 + 1 + 1 + 1, 'daily rows written');

my $conf = test_dir() . '/aggregator.conf';
# lifecycle off: its first run would roll up the closed days written
# above (day 3's hourly rows would replace its daily rows) while the
# trends thread reads them, and this file is about what is read
spew($conf, join '', "zone = " . zone_file() . "\n",
     "postgres = \"$pg\"\n", "lifecycle = off\n");
my $agg = start_aggregator('-c', $conf);

sub api {
    my ($path) = @_;
    my ($st, $body) = http_get($path);
    return ($st, eval { $JSON->decode($body) } // {});
}

sub sum_of {
    my ($points, $k) = @_;
    my $s = 0;
    $s += $_->{$k} // 0 for @$points;
    return $s;
}

my $in_90d = 0;
$in_90d += $req{$_} for grep { $_ <= 89 } keys %req;

ok(wait_until(sub {
    my ($st, $d) = api('/pathstats/api/trends?range=90d');
    return $st == 200 && sum_of($d->{data}, 'requests') == $in_90d;
}, 20), "90d sums the $in_90d requests of its days") or diag(
    $JSON->encode([api('/pathstats/api/trends?range=90d')]));

sub iso_of_ago {
    my ($ago) = @_;
    return day($ago) . 'T00:00:00Z';
}

# 90d: day by day
my ($st, $d) = api('/pathstats/api/trends?range=90d');
is($st, 200, '90d: 200');
is($d->{metadata}{range}, '90d', '90d: metadata names the range');
is(scalar @{ $d->{data} }, 90, '90d: 90 points');
my @want = map {
    my $ago = 89 - $_;
    { t => iso_of_ago($ago), requests => $req{$ago} // 0,
      errors => $err{$ago} // 0, p95_ms => undef }
} 0 .. 89;
is_deeply($d->{data}, \@want,
          '90d: every day exact (daily rows, else hourly rows, once)');

# 1y: week by week from Mondays
($st, $d) = api('/pathstats/api/trends?range=1y');
is($st, 200, '1y: 200');
is($d->{metadata}{range}, '1y', '1y: metadata names the range');
is(scalar @{ $d->{data} }, 53, '1y: 53 points');
@want = ();
for my $k (0 .. 52) {
    my $start = $monday_ago + (52 - $k) * 7;     # days ago of its Monday
    my ($r, $e) = (0, 0);
    for my $ago (keys %req) {
        next unless $ago <= $start && $ago > $start - 7 && $ago >= 0;
        $r += $req{$ago};
        $e += $err{$ago};
    }
    push @want, { t => iso_of_ago($start), requests => $r, errors => $e,
                  p95_ms => undef };
}
is_deeply($d->{data}, \@want, '1y: every week exact');
my @not_monday = grep {
    my ($y, $m, $dd) = $_->{t} =~ /^(\d+)-(\d+)-(\d+)T00:00:00Z$/;
    !defined $y || (gmtime timegm(0, 0, 0, $dd, $m - 1, $y))[6] != 1
} @{ $d->{data} };
is_deeply(\@not_monday, [], '1y: every week starts on a Monday 00:00 UTC');
is($d->{data}[-1]{t}, "${monday}T00:00:00Z", '1y: the last is this week');
is($d->{data}[-3]{requests}, 2000 + ($m2 - 6 <= 10 ? 21 : 0),
   'the Monday opens its week');
is($d->{data}[-4]{requests}, 1000, 'the Sunday before closes the previous');

# the other ranges unchanged
($st, $d) = api('/pathstats/api/trends?range=30d');
is_deeply([$st, $d->{metadata}{range}, ref $d->{data}], [200, '30d', 'ARRAY'],
          '30d: served as before');

# a path's trend: no long ranges; bad ranges name the parameter
for my $r ('90d', '1y') {
    ($st, $d) = api("/pathstats/api/trends?range=$r&host=long.test"
                    . '&method=GET&path=/k1');
    is_deeply([$st, $d->{error}, $d->{parameter}],
              [400, 'invalid parameter', 'range'],
              "a path's trend with range=$r: 400 naming range");
}
($st, $d) = api('/pathstats/api/trends?range=2y');
is_deeply([$st, $d->{parameter}], [400, 'range'], 'range=2y: 400');
like($d->{message}, qr/90d or 1y/, 'and the message lists the ranges');

is(stop_aggregator($agg), 0, 'the aggregator exits cleanly');
finish();
