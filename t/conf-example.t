# The examples in conf.example/ are what operators copy: they must pass
# nginx -t with the module and promtool's rule check as they are shipped.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

my $repo = repo_dir();

# nginx snippet: only the zone path, listen address and web root change
my $snippet = slurp("$repo/conf.example/nginx.conf");
ok(defined $snippet, 'conf.example/nginx.conf exists');
$snippet =~ s/^\s*#.*\n//mg;
$snippet =~ s{/run/pathstats/pathstats\.zone}{%%ZONE%%};
$snippet =~ s{listen 80;}{listen 127.0.0.1:%%PORT%%;};
$snippet =~ s{/var/www/html}{%%DIR%%/html};

my ($rc, $out) = nginx_t($snippet);
is($rc, 0, 'nginx -t accepts conf.example/nginx.conf') or diag($out);
like($snippet, qr/location \/pathstats\/ \{[^}]*deny all;/s,
     'the admin location is restricted with allow/deny');

SKIP: {
    skip 'promtool not installed', 2 unless -x '/usr/bin/promtool';
    my $rules = "$repo/conf.example/pathstats-alerts.yml";
    my $res = `/usr/bin/promtool check rules '$rules' 2>&1`;
    is($? >> 8, 0, 'promtool check rules passes') or diag($res);
    like($res, qr/SUCCESS: (\d+) rules found/, 'rules are found');
}

finish();
