/*
 * Decoded records: see rec.h.  Strings keep valid UTF-8 and control
 * characters other than NUL (the JSON and SQL writers escape those);
 * NUL and bytes outside a valid UTF-8 sequence become the text \xHH,
 * because PostgreSQL text cannot hold NUL and every output must be
 * valid UTF-8.
 */

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "lib/hour.h"
#include "lib/murmur3.h"
#include "lib/utf8.h"
#include "ring/rec.h"


/* Dotted-quad text of an IPv4 address (inet_ntop's, without its cost);
 * returns its length, at most 15, not NUL-terminated. */
static size_t
ipv4_text(char *out, const uint8_t *a)
{
    size_t    o = 0;
    unsigned  i, v;

    for (i = 0; i < 4; i++) {
        v = a[i];
        if (v >= 100) {
            out[o++] = (char) ('0' + v / 100);
            v %= 100;
            out[o++] = (char) ('0' + v / 10);
        } else if (v >= 10) {
            out[o++] = (char) ('0' + v / 10);
        }
        out[o++] = (char) ('0' + v % 10);
        if (i < 3) {
            out[o++] = '.';
        }
    }

    return o;
}


/* Keeps what the client mode allows of the address in addr (zeroing the
 * rest) and writes its text; returns the number of address bytes. */
static size_t
client_text(ps_rec_scratch_t *sc, const ps_record_t *rec, int mode,
    uint8_t *addr)
{
    size_t  alen, len;
    char    txt[INET6_ADDRSTRLEN];
    int     af;

    af = (rec->addr_family == PS_AF_INET) ? AF_INET : AF_INET6;
    alen = (af == AF_INET) ? 4 : 16;

    memset(addr, 0, 16);
    memcpy(addr, ps_record_addr(rec), alen);

    if (mode == PS_CLIENT_TRUNCATED) {
        /* IPv4 /24, IPv6 /48 */
        memset(addr + (af == AF_INET ? 3 : 6), 0, af == AF_INET ? 1 : 10);
    }

    if (af == AF_INET) {
        len = ipv4_text(txt, addr);

    } else if (inet_ntop(af, addr, txt, sizeof(txt)) != NULL) {
        len = strlen(txt);

    } else {
        len = 0;
    }

    /* sizeof(sc->client) > INET6_ADDRSTRLEN + 3: no truncation */
    memcpy(sc->client, txt, len);

    if (mode == PS_CLIENT_TRUNCATED) {
        memcpy(sc->client + len, af == AF_INET ? "/24" : "/48", 3);
        len += 3;
    }

    sc->client[len] = '\0';

    return alen;
}


/* 16 lower-case hex digits of v and a NUL ("%016llx"). */
static void
hex64(char *out, uint64_t v)
{
    static const char  digits[] = "0123456789abcdef";
    int                i;

    for (i = 15; i >= 0; i--) {
        out[i] = digits[v & 0xf];
        v >>= 4;
    }

    out[16] = '\0';
}


/* The keyed hash of the hashed mode: MurmurHash3 of key || address. */
static uint64_t
keyed_hash(const char *key, const uint8_t *addr, size_t alen)
{
    uint8_t   buf[256 + 16];
    size_t    klen;
    uint64_t  out[2];

    klen = key ? strlen(key) : 0;
    if (klen > 256) {
        klen = 256;
    }

    if (klen) {
        memcpy(buf, key, klen);
    }
    memcpy(buf + klen, addr, alen);

    ps_murmur3_x64_128(buf, klen + alen, 0x70617468, out);

    return out[0];
}


void
ps_rec_decode(ps_rec_t *out, ps_rec_scratch_t *scratch, uint32_t ring,
    uint64_t pos, const ps_record_t *rec, int client_mode,
    const char *hash_key)
{
    size_t       hlen, mlen, plen, alen;
    uint8_t      addr[16];
    const char  *method;

    memset(out, 0, sizeof(*out));

    out->ring = ring;
    out->pos = pos;
    out->time_us = rec->time_us;
    out->hour = ps_hour_of((int64_t) rec->time_us);

    hlen = rec->host_len < PS_HOST_MAX ? rec->host_len : PS_HOST_MAX;
    mlen = rec->method_len < PS_METHOD_MAX ? rec->method_len : PS_METHOD_MAX;
    plen = rec->key_len < PS_KEY_MAX ? rec->key_len : PS_KEY_MAX;

    /* the strings where the clamped lengths put them: within
     * PS_RECORD_MAX bytes of rec whatever its lengths say */
    method = ps_record_method(rec);

    out->method = scratch->method;
    out->method_len = ps_utf8_sanitise(scratch->method, method, mlen, 0);
    out->host = scratch->host;
    out->host_len = ps_utf8_sanitise(scratch->host, method + mlen, hlen, 0);
    out->path = scratch->path;
    out->path_len = ps_utf8_sanitise(scratch->path, method + mlen + hlen,
                                     plen, 0);

    out->status = rec->status;
    out->request_us = rec->request_us;
    out->upstream_us = ps_record_upstream(rec);
    out->bytes_in = rec->bytes_in;
    out->bytes_out = rec->bytes_out;
    out->flags = rec->flags;

    if (client_mode == PS_CLIENT_OFF
        || (rec->addr_family != PS_AF_INET
            && rec->addr_family != PS_AF_INET6))
    {
        return;
    }

    alen = client_text(scratch, rec, client_mode, addr);

    if (client_mode == PS_CLIENT_HASHED) {
        scratch->client_hash = keyed_hash(hash_key, addr, alen);
        hex64(scratch->client, scratch->client_hash);
    } else {
        scratch->client_hash = ps_murmur3_hll_hash(addr, alen);
    }

    out->client = scratch->client;
    out->client_hash = &scratch->client_hash;
}
