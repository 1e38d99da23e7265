#!/usr/bin/perl
# Paths with ids count as one template: numbers become {id}, UUIDs {uuid},
# long hex {hex}, long mixed tokens {token}, segment by segment; other
# segments stay as they are.  `pathstats_normalize off` keeps the path,
# and a map can feed `pathstats_key` with route templates.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

start_nginx(<<'EOF', workers => 1);
http {
    pathstats_zone %%ZONE%% size=1m;

    map $uri $route {
        default                        $uri;
        ~^/shop/item/[^/]+$            /shop/item/:sku;
        ~^/shop/item/[^/]+/reviews$    /shop/item/:sku/reviews;
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name norm.test;
        pathstats on;

        location /      { return 200 "ok\n"; }
        location /raw/  { pathstats_normalize off; return 200 "raw\n"; }
        location /shop/ { pathstats_key $route; return 200 "shop\n"; }
    }
}
EOF

my $uuid = '550e8400-e29b-41d4-a716-446655440000';
my @table = (
    # request                                  => expected key
    ['/users/123',                             '/users/{id}'],
    ['/users/123/',                            '/users/{id}/'],
    ['/users/123/orders/4567',                 '/users/{id}/orders/{id}'],
    ['/123',                                   '/{id}'],
    ['/n/00000000000000000000000',             '/n/{id}'],
    ["/o/$uuid",                               '/o/{uuid}'],
    ['/o/' . uc($uuid) . '/items',             '/o/{uuid}/items'],
    ['/h/0123456789abcdef',                    '/h/{hex}'],
    ['/h/550e8400e29b41d4a716446655440000',    '/h/{hex}'],
    ['/h/DEADBEEF00112233AA',                  '/h/{hex}'],
    ['/t/abcDEF123456ghiJKL78',                '/t/{token}'],
    ['/t/aB3_-xyzaB3_-xyzaB3_',                '/t/{token}'],
    ['/t/eyJhbGciOiJIUzI1NiJ9x/profile',       '/t/{token}/profile'],
    ['/users/123?id=456',                      '/users/{id}'],
    # controls: nothing id-like
    ['/',                                      '/'],
    ['/v1/users',                              '/v1/users'],
    ['/abc123',                                '/abc123'],
    ['/files/123.json',                        '/files/123.json'],
    ['/h/0123456789abcde',                     '/h/0123456789abcde'],
    ['/h/deadbeefdeadbeef',                    '/h/deadbeefdeadbeef'],
    ['/t/abcdefghijklmnopqrstuvwxyz',          '/t/abcdefghijklmnopqrstuvwxyz'],
    ['/t/aB3xyzaB3xyzaB3xyz',                  '/t/aB3xyzaB3xyzaB3xyz'],
    ['/t/12345678901234567890-',               '/t/12345678901234567890-'],
    # not a UUID (one digit short), but a 35-char token
    ['/o/550e8400-e29b-41d4-a716-44665544000', '/o/{token}'],
    # normalize off
    ['/raw/users/123',                         '/raw/users/123'],
    ["/raw/o/$uuid",                           "/raw/o/$uuid"],
    # map-fed key
    ['/shop/item/XK-42',                       '/shop/item/:sku'],
    ['/shop/item/ZZ-7/reviews',                '/shop/item/:sku/reviews'],
    ['/shop/cart/99',                          '/shop/cart/{id}'],
);

my $repeat = 3;
for my $row (@table) {
    for (1 .. $repeat) {
        my ($status) = http_get($row->[0]);
        $status == 200 or fail("GET $row->[0] answered " . ($status // '-'));
    }
}

my ($recs, $bad) = tail_once();
is(scalar @$bad, 0, 'every --tail line is JSON');
is(scalar @$recs, $repeat * @table, 'one record per request');

my %want;
$want{ $_->[1] } += $repeat for @table;
my %have;
$have{ $_->{path} }++ for @$recs;
is_deeply(\%have, \%want, 'keys are the expected templates');

# request by request, in order (one worker, one ring)
for my $i (0 .. $#table) {
    my $rec = $recs->[$i * $repeat];
    my ($req, $key) = @{ $table[$i] };
    is($rec->{path}, $key, "$req -> $key");
    my $changed = $key =~ /\{(?:id|uuid|hex|token)\}/;
    is(!!$rec->{normalized}, !!$changed,
       "$req: normalized flag " . ($changed ? 'set' : 'clear'));
}

finish();
