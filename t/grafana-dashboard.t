#!/usr/bin/perl
# conf.example/grafana-dashboard.json is importable as is (valid JSON, a
# uid and title, every panel and query on the `datasource` variable, no
# ${DS_...} import placeholders) and every metric its queries name is one
# that a real /metrics exports (nginx + aggregator with a webhook); the
# check fails on a name /metrics lacks.  The same for the expressions of
# conf.example/pathstats-alerts.yml.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use PathStats::Test;
use PathStats::Promql;

my $repo = repo_dir();
my $text = slurp("$repo/conf.example/grafana-dashboard.json");
my $dash = eval { JSON::PP->new->decode($text) };
ok($dash, 'grafana-dashboard.json is valid JSON') or diag($@);
$dash //= {};

ok($dash->{uid} && $dash->{title} && $dash->{schemaVersion},
   'it has a uid, a title and a schemaVersion');
unlike($text, qr/\$\{DS_/, 'no ${DS_...} import placeholder');
my @vars = @{ $dash->{templating}{list} || [] };
my ($dsvar) = grep { $_->{name} eq 'datasource' } @vars;
ok($dsvar && $dsvar->{type} eq 'datasource'
   && $dsvar->{query} eq 'prometheus',
   'a `datasource` variable of type datasource (prometheus)');

my (@panels, @exprs);
for my $p (@{ $dash->{panels} || [] }) {
    push @panels, $p, @{ $p->{panels} || [] };
}
my @bad_ds;
for my $p (grep { $_->{type} ne 'row' } @panels) {
    push @bad_ds, $p->{title}
        unless ($p->{datasource}{uid} // '') eq '${datasource}';
    for my $t (@{ $p->{targets} || [] }) {
        push @bad_ds, "$p->{title} ($t->{refId})"
            unless ($t->{datasource}{uid} // '') eq '${datasource}';
        push @exprs, $t->{expr};
    }
}
is_deeply(\@bad_ds, [], 'every panel and query uses ${datasource}');
cmp_ok(scalar @exprs, '>=', 20, scalar(@exprs) . ' queries');
for my $v (grep { $_->{type} eq 'query' } @vars) {
    push @exprs, ref $v->{query} ? $v->{query}{query} : $v->{query};
}
my @titles = map { $_->{title} } @panels;
for my $want ('Request rate by status class', 'Error rates',
              'Latency p50 / p95 / p99', 'Top paths', 'Rings')
{
    ok(grep({ $_ eq $want } @titles), "a panel \"$want\"");
}
ok(grep({ /histogram_quantile\(0\.99,/ } @exprs)
   && grep({ /histogram_quantile\(0\.5,/ } @exprs),
   'p50 and p99 from the histogram');

# a real /metrics: nginx, the aggregator with a webhook, one request
start_nginx(site_conf(zone => 'size=1m snapshot=1m', locations => <<'EOF'),
location /pathstats/ { pathstats off; pathstats_admin; }
location / { return 200 "ok\n"; }
EOF
            workers => 1);
my $conf = write_aggregator_conf('agg', zone => zone_file(),
                                 snapshot_interval => '100ms',
                                 alert_webhook => 'http://127.0.0.1:9/hook');
my $agg = start_aggregator('-c', $conf);
http_get('/x');
my $metrics = '';
wait_until(sub {
    (undef, $metrics) = metrics_get();
    return $metrics =~ /^pathstats_requests_total\{.*path="\/x"/m;
}, 10, 0.1);
my %have = exported_metrics($metrics);
ok($have{pathstats_requests_total}
   && $have{pathstats_request_duration_seconds_bucket},
   '/metrics: ' . scalar(keys %have) . ' names exported');

is_deeply([missing_metrics(\%have, @exprs)], [],
          'every metric the dashboard names is exported');

# the check itself fails on a name /metrics lacks
is_deeply([missing_metrics(\%have,
    'sum by (path) (rate(pathstats_requests_24h{instance=~"$instance"}[5m]))',
    'histogram_quantile(0.9, sum by (le) '
    . '(rate(nope_bucket[$__rate_interval])))',
    'label_values(pathstats_gone, instance)')],
          ['nope_bucket', 'pathstats_gone', 'pathstats_requests_24h'],
          'a query naming an unexported metric is caught');
is_deeply([expr_metrics('topk(5, sum by (host, method, path) '
                        . '(rate(a_total{path!="{other}"}[5m])) / on (path) '
                        . 'b * 60 >= 20 and c offset 5m unless bool d)')],
          [qw(a_total b c d)], 'names, not functions, labels or keywords');

# the same for the alert rules
my $rules = slurp("$repo/conf.example/pathstats-alerts.yml");
my @rexprs;
while ($rules =~ /^\s+expr:\s*(?:>-?\s*\n((?:\s{10,}.*\n)+)|(.*)\n)/mg) {
    push @rexprs, defined $1 ? $1 : $2;
}
cmp_ok(scalar @rexprs, '>=', 16, scalar(@rexprs) . ' rule expressions');
is_deeply([missing_metrics(\%have, @rexprs)], [],
          'every metric the alert rules name is exported');

is(stop_aggregator($agg), 0, 'the aggregator exits cleanly');
finish();
