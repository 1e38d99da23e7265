/*
 * One ring record as a JSON object: see record_json.h.
 */

#include <arpa/inet.h>
#include <inttypes.h>
#include <sys/socket.h>

#include "lib/hour.h"
#include "lib/json_escape.h"
#include "ring/record_json.h"


const char *
ps_record_client(const ps_record_t *rec, char *buf)
{
    int  af;

    switch (rec->addr_family) {
    case PS_AF_INET:
        af = AF_INET;
        break;
    case PS_AF_INET6:
        af = AF_INET6;
        break;
    default:
        return NULL;
    }

    return inet_ntop(af, ps_record_addr(rec), buf, PS_ADDR_TEXT_MAX);
}


static int
put_flag(ps_buf_t *b, const char *name, const ps_record_t *rec,
    unsigned flag)
{
    return ps_buf_printf(b, ",\"%s\":%s", name,
                         (rec->flags & flag) ? "true" : "false");
}


int
ps_record_json(ps_buf_t *b, uint32_t ring, uint64_t pos,
    const ps_record_t *rec)
{
    size_t       mlen, hlen, klen;
    uint64_t     upstream;
    const char  *client, *method;
    char         ts[PS_ISO8601_MAX], addr[PS_ADDR_TEXT_MAX];

    /* lengths clamped to their maxima, the strings where the clamped
     * lengths put them: nothing past PS_RECORD_MAX bytes of rec is read */
    mlen = rec->method_len < PS_METHOD_MAX ? rec->method_len : PS_METHOD_MAX;
    hlen = rec->host_len < PS_HOST_MAX ? rec->host_len : PS_HOST_MAX;
    klen = rec->key_len < PS_KEY_MAX ? rec->key_len : PS_KEY_MAX;
    method = ps_record_method(rec);
    upstream = ps_record_upstream(rec);

    if (ps_buf_printf(b, "{\"ring\":%" PRIu32 ",\"pos\":%" PRIu64
                      ",\"time\":\"%s\",\"time_us\":%" PRIu64 ",\"host\":",
                      ring, pos,
                      ps_format_iso8601_frac((int64_t) rec->time_us, ts, 6),
                      rec->time_us) != 0
        || ps_json_quote(b, method + mlen, hlen) != 0
        || ps_buf_puts(b, ",\"method\":") != 0
        || ps_json_quote(b, method, mlen) != 0
        || ps_buf_puts(b, ",\"path\":") != 0
        || ps_json_quote(b, method + mlen + hlen, klen) != 0
        || ps_buf_printf(b, ",\"status\":%u,\"request_us\":%" PRIu64,
                         (unsigned) rec->status, rec->request_us) != 0)
    {
        return -1;
    }

    if ((upstream == PS_NO_UPSTREAM
         ? ps_buf_puts(b, ",\"upstream_us\":null")
         : ps_buf_printf(b, ",\"upstream_us\":%" PRIu64, upstream))
        != 0)
    {
        return -1;
    }

    client = ps_record_client(rec, addr);

    if (ps_buf_printf(b, ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
                      ",\"client\":%s%s%s", rec->bytes_in, rec->bytes_out,
                      client ? "\"" : "", client ? client : "null",
                      client ? "\"" : "") != 0
        || put_flag(b, "key_truncated", rec, PS_REC_KEY_TRUNCATED) != 0
        || put_flag(b, "host_truncated", rec, PS_REC_HOST_TRUNCATED) != 0
        || put_flag(b, "normalized", rec, PS_REC_NORMALIZED) != 0
        || put_flag(b, "upgraded", rec, PS_REC_UPGRADED) != 0
        || ps_buf_putc(b, '}') != 0)
    {
        return -1;
    }

    return 0;
}
