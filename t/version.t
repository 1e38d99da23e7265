# The version is written once, in project() of CMakeLists.txt: the
# aggregator's --version, the module's $pathstats_version and the
# packages' version (debian/changelog) are all that one.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

my $repo = repo_dir();

my ($version) = (slurp("$repo/CMakeLists.txt") // '')
                =~ /^project\(pathstats VERSION ([0-9]+\.[0-9]+\.[0-9]+)\b/m;
ok($version, "CMakeLists.txt's project() has a version");
$version //= '?';

# the latest entry of debian/changelog (a native package: no revision)
my ($deb) = (slurp("$repo/debian/changelog") // '')
            =~ /\Apathstats \(([^)]+)\) /;
is($deb, $version, "debian/changelog's latest entry is $version");

my ($rc, $out, $err) = run_aggregator('--version');
is($rc, 0, 'pathstats-aggregator --version exits 0');
like($out, qr/^pathstats-aggregator \Q$version\E \(layout \d+\)$/,
     "the aggregator reports $version");

start_nginx(<<'EOF', workers => 1);
http {
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /version { return 200 $pathstats_version; }
    }
}
EOF
my ($st, $body) = http_get('/version');
is($st, 200, 'GET /version');
is($body, $version, "the module's \$pathstats_version is $version");

finish();
