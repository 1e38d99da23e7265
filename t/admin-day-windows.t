#!/usr/bin/perl
# /api/paths?window=7d and 30d (issue 12, longer views), the admin side:
# the day windows a snapshot carries in sections of their own (DAY_ROWS,
# DAY_ORDER, DAY_WINDOW_INFO, skipped by older readers) are served as
# 1m/1h/24h are (pagination, every sort both ways, q, host, method,
# window_info); a snapshot without them (an older aggregator) is a 503
# for them only; a day window in a plain ROWS section, or a 1m window in
# a DAY_ROWS one, makes the snapshot invalid (503), never served.
# /api/trends?range=90d and 1y are served from LONG_TRENDS sections.  The
# answers' metadata lists the windows and trend ranges there are.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use PathStats::Test;
use PathStats::Snapshot;

start_nginx(<<'EOF', workers => 1);
http {
    pathstats_zone %%ZONE%% size=1m snapshot=1m;

    server {
        listen 127.0.0.1:%%PORT%%;
        location /pathstats/ { pathstats_admin; }
    }
}
EOF

my $JSON = JSON::PP->new->utf8;

sub api {
    my ($path) = @_;
    my ($st, $body) = http_get($path);
    return ($st, eval { $JSON->decode($body // '') } // {});
}

sub rows {
    my ($n, $tag, $mul) = @_;
    return [ map { {
        host => $_ % 2 ? 'a.test' : 'b.test',
        method => $_ % 3 ? 'GET' : 'POST',
        path => "/$tag/$_",
        requests => $_ * $mul, errors => $_ % 5,
        error_rate => ($_ % 5) / ($_ * $mul),
        p95 => ($_ * 31) % 97, bytes => ($_ * 7) % 53,
        last_seen => ($_ * 11) % 61,
    } } 1 .. $n ];
}

my %win = ('24h' => rows(10, 'day', 1), '7d' => rows(70, 'week', 10),
           '30d' => rows(130, 'month', 100));

publish_snapshot(snapshot_bytes(
    windows => \%win,
    window_info => { '7d' => '{"rows_left_out":3}',
                     '30d' => '{"rows_left_out":0}' },
    trends => { '24h' => '[]', '90d' => '[{"d":90}]', '1y' => '[{"w":53}]' },
    summary => '{}', health => '[]',
));

for my $w ('7d', '30d') {
    my $rows = $win{$w};
    my ($st, $d) = api("/pathstats/api/paths?window=$w&limit=200");
    is($st, 200, "window=$w: 200");
    is($d->{metadata}{window}, $w, "window=$w: metadata names it");
    is($d->{pagination}{total}, scalar @$rows,
       "window=$w: every row of the window");
    my %got = map { $_->{path} => $_->{requests} } @{ $d->{data} };
    my %want = map { $_->{path} => $_->{requests} } @$rows;
    is_deeply(\%got, \%want, "window=$w: each row's requests exact");

    # every sort, both orders, as the snapshot's orders say
    my $bad = 0;
    for my $k (SORTS) {
        for my $o ('desc', 'asc') {
            my ($s2, $d2) = api("/pathstats/api/paths?window=$w&sort=$k"
                                . "&order=$o&limit=200");
            my @idx = sort {
                ($rows->[$b]{$k} // 0) <=> ($rows->[$a]{$k} // 0) || $a <=> $b
            } 0 .. $#$rows;
            @idx = reverse @idx if $o eq 'asc';
            my @want = map { $rows->[$_]{path} } @idx;
            my @got = map { $_->{path} } @{ $d2->{data} };
            $bad++ unless $s2 == 200 && "@got" eq "@want";
        }
    }
    is($bad, 0, "window=$w: all 12 sort orders");

    # paging
    ($st, $d) = api("/pathstats/api/paths?window=$w&limit=7&page=2");
    is_deeply([map { $_->{path} } @{ $d->{data} }],
              [map { $rows->[-$_]{path} } 8 .. 14],
              "window=$w: page 2 of 7 rows");
    is($d->{pagination}{total_pages}, int((@$rows + 6) / 7),
       "window=$w: pages");

    # filters
    ($st, $d) = api("/pathstats/api/paths?window=$w&host=a.test"
                    . '&method=POST&limit=200');
    my @want = sort map { $_->{path} }
               grep { $_->{host} eq 'a.test' && $_->{method} eq 'POST' }
               @$rows;
    is_deeply([sort map { $_->{path} } @{ $d->{data} }], \@want,
              "window=$w: host and method filter");
    ($st, $d) = api("/pathstats/api/paths?window=$w&q=/1&limit=200");
    @want = sort map { $_->{path} } grep { $_->{path} =~ m{/1} } @$rows;
    is_deeply([sort map { $_->{path} } @{ $d->{data} }], \@want,
              "window=$w: q filter");
}

my ($st, $d) = api('/pathstats/api/paths?window=7d');
is_deeply($d->{metadata}{window_info}, { rows_left_out => 3 },
          '7d: its window_info');
is_deeply($d->{metadata}{windows}, [qw(24h 7d 30d)],
          'metadata lists the windows the snapshot has');
($st, $d) = api('/pathstats/api/paths?window=24h&limit=200');
is($d->{pagination}{total}, 10, '24h unchanged beside them');
($st, $d) = api('/pathstats/api/paths?window=1w');
is_deeply([$st, $d->{parameter}], [400, 'window'], 'window=1w: 400');
like($d->{message}, qr/7d or 30d/, 'the message lists the windows');

($st, $d) = api('/pathstats/api/trends?range=90d');
is_deeply([$st, $d->{data}, $d->{metadata}{range}], [200, [{ d => 90 }],
          '90d'], 'trends 90d from its section');
($st, $d) = api('/pathstats/api/trends?range=1y');
is_deeply([$st, $d->{data}], [200, [{ w => 53 }]], 'trends 1y');
is_deeply($d->{metadata}{ranges}, [qw(24h 90d 1y)],
          'metadata lists the trend ranges the snapshot has');

# an older aggregator's snapshot: no day windows, no long trends
publish_snapshot(snapshot_bytes(windows => { '24h' => $win{'24h'} },
                                summary => '{}', health => '[]',
                                trends => { '24h' => '[]' }));
($st, $d) = api('/pathstats/api/paths?window=7d');
is_deeply([$st, $d->{error}], [503, 'window not in the snapshot'],
          'no 7d in the snapshot: 503');
($st, $d) = api('/pathstats/api/trends?range=1y');
is($st, 503, 'no 1y in the snapshot: 503');
($st, $d) = api('/pathstats/api/paths?window=24h');
is($st, 200, 'its 24h still served');
is_deeply($d->{metadata}{windows}, ['24h'], 'and listed alone');
($st, $d) = api('/pathstats/api/trends');
is_deeply($d->{metadata}{ranges}, ['24h'], 'no long range listed');

# day windows only in their own sections, and only they there
my $row = pack('V8', 0, 1, 0, 1, 0, 1, 0, 1);
publish_snapshot(snapshot_bytes(windows => { '24h' => $win{'24h'} },
                                sections => [[2, 3, $row]]));
($st, $d) = api('/pathstats/api/paths?window=24h');
is_deeply([$st, $d->{error}], [503, 'snapshot invalid: bad snapshot rows '
          . 'section'], 'a 7d window in a ROWS section: the snapshot is '
          . 'refused');
publish_snapshot(snapshot_bytes(windows => { '24h' => $win{'24h'} },
                                sections => [[14, 0, $row]]));
($st, $d) = api('/pathstats/api/paths?window=24h');
is_deeply([$st, $d->{error}], [503, 'snapshot invalid: bad snapshot rows '
          . 'section'], 'a 1m window in a DAY_ROWS section: refused');

finish(allow => [qr/invalid snapshot|bad snapshot/]);
