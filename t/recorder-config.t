#!/usr/bin/perl
# `nginx -t` rejects bad pathstats directives and says where: the message
# names the config file and the line of the offending directive.  Valid
# values at the edges of each range pass.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

my $template = <<'EOF';
http {
HTTP_LINES
    server {
        listen 127.0.0.1:%%PORT%%;
SERVER_LINES
        location / { return 200 "ok\n"; }
    }
}
EOF
my $zone = 'pathstats_zone %%ZONE%% size=1m;';

sub conf {
    my ($http, $server) = @_;
    my $c = $template;
    $c =~ s/HTTP_LINES/$http \/\/ $zone/e;
    $c =~ s/SERVER_LINES/$server \/\/ 'pathstats on;'/e;
    return $c;
}

# line number of the first line of $file matching $re
sub line_of {
    my ($file, $re, $nth) = @_;
    my @l = split /\n/, slurp($file);
    my $seen = 0;
    for my $i (0 .. $#l) {
        return $i + 1 if $l[$i] =~ $re && ++$seen == ($nth // 1);
    }
    return undef;
}

my @bad = (
    # name, http lines, server lines, line to blame (regex, nth match)
    ['pathstats maybe', undef, 'pathstats maybe;', qr/pathstats maybe/],
    ['pathstats_normalize maybe', undef,
     "pathstats on;\npathstats_normalize maybe;", qr/normalize maybe/],
    ['pathstats_zone without a file', 'pathstats_zone;', undef,
     qr/pathstats_zone;/],
    ['size=abc', 'pathstats_zone %%ZONE%% size=abc;', undef, qr/size=abc/],
    ['size too small', 'pathstats_zone %%ZONE%% size=1k;', undef,
     qr/size=1k/],
    ['snapshot=abc', 'pathstats_zone %%ZONE%% snapshot=abc;', undef,
     qr/snapshot=abc/],
    ['rings=1', 'pathstats_zone %%ZONE%% rings=1;', undef, qr/rings=1;/],
    ['rings=100000', 'pathstats_zone %%ZONE%% rings=100000;', undef,
     qr/rings=100000/],
    ['unknown zone parameter', 'pathstats_zone %%ZONE%% colour=blue;', undef,
     qr/colour=blue/],
    ['duplicate pathstats_zone', "$zone\n$zone", undef, qr/pathstats_zone/,
     2],
    ['pathstats_zone in a server', $zone, "pathstats on;\n$zone",
     qr/pathstats_zone/, 2],
    ['pathstats_key_max_length 5', undef,
     "pathstats on;\npathstats_key_max_length 5;", qr/max_length 5/],
    ['pathstats_key_max_length 369', undef,
     "pathstats on;\npathstats_key_max_length 369;", qr/max_length 369/],
    ['pathstats_key_max_length abc', undef,
     "pathstats on;\npathstats_key_max_length abc;", qr/max_length abc/],
    ['pathstats_client_address weird', undef,
     "pathstats on;\npathstats_client_address weird;", qr/address weird/],
    ['pathstats_key without a value', undef,
     "pathstats on;\npathstats_key;", qr/pathstats_key;/],
);

for my $c (@bad) {
    my ($name, $http, $server, $blame, $nth) = @$c;
    my ($rc, $out, $file) = nginx_t(conf($http, $server));
    isnt($rc, 0, "$name: nginx -t fails");
    my $line = line_of($file, $blame, $nth);
    like($out, qr/\[emerg\].* in \Q$file\E:$line\b/,
         "$name: the message names $file:$line")
        or diag($out);
}

# no zone at all: refused, with a file and a line
{
    my ($rc, $out, $file) = nginx_t(conf('', 'pathstats on;'));
    isnt($rc, 0, 'pathstats on without any pathstats_zone: nginx -t fails');
    like($out, qr/\[emerg\].*pathstats.* in \Q$file\E:\d+/,
         'the message names pathstats, the file and a line') or diag($out);
}

my @good = (
    ['a minimal config', undef, undef],
    ['every zone parameter', 'pathstats_zone %%ZONE%% size=2m snapshot=1m '
                             . 'rings=8;', undef],
    ['pathstats_key_max_length 16', undef,
     "pathstats on;\npathstats_key_max_length 16;"],
    ['pathstats_key_max_length 368', undef,
     "pathstats on;\npathstats_key_max_length 368;"],
    ['client address full/truncated/off', undef,
     "pathstats on;\npathstats_client_address truncated;\n"
     . "location /a { pathstats_client_address off; }\n"
     . "location /b { pathstats_client_address full; }"],
    ['pathstats_key with variables', undef,
     "pathstats on;\npathstats_key \$host\$uri;"],
    ['pathstats off without a zone', '', 'pathstats off;'],
    ['no pathstats directive at all', '', ''],
);
for my $c (@good) {
    my ($name, $http, $server) = @$c;
    my ($rc, $out) = nginx_t(conf($http, $server));
    is($rc, 0, "$name: nginx -t passes") or diag($out);
}

finish();
