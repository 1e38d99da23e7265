#!/usr/bin/perl
# conf.example/pathstats-alerts.yml works out of the box: promtool check
# rules accepts it, promtool test rules passes its unit tests
# (t/rules/*.test.yml: input series -> expected alerts), the tests fail
# when a threshold moves, and its thresholds are the aggregator's
# defaults (conf.example/pathstats-aggregator.conf).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Copy qw(copy);
use PathStats::Test;

plan skip_all => 'promtool not installed' unless -x '/usr/bin/promtool';

my $repo = repo_dir();
my $rules = "$repo/conf.example/pathstats-alerts.yml";
my @tests = sort glob "$repo/t/rules/*.test.yml";
ok(@tests >= 1, scalar(@tests) . ' rule test file(s)');

my ($rc, $out, $err) = run_cmd(['/usr/bin/promtool', 'check', 'rules',
                                $rules]);
is($rc, 0, 'promtool check rules passes') or diag($out . $err);
like($out, qr/SUCCESS: (\d+) rules found/, '  rules found');

($rc, $out, $err) = run_cmd(['/usr/bin/promtool', 'test', 'rules', @tests]);
is($rc, 0, 'promtool test rules passes') or diag($out . $err);
like($out, qr/SUCCESS/, '  SUCCESS');

# the tests see a threshold move: the critical error rate at 3 % instead
# of 1 % lets the 2 % of the test through
my $dir = test_dir();
mkdir "$dir/conf.example";
mkdir "$dir/t";
mkdir "$dir/t/rules";
my $text = slurp($rules);
my $moved = $text;
my $n = ($moved =~ s{(/\ sum\ by\ \(instance,\ host,\ method,\ path\)
                      \ \(rate\(pathstats_requests_total
                      \{path!="\{other\}"\}\[5m\]\)\)\n\s+)>=\ 0\.01\n}
                     {${1}>= 0.03\n}x);
is($n, 1, 'a copy with the per-path critical threshold at 3 %');
spew("$dir/conf.example/pathstats-alerts.yml", $moved);
copy($_, "$dir/t/rules/") for @tests;
($rc, $out, $err) = run_cmd(['/usr/bin/promtool', 'test', 'rules',
                             map { "$dir/t/rules/" . (m{([^/]+)$})[0] }
                             @tests]);
isnt($rc, 0, '  promtool test rules fails on it');
like($out . $err, qr/PathstatsPathErrorRateCritical/, '  naming the alert');

# the thresholds are the aggregator's defaults
my $agg = slurp("$repo/conf.example/pathstats-aggregator.conf");
my %d = $agg =~ /^#\s*(alert_\w+)\s*=\s*(\S+)/mg;
is_deeply([@d{qw(alert_error_rate_warning_bp alert_error_rate_critical_bp
                 alert_p95_warning alert_p95_critical alert_min_requests)}],
          [50, 100, '100ms', '200ms', 20], 'the aggregator defaults');
my @er = $text =~ /rate\(pathstats_requests_total(?:\{[^}]*\})?\[5m\]\)\)\n
                   \s+>=\ ([\d.]+)(?:\ <\ ([\d.]+))?\n/gx;
my @lat = $text =~ /\[5m\]\)\)\)\n\s+>= ([\d.]+)(?: < ([\d.]+))?\n/g;
my %th = map { $_ => 1 } grep { defined } @er, @lat;
is_deeply([sort { $a <=> $b } keys %th], [0.005, 0.01, 0.1, 0.2],
          'the rules use 0.5 %, 1 %, 100 ms and 200 ms, nothing else');
is(scalar(() = $text =~ /\* 60 >= 20\n/g), 4,
   'per-path rules need 20 requests a minute, as alert_min_requests');

finish();
