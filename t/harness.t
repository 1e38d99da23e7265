#!/usr/bin/perl
# The test harness itself, with plain nginx (no module), Redis and
# PostgreSQL: what every other test relies on works and cleans up.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PathStats::Test;

# nginx: starts, answers exactly what it was asked, reloads, stops.
start_nginx(<<'EOF', workers => 2, module => 0);
http {
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name harness.test;
        location / { return 200 "hello $request_method $uri\n"; }
        location /echo { return 200 "[$request_uri]"; }
    }
}
EOF
is(scalar(worker_pids()), 2, 'two workers run');

my ($status, $body, $r) = http_get('/x?y=1');
is($status, 200, 'GET answers 200');
is($body, "hello GET /x\n", 'body is what nginx returned');
ok($r->{received} > length($body), 'response bytes counted');

# hostile bytes go on the wire untouched (no client normalisation)
(undef, $body) = http_get("/echo/a%2F..%01\xff\"\\");
is($body, "[/echo/a%2F..%01\xff\"\\]", 'request line sent byte for byte');

my ($n, $res) = parallel_load(clients => 3, requests => 40,
                              paths => ['/a', '/b'], track_paths => 1);
is($n, 120, 'parallel_load counts every response');
is($res->{failures}, 0, 'no client failures');
is($res->{by_path}{'GET /a 200'} + $res->{by_path}{'GET /b 200'}, 120,
   'responses tracked per path');

my @old = worker_pids();
my $load = start_load(clients => 2, requests => 200, path => '/r');
my @new = reload_nginx() for 1 .. 3;
my $lr = $load->wait;
is($lr->{responses}, 400, 'every request answered across 3 reloads');
is($lr->{failures}, 0, 'no failures across reloads');
my %old = map { $_ => 1 } @old;
ok(!grep({ $old{$_} } worker_pids()), 'reload replaced the workers');

my ($rc, $out) = nginx_t(<<'EOF', module => 0);
http {
    server {
        listen 127.0.0.1:%%PORT%%;
        bogus_directive on;
    }
}
EOF
isnt($rc, 0, 'nginx -t fails on a bad directive');
like($out, qr/unknown directive "bogus_directive" in \S+nginx-t-\d+\.conf:\d+/,
     'nginx -t names the file and line');

# Redis
my $url = start_redis();
like($url, qr{^redis://127\.0\.0\.1:\d+$}, 'redis url');
is(redis_cmd('SET', 'k', "a\r\nb"), 'OK', 'SET');
is(redis_cmd('GET', 'k'), "a\r\nb", 'GET returns binary-safe value');
is(redis_cmd('INCRBY', 'c', 5), 5, 'integer reply');
is(redis_cmd('GET', 'missing'), undef, 'nil reply');
is_deeply(redis_cmd('MGET', 'k', 'missing'), ["a\r\nb", undef], 'array reply');
ok(redis_cmd('NOSUCH')->{error}, 'error reply');
stop_redis();
ok(!eval { redis_cmd('PING'); 1 }, 'redis stopped');
start_redis();
is(redis_cmd('PING'), 'PONG', 'redis restarts on the same port');

# PostgreSQL
my $ci = start_postgres();
like($ci, qr/^host=127\.0\.0\.1 port=\d+ dbname=postgres user=pathstats$/,
     'conninfo');
is(psql_query('select 1 + 1'), 2, 'scalar query');
psql_query('create extension hll');
is(psql_query("select hll_cardinality(hll_add_agg(hll_hash_integer(g)))::int
               from generate_series(1, 100) g") > 90 ? 1 : 0, 1,
   'hll extension works');
psql_query('create table t (a int, b text)');
psql_query(q{insert into t values (1, 'x'), (2, NULL)});
is_deeply([psql_query('select a, b from t order by a')],
          [['1', 'x'], ['2', '']], 'rows as arrayrefs');
ok(!eval { psql_query('select nope'); 1 }, 'SQL errors die');
stop_postgres();
start_postgres();
is(psql_query('select count(*) from t'), 2, 'data survives a restart');

stop_nginx();
ok(!master_pid(), 'nginx stopped');

finish();
