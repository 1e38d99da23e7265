#!/bin/sh
#
# hll-check.sh: checks that aggregator/lib/hll.c and aggregator/lib/murmur3.c are
# bit-compatible with PostgreSQL's postgresql-hll extension.
#
# Usage: t/tools/hll-check.sh
#
# Connects with psql using the usual libpq environment (PGHOST, PGPORT,
# PGUSER, PGDATABASE); the database must allow CREATE EXTENSION hll.  It
# works in a temporary schema-less set of TEMP tables and leaves nothing
# behind.  Prints TAP; exits non-zero if any check fails.
#
# For N = 1, 10, 100, 160, 161, 300, 1000, 100000 client addresses (a mix of IPv4 and
# IPv6 raw address bytes) it checks that:
#   - C hash of each address = hll_hash_bytea() of the same bytes
#   - the C-serialised set loads as hll and hll_cardinality() equals the
#     C cardinality exactly
#   - hll_add_agg(hll_hash_bytea(addr)) in SQL produces the very same bytes
#   - hll_union_agg() of two C-built overlapping sets equals the C merge
#     (bytes and cardinality) and SQL's own hll_add_agg of both address
#     lists, and a union with hll_empty() changes nothing
#   - C decodes what PostgreSQL produced (EMPTY/EXPLICIT/SPARSE/FULL) to
#     the same cardinality and re-encodes it to the same bytes

set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/hll-check.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

cat > "$work/hll-gen.c" <<'EOF'
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hll.h"
#include "lib/murmur3.h"

static void
addr_of(uint64_t i, uint8_t *a, size_t *len)
{
    if (i % 4 == 3) {
        memset(a, 0, 16);
        a[0] = 0x20; a[1] = 0x01; a[2] = 0x0d; a[3] = 0xb8;
        a[12] = (uint8_t) (i >> 24); a[13] = (uint8_t) (i >> 16);
        a[14] = (uint8_t) (i >> 8);  a[15] = (uint8_t) i;
        *len = 16;
    } else {
        a[0] = 10; a[1] = (uint8_t) (i >> 16);
        a[2] = (uint8_t) (i >> 8); a[3] = (uint8_t) i;
        *len = 4;
    }
}

static void
print_hll(const ps_hll_t *h)
{
    uint8_t  buf[PS_HLL_MAX_BYTES];
    size_t   n, i;

    n = ps_hll_serialize(h, buf, sizeof(buf));
    printf("\\x");
    for (i = 0; i < n; i++) {
        printf("%02x", buf[i]);
    }
    printf("\t%.17g\n", ps_hll_cardinality(h));
}

static int
parse_hll(ps_hll_t *h, const char *hex)
{
    uint8_t  buf[PS_HLL_MAX_BYTES];
    size_t   n, i;
    unsigned b;

    if (strncmp(hex, "\\x", 2) != 0) {
        return -1;
    }
    hex += 2;
    n = strlen(hex) / 2;
    if (n > sizeof(buf)) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (sscanf(hex + 2 * i, "%2x", &b) != 1) {
            return -1;
        }
        buf[i] = (uint8_t) b;
    }
    return ps_hll_deserialize(h, buf, n);
}

int
main(int argc, char **argv)
{
    ps_hll_t  a, b;
    uint8_t   addr[16];
    size_t    len, k;
    uint64_t  i, n, off;
    FILE     *f;

    ps_hll_init(&a);
    ps_hll_init(&b);

    if (argc == 5 && strcmp(argv[1], "addrs") == 0) {
        n = strtoull(argv[2], NULL, 10);
        off = strtoull(argv[3], NULL, 10);
        f = fopen(argv[4], "w");
        if (f == NULL) {
            return 2;
        }
        for (i = off; i < off + n; i++) {
            addr_of(i, addr, &len);
            fprintf(f, "\\\\x");
            for (k = 0; k < len; k++) {
                fprintf(f, "%02x", addr[k]);
            }
            fprintf(f, "\t%" PRId64 "\n",
                    (int64_t) ps_murmur3_hll_hash(addr, len));
            if (ps_hll_add_hash(&a, ps_murmur3_hll_hash(addr, len)) != 0) {
                return 2;
            }
        }
        fclose(f);
        print_hll(&a);
        return 0;
    }

    if (argc == 4 && strcmp(argv[1], "union") == 0) {
        if (parse_hll(&a, argv[2]) != 0 || parse_hll(&b, argv[3]) != 0
            || ps_hll_merge(&a, &b) != 0)
        {
            return 2;
        }
        print_hll(&a);
        return 0;
    }

    if (argc == 3 && strcmp(argv[1], "card") == 0) {
        if (parse_hll(&a, argv[2]) != 0) {
            return 2;
        }
        print_hll(&a);
        return 0;
    }

    fprintf(stderr, "usage: hll-gen addrs N OFFSET FILE | union HEX HEX"
                    " | card HEX\n");
    return 2;
}
EOF

cc -O2 -std=c11 -Wall -Wextra -I"$top/aggregator" -o "$work/hll-gen" \
    "$work/hll-gen.c" "$top/aggregator/lib/hll.c" "$top/aggregator/lib/murmur3.c" \
    -lm || { echo "Bail out! cannot compile the generator"; exit 1; }

gen="$work/hll-gen"
sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

sql -c "CREATE EXTENSION IF NOT EXISTS hll" >/dev/null 2>&1 \
    || { echo "Bail out! psql cannot create extension hll"; exit 1; }

t=0
failed=0

check() {   # check NAME GOT WANT
    t=$((t + 1))
    if [ "$2" = "$3" ]; then
        echo "ok $t - $1"
    else
        echo "not ok $t - $1"
        echo "#   got:  $2"
        echo "#   want: $3"
        failed=$((failed + 1))
    fi
}

for n in 1 10 100 160 161 300 1000 100000; do
    half=$((n / 2))
    a=$("$gen" addrs "$n" 0 "$work/a.tsv")
    b=$("$gen" addrs "$n" "$half" "$work/b.tsv")
    a_hex=${a%	*}; a_card=${a#*	}
    b_hex=${b%	*}; b_card=${b#*	}
    m=$("$gen" union "$a_hex" "$b_hex")
    m_hex=${m%	*}; m_card=${m#*	}

    out=$(sql <<EOSQL
CREATE TEMP TABLE a (addr bytea, h bigint);
CREATE TEMP TABLE b (addr bytea, h bigint);
\\copy a FROM '$work/a.tsv'
\\copy b FROM '$work/b.tsv'
SELECT 'hash', count(*) FILTER (WHERE hll_hash_bytea(addr)::text::bigint <> h)
  FROM (SELECT * FROM a UNION ALL SELECT * FROM b) s;
SELECT 'card', hll_cardinality('$a_hex'::hll) = '$a_card'::float8;
SELECT 'sqlbytes', hll_add_agg(hll_hash_bytea(addr))::text = '$a_hex'
  FROM a;
SELECT 'sqlcard', hll_cardinality(hll_add_agg(hll_hash_bytea(addr)))
                  = '$a_card'::float8 FROM a;
SELECT 'union', hll_cardinality(hll_union_agg(v)) = '$m_card'::float8,
                hll_union_agg(v)::text = '$m_hex'
  FROM (VALUES ('$a_hex'::hll), ('$b_hex'::hll)) s(v);
SELECT 'unionsql', hll_add_agg(hll_hash_bytea(addr))::text = '$m_hex'
  FROM (SELECT addr FROM a UNION SELECT addr FROM b) s;
SELECT 'empty', hll_union('$a_hex'::hll, hll_empty())::text = '$a_hex';
SELECT 'pg', hll_add_agg(hll_hash_bytea(addr))::text FROM b;
EOSQL
) || { echo "Bail out! psql failed"; exit 1; }

    val() { printf '%s\n' "$out" | sed -n "s/^$1|//p"; }

    check "n=$n: C hash = hll_hash_bytea for every address" \
        "$(val hash)" 0
    check "n=$n: hll_cardinality(C bytes) = C cardinality ($a_card)" \
        "$(val card)" t
    check "n=$n: SQL hll_add_agg bytes = C bytes" "$(val sqlbytes)" t
    check "n=$n: SQL hll_add_agg cardinality = C cardinality" \
        "$(val sqlcard)" t
    check "n=$n: hll_union_agg(C, C) = C merge ($m_card)" \
        "$(val union)" "t|t"
    check "n=$n: SQL add_agg of both lists = C merge" "$(val unionsql)" t
    check "n=$n: union with hll_empty() is a no-op" "$(val empty)" t

    pg_hex=$(val pg)
    c=$("$gen" card "$pg_hex")
    check "n=$n: C decodes PostgreSQL's value and re-encodes it" \
        "$c" "$b"
done

echo "1..$t"
[ "$failed" -eq 0 ]
