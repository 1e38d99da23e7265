/*
 * Redis batches: see redis_batch.h; what the script does and why is
 * described in sink_redis.c.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/strbuf.h"
#include "store/redis/redis_batch.h"

#define PS_REDIS_OTHER_CLIENT  "{other}"


/* The hour script: KEYS as in ps_redis_key_suffix[], ARGV as built by
 * ps_redis_batch_head() and ps_redis_build_chunk().  Answers {applied,
 * code, next}, code one of PS_REDIS_SCRIPT_* (redis_batch.h). */
const char ps_redis_script[] =
    /* the functions as locals: a global is a lookup in Redis's guarded
     * table of globals, measured at more than half the time of the sums
     * below (10 000 fields: 43 against 17 ms) */
    "local call, unpack, tonumber, type = redis.call, unpack, tonumber,"
    " type\n"
    "local match, format, sub = string.match, string.format, string.sub\n"
    "local min = math.min\n"
    "local KEYS, ARGV = KEYS, ARGV\n"
    "local function ge(a, b)\n"
    "  if #a ~= #b then return #a > #b end\n"
    "  return a >= b\n"
    "end\n"
    /* a variadic command over t in slices (Lua's unpack() takes at most
     * about 8000 values); HMGET and ZMSCORE answers joined */
    "local function many(cmd, key, t)\n"
    "  local r, o = {}, 0\n"
    "  for i = 1, #t, 4000 do\n"
    "    local x = call(cmd, key, unpack(t, i, min(#t, i + 3999)))\n"
    "    if type(x) == 'table' then\n"
    "      for j = 1, #x do r[o + j] = x[j] end\n"
    "      o = o + #x\n"
    "    end\n"
    "  end\n"
    "  return r\n"
    "end\n"
    /* a variadic command over ARGV[i..j] in slices, as above (pairs
     * stay whole: a slice is an even number of arguments) */
    "local function range(cmd, key, i, j)\n"
    "  for s = i, j, 4000 do\n"
    "    call(cmd, key, unpack(ARGV, s, min(j, s + 3999)))\n"
    "  end\n"
    "end\n"
    "local zone, n = ARGV[2], tonumber(ARGV[3])\n"
    "local wm, mode = KEYS[7], ARGV[n + 5]\n"
    "local rid, k = ARGV[n + 6], tonumber(ARGV[n + 7])\n"
    "local last = tonumber(ARGV[n + 8]) - 1\n"
    "local mk = 'repair:' .. zone\n"
    "local fields = {}\n"
    "for i = 1, n do fields[i] = zone .. '.' .. (i - 1) end\n"
    "local stored = call('HMGET', wm, unpack(fields))\n"
    "local lost = true\n"
    "for i = 1, n do if stored[i] then lost = false break end end\n"
    "local function done()\n"
    "  for i = 1, n do\n"
    "    local s = stored[i]\n"
    "    if not s or not ge(s, ARGV[3 + i]) then return false end\n"
    "  end\n"
    "  return true\n"
    "end\n"
    "local marker = call('HGET', wm, mk)\n"
    /* who wrote this shard of the hour before: 2 nobody, 1 this node
     * and zone alone (the watermark hash holds no other zone's field),
     * 0 another node or zone too (answered with every code) */
    "local alone = 0\n"
    "local nn = call('SCARD', KEYS[6])\n"
    "if nn == 0 then alone = 2\n"
    "elseif nn == 1 and call('SISMEMBER', KEYS[6], ARGV[1]) == 1 then\n"
    "  local own = marker and 1 or 0\n"
    "  for i = 1, n do if stored[i] then own = own + 1 end end\n"
    "  if call('HLEN', wm) == own then alone = 1 end\n"
    "end\n"
    "local j\n"
    "if rid ~= '' and marker\n"
    "    and sub(marker, 1, #rid + 1) == rid .. ':' then\n"
    "  j = tonumber(sub(marker, #rid + 2))\n"
    "end\n"
    "if j then\n"
    "  if j ~= k then return {0, 3, j, alone} end\n"
    "elseif k > 0 or mode == 'R' then\n"
    "  if lost then\n"
    "    if marker then return {0, 5, 0, alone} end\n"
    "    if k > 0 then return {0, 2, 0, alone} end\n"
    "  elseif mode == 'R' or done() then\n"
    "    return {0, 0, 0, alone}\n"
    "  else\n"
    "    return {0, 3, 0, alone}\n"
    "  end\n"
    "elseif mode == '1' and lost and not marker then\n"
    "  return {0, 2, 0, alone}\n"
    "elseif done() then\n"
    "  return {0, 0, 0, alone}\n"
    "end\n"
    /* the absolute form: this node has been the shard's only writer
     * since its first write of the hour, so its totals are the stored
     * ones; another node wrote since: nothing applied, the sink sends
     * the deltas instead */
    "local form = ARGV[n + 9]\n"
    "if form == 'A' and alone == 0 then return {0, 6, 0, alone} end\n"
    "local m = tonumber(ARGV[n + 10])\n"
    "local a = n + 11\n"
    /* absolute: the new totals as they are, one HSET of field-value
     * pairs and one ZADD of score-field pairs straight from ARGV */
    "if m > 0 and form == 'A' then\n"
    "  range('HSET', KEYS[2], a, a + 2 * m - 1)\n"
    "  range('ZADD', KEYS[3], a + 2 * m, a + 4 * m - 1)\n"
    "  a = a + 4 * m\n"
    /* the deltas: one HMGET, the sums here, one HSET and one ZADD of
     * the new totals (numbers are exact below 2^53) */
    "elseif m > 0 then\n"
    "  local pat = '^(%d+) (%d+) (%d+) (%d+) (%d+) (%d+)$'\n"
    "  local fs = {}\n"
    "  for e = 1, m do fs[e] = ARGV[a + 2 * e - 2] end\n"
    "  local old = many('HMGET', KEYS[2], fs)\n"
    "  local set, top = {}, {}\n"
    "  for e = 1, m do\n"
    "    local d, v = ARGV[a + 2 * e - 1], old[e]\n"
    "    local r2, er2, bi2, bo2, ls2, lx2\n"
    "    if v then\n"
    "      r2, er2, bi2, bo2, ls2, lx2 = match(v, pat)\n"
    "    end\n"
    /* a new field (or one that does not read as ours) takes the
     * delta as it is */
    "    if r2 then\n"
    "      local r, er, bi, bo, ls, lx = match(d, pat)\n"
    /* arithmetic on the captured digits converts them; %d prints
     * a long, exact for every count below 2^53 */
    "      r, lx, lx2 = r + r2, lx + 0, lx2 + 0\n"
    "      d = format('%d %d %d %d %d %d', r, er + er2, bi + bi2,"
    " bo + bo2, ls + ls2, lx > lx2 and lx or lx2)\n"
    "      top[2 * e - 1] = r\n"
    "    else\n"
    "      top[2 * e - 1] = tonumber(match(d, '^%d+'))\n"
    "    end\n"
    "    set[2 * e - 1] = fs[e]\n"
    "    set[2 * e] = d\n"
    "    top[2 * e] = fs[e]\n"
    "  end\n"
    "  many('HSET', KEYS[2], set)\n"
    "  many('ZADD', KEYS[3], top)\n"
    "  a = a + 2 * m\n"
    "end\n"
    "local tn = {'requests', 'errors', 'status_1xx', 'status_2xx',\n"
    "  'status_3xx', 'status_4xx', 'status_5xx', 'bytes_in', 'bytes_out',\n"
    "  'latency_sum_us'}\n"
    "for i = 1, #tn do\n"
    "  call('HINCRBY', KEYS[1], tn[i], ARGV[a])\n"
    "  a = a + 1\n"
    "end\n"
    "local mx = call('HGET', KEYS[1], 'latency_max_us')\n"
    "if not mx or not ge(mx, ARGV[a]) then\n"
    "  call('HSET', KEYS[1], 'latency_max_us', ARGV[a])\n"
    "end\n"
    "a = a + 1\n"
    /* the clients: one PFADD, one ZMSCORE and one ZADD of the new
     * totals */
    "local c = tonumber(ARGV[a])\n"
    "a = a + 1\n"
    "if c > 0 then\n"
    "  local cs = {}\n"
    "  for i = 1, c do cs[i] = ARGV[a + 2 * i - 2] end\n"
    "  many('PFADD', KEYS[4], cs)\n"
    "  local old = many('ZMSCORE', KEYS[5], cs)\n"
    "  local add = {}\n"
    "  for i = 1, c do\n"
    "    add[2 * i - 1] = tonumber(ARGV[a + 2 * i - 1])"
    " + (tonumber(old[i]) or 0)\n"
    "    add[2 * i] = cs[i]\n"
    "  end\n"
    "  many('ZADD', KEYS[5], add)\n"
    "  a = a + 2 * c\n"
    "end\n"
    "if ARGV[a] ~= '0' then\n"
    "  call('ZINCRBY', KEYS[5], ARGV[a], '" PS_REDIS_OTHER_CLIENT "')\n"
    "end\n"
    "local keep = tonumber(ARGV[a + 1])\n"
    "if call('ZCARD', KEYS[5]) > 2 * keep then\n"
    "  call('ZREMRANGEBYRANK', KEYS[5], 0, -keep - 1)\n"
    "end\n"
    "for i = 1, n do call('HSET', wm, fields[i], ARGV[3 + i]) end\n"
    "if k < last then\n"
    "  call('HSET', wm, mk, rid .. ':' .. (k + 1))\n"
    "elseif marker then\n"
    "  call('HDEL', wm, mk)\n"
    "end\n"
    "call('SADD', KEYS[6], ARGV[1])\n"
    "for i = 1, #KEYS do call('PEXPIREAT', KEYS[i], ARGV[n + 4]) end\n"
    "if k < last then return {1, 3, k + 1, alone} end\n"
    "if mode == 'R' then return {1, 4, 0, alone} end\n"
    "return {1, 1, 0, alone}\n";

const size_t ps_redis_script_len = sizeof(ps_redis_script) - 1;

static const char *ps_redis_key_suffix[PS_REDIS_NKEYS] = {
    "totals", "paths", "top", "clients:uniq", "clients:top", "nodes",
    "wm:"                                   /* + node id */
};


/* Makes room for one more argument; 0 or -1. */
static int
ps_redis_arg_room(ps_redis_batch_t *bt)
{
    size_t  ncap, *noff, *nlen;

    if (bt->argc == bt->cap) {
        ncap = bt->cap ? 2 * bt->cap : 64;
        noff = realloc(bt->off, ncap * sizeof(*noff));
        if (noff == NULL) {
            return -1;
        }
        bt->off = noff;
        nlen = realloc(bt->len, ncap * sizeof(*nlen));
        if (nlen == NULL) {
            return -1;
        }
        bt->len = nlen;
        bt->cap = ncap;
    }
    return 0;
}


/* Appends one argument of n bytes to the batch; 0 or -1. */
static int
ps_redis_arg(ps_redis_batch_t *bt, const void *p, size_t n)
{
    if (ps_redis_arg_room(bt) != 0) {
        return -1;
    }
    bt->off[bt->argc] = bt->bytes.len;
    if (ps_buf_append(&bt->bytes, p, n) != 0) {
        return -1;
    }
    bt->len[bt->argc++] = n;
    return 0;
}


/* Appends argument idx again, sharing its bytes; 0 or -1. */
static int
ps_redis_arg_again(ps_redis_batch_t *bt, size_t idx)
{
    if (ps_redis_arg_room(bt) != 0) {
        return -1;
    }
    bt->off[bt->argc] = bt->off[idx];
    bt->len[bt->argc++] = bt->len[idx];
    return 0;
}


/* Appends v in decimal (without snprintf(): a flush of 10 000 fields
 * writes 80 000 numbers, and snprintf() took a fifth of its time in this
 * process). */
static int
ps_redis_arg_u64(ps_redis_batch_t *bt, uint64_t v)
{
    char  s[24];

    return ps_redis_arg(bt, s, (size_t) (ps_u64_text(s, v) - s));
}


void
ps_redis_batch_free(ps_redis_batch_t *bt)
{
    if (bt->alt != NULL) {
        ps_redis_batch_free(bt->alt);
        free(bt->alt);
    }
    ps_buf_free(&bt->bytes);
    free(bt->off);
    free(bt->len);
    free(bt->pos);
    free(bt->chunk_arg);
    memset(bt, 0, sizeof(*bt));
}


/* Appends a count argument patched by ps_redis_patch_count(); its index. */
static int
ps_redis_count_placeholder(ps_redis_batch_t *bt, size_t *idx)
{
    *idx = bt->argc;
    return ps_redis_arg(bt, "0000000000", 10);
}


static void
ps_redis_patch_count(ps_redis_batch_t *bt, size_t idx, size_t n)
{
    char  s[16];

    /* the script reads it with tonumber(): leading zeros are fine */
    snprintf(s, sizeof(s), "%010zu", n);
    memcpy(bt->bytes.data + bt->off[idx], s, 10);
}


int
ps_redis_batch_init(ps_redis_batch_t *bt, int64_t hour, unsigned shard,
    uint64_t zone_id, const uint64_t *pos, uint32_t nrings,
    uint64_t expire_ms)
{
    memset(bt, 0, sizeof(*bt));
    bt->form = 'D';
    bt->hour = hour;
    bt->shard = shard;
    bt->zone_id = zone_id;
    bt->nrings = nrings;
    bt->expire_ms = expire_ms;
    bt->pos = malloc((nrings ? nrings : 1) * sizeof(*bt->pos));
    if (bt->pos == NULL) {
        return -1;
    }
    memcpy(bt->pos, pos, nrings * sizeof(*bt->pos));
    return 0;
}


/* Appends the head of one script of the batch: keys, node, zone,
 * positions, expiry, mode ('0' first write, '1' this sink wrote the
 * hour before and can repair it, 'R' repair), the id of a sequence of
 * chunks ("" for a batch of one script), this chunk's number, the
 * number of chunks and the form of the fields that follow ('D' deltas,
 * 'A' absolute); 0 or -1. */
static int
ps_redis_batch_head(const ps_redis_batcher_t *rb, ps_redis_batch_t *bt,
    char mode, const char *rid, size_t chunk, size_t nchunks)
{
    char      prefix[64], key[160];
    uint32_t  ring;
    unsigned  k;
    int       kn;

    ps_redis_key_prefix(prefix, sizeof(prefix), bt->hour, bt->shard,
                        rb->shards);
    for (k = 0; k < PS_REDIS_NKEYS; k++) {
        kn = snprintf(key, sizeof(key), "%s%s%s", prefix,
                      ps_redis_key_suffix[k],
                      k == PS_REDIS_NKEYS - 1 ? rb->node_id : "");
        if (ps_redis_arg(bt, key, (size_t) kn) != 0) {
            return -1;
        }
    }

    if (ps_redis_arg(bt, rb->node_id, strlen(rb->node_id)) != 0
        || ps_redis_arg_u64(bt, bt->zone_id) != 0
        || ps_redis_arg_u64(bt, bt->nrings) != 0)
    {
        return -1;
    }
    for (ring = 0; ring < bt->nrings; ring++) {
        if (ps_redis_arg_u64(bt, bt->pos[ring]) != 0) {
            return -1;
        }
    }
    if (ps_redis_arg_u64(bt, bt->expire_ms) != 0) {
        return -1;
    }
    if (ps_redis_arg(bt, &mode, 1) != 0
        || ps_redis_arg(bt, rid, strlen(rid)) != 0
        || ps_redis_arg_u64(bt, chunk) != 0
        || ps_redis_arg_u64(bt, nchunks) != 0
        || ps_redis_arg(bt, &bt->form, 1) != 0)
    {
        return -1;
    }
    return 0;
}


/* Appends one field (the parts joined by tabs) and the counters v as
 * one argument "requests errors bytes_in bytes_out latency_sum_us
 * latency_max_us" (the form of the paths hash); 0 or -1. */
static int
ps_redis_batch_field(ps_redis_batch_t *bt, const char *const *part,
    const size_t *plen, unsigned nparts, const ps_counts_t *v)
{
    unsigned  k;
    char      num[6 * 21], *p;
    uint64_t  c[6];

    if (ps_redis_arg(bt, part[0], plen[0]) != 0) {
        return -1;
    }
    for (k = 1; k < nparts; k++) {
        if (ps_buf_putc(&bt->bytes, '\t') != 0
            || ps_buf_append(&bt->bytes, part[k], plen[k]) != 0)
        {
            return -1;
        }
    }
    bt->len[bt->argc - 1] = bt->bytes.len - bt->off[bt->argc - 1];

    c[0] = v->requests;
    c[1] = v->errors;
    c[2] = v->bytes_in;
    c[3] = v->bytes_out;
    c[4] = v->latency_sum_us;
    c[5] = v->latency_max_us;
    p = num;
    for (k = 0; k < 6; k++) {
        if (k > 0) {
            *p++ = ' ';
        }
        p = ps_u64_text(p, c[k]);
    }
    return ps_redis_arg(bt, num, (size_t) (p - num));
}


/* Adds the counters v to the shard's totals tot[11]. */
static void
ps_redis_batch_total(uint64_t *tot, const ps_counts_t *v)
{
    unsigned  k;

    tot[0] += v->requests;
    tot[1] += v->errors;
    for (k = 0; k < 5; k++) {
        tot[2 + k] += v->status[k];
    }
    tot[7] += v->bytes_in;
    tot[8] += v->bytes_out;
    tot[9] += v->latency_sum_us;
    if (v->latency_max_us > tot[10]) {
        tot[10] = v->latency_max_us;
    }
}


static int
ps_redis_batch_totals(ps_redis_batch_t *bt, const uint64_t *tot)
{
    unsigned  k;

    for (k = 0; k < 11; k++) {
        if (ps_redis_arg_u64(bt, tot[k]) != 0) {
            return -1;
        }
    }
    return 0;
}


/* Ends a batch: the folded clients' requests and the clients:top size. */
static int
ps_redis_batch_tail(const ps_redis_batcher_t *rb, ps_redis_batch_t *bt,
    uint64_t folded)
{
    if (ps_redis_arg_u64(bt, folded) != 0) {
        return -1;
    }
    return ps_redis_arg_u64(bt, rb->top_clients);
}


/* What the scripts of a batch write: the fields and clients of one
 * hour and shard, from the delta and the client buffer (a normal batch)
 * or from the repair state of the hour (a repair). */
typedef struct {
    const ps_agg_table_t          *delta;   /* NULL: a repair, from h */
    size_t                        *fidx;    /* its delta entries, or its
                                               entries of h */
    const ps_redis_clients_t      *cb;
    uint32_t                      *cidx;    /* its cb->clients (unfolded)
                                               or clients of h */
    const ps_redis_repair_hour_t  *h;
    const uint32_t                *at;      /* absolute form: per delta
                                               entry its entry of h + 1 */
    uint64_t                      *req;     /* and per field its total
                                               requests (the ZADD's) */
    size_t                         nfields;
    size_t                         nclients;
    uint64_t                       folded;  /* requests of folded clients */
} ps_redis_src_t;


/* Appends field i of src with its counters (the delta's, or in the
 * absolute form the hour's totals that the repair state holds), adds
 * what it adds to the hour to tot[11]. */
static int
ps_redis_src_field(ps_redis_batch_t *bt, const ps_redis_src_t *src,
    size_t i, uint64_t *tot)
{
    const ps_agg_entry_t           *e;
    const ps_redis_repair_entry_t  *v;
    const char                     *part[3];
    size_t                          plen[3];

    if (src->delta == NULL) {
        v = &src->h->entries[src->fidx[i]];
        part[0] = v->field;
        plen[0] = v->field_len;
        ps_redis_batch_total(tot, &v->counts);
        return ps_redis_batch_field(bt, part, plen, 1, &v->counts);
    }

    e = ps_agg_entry_at(src->delta, src->fidx[i]);
    part[0] = e->host;
    plen[0] = e->host_len;
    part[1] = e->method;
    plen[1] = e->method_len;
    part[2] = e->path;
    plen[2] = e->path_len;
    ps_redis_batch_total(tot, &e->counts);
    if (bt->form == 'A') {
        v = &src->h->entries[src->at[src->fidx[i]] - 1];
        src->req[i] = v->counts.requests;
        return ps_redis_batch_field(bt, part, plen, 3, &v->counts);
    }
    return ps_redis_batch_field(bt, part, plen, 3, &e->counts);
}


/* Appends the score-field pairs of the absolute form's ZADD: each
 * field's requests (noted by ps_redis_src_field()), and the field again
 * (the argument at arg0 + 2 * i, its bytes shared); 0 or -1. */
static int
ps_redis_src_scores(ps_redis_batch_t *bt, const ps_redis_src_t *src,
    size_t field0, size_t nfields, size_t arg0)
{
    size_t  i;

    for (i = 0; i < nfields; i++) {
        if (ps_redis_arg_u64(bt, src->req[field0 + i]) != 0
            || ps_redis_arg_again(bt, arg0 + 2 * i) != 0)
        {
            return -1;
        }
    }
    return 0;
}


/* Appends client i of src with its requests. */
static int
ps_redis_src_client(ps_redis_batch_t *bt, const ps_redis_src_t *src,
    size_t i)
{
    const char  *text;
    size_t       len;
    uint64_t     requests;

    if (src->delta == NULL) {
        text = src->h->clients[src->cidx[i]].text;
        len = src->h->clients[src->cidx[i]].len;
        requests = src->h->clients[src->cidx[i]].requests;
    } else {
        text = src->cb->clients[src->cidx[i]].text;
        len = src->cb->clients[src->cidx[i]].len;
        requests = src->cb->clients[src->cidx[i]].requests;
    }
    if (ps_redis_arg(bt, text, len) != 0
        || ps_redis_arg_u64(bt, requests) != 0)
    {
        return -1;
    }
    return 0;
}


/* Appends chunk k of nchunks of bt (one script: the whole batch when
 * nchunks is 1): its span of src's fields (and their totals), its span
 * of clients, and with the last chunk the folded clients; 0 or -1. */
static int
ps_redis_build_chunk(const ps_redis_batcher_t *rb, ps_redis_batch_t *bt,
    const ps_redis_src_t *src, const char *rid, size_t k, size_t nchunks)
{
    ps_redis_repair_span_t  sp;
    size_t                  i, cnt, arg0;
    uint64_t                tot[11];

    ps_redis_repair_span(src->nfields, src->nclients, rb->chunk, k, &sp);

    if (bt->chunk_arg != NULL) {
        bt->chunk_arg[k] = bt->argc;
    }
    if (ps_redis_batch_head(rb, bt, bt->mode, rid, k, nchunks) != 0
        || ps_redis_count_placeholder(bt, &cnt) != 0)
    {
        return -1;
    }

    memset(tot, 0, sizeof(tot));
    arg0 = bt->argc;
    for (i = sp.field0; i < sp.field0 + sp.nfields; i++) {
        if (ps_redis_src_field(bt, src, i, tot) != 0) {
            return -1;
        }
    }
    if (bt->form == 'A'
        && ps_redis_src_scores(bt, src, sp.field0, sp.nfields, arg0) != 0)
    {
        return -1;
    }
    ps_redis_patch_count(bt, cnt, sp.nfields);
    bt->requests += tot[0];

    if (ps_redis_batch_totals(bt, tot) != 0
        || ps_redis_count_placeholder(bt, &cnt) != 0)
    {
        return -1;
    }
    for (i = sp.client0; i < sp.client0 + sp.nclients; i++) {
        if (ps_redis_src_client(bt, src, i) != 0) {
            return -1;
        }
    }
    ps_redis_patch_count(bt, cnt, sp.nclients);

    return ps_redis_batch_tail(rb, bt, k + 1 == nchunks ? src->folded : 0);
}


/* Builds the scripts of bt (started by ps_redis_batch_init(), bt->mode
 * set) from src: one script when its fields and clients fit in one
 * chunk (a normal batch), else a sequence of chunks with an id; a
 * repair is always a sequence (of one chunk at least); 0 or -1. */
static int
ps_redis_build_chunks(ps_redis_batcher_t *rb, ps_redis_batch_t *bt,
    const ps_redis_src_t *src)
{
    size_t  k, nchunks;

    nchunks = ps_redis_repair_nchunks(src->nfields, src->nclients,
                                      rb->chunk);
    if (nchunks > 1 || bt->mode == 'R') {
        /* unique per sequence of this node, also across its restarts
         * (the deltas of a batch built later take its id) */
        if (bt->rid[0] == '\0') {
            snprintf(bt->rid, sizeof(bt->rid), "%llx.%lx.%x",
                     (unsigned long long) (ps_now_us() / 1000),
                     (long) getpid(), ++rb->sequences);
        }
        bt->chunk_arg = malloc((nchunks + 1) * sizeof(*bt->chunk_arg));
        if (bt->chunk_arg == NULL) {
            return -1;
        }
        bt->nchunks = nchunks;
    }

    for (k = 0; k < nchunks; k++) {
        if (ps_redis_build_chunk(rb, bt, src, bt->rid, k, nchunks) != 0) {
            return -1;
        }
    }
    if (bt->chunk_arg != NULL) {
        bt->chunk_arg[nchunks] = bt->argc;
    }
    bt->keys = src->nfields;
    bt->clients = src->nclients;
    return 0;
}


void
ps_redis_batch_set_mode(ps_redis_batch_t *bt, char mode)
{
    size_t  k, n, a;

    n = bt->nchunks ? bt->nchunks : 1;
    for (k = 0; k < n; k++) {
        /* the head: keys, node, zone, nrings, positions, expiry, mode */
        a = (bt->nchunks ? bt->chunk_arg[k] : 0) + PS_REDIS_NKEYS + 4
            + bt->nrings;
        bt->bytes.data[bt->off[a]] = mode;
    }
    bt->mode = mode;
    if (bt->alt != NULL) {
        ps_redis_batch_set_mode(bt->alt, mode);
    }
}


/* Fills src with the fields and clients of delta and cb that belong to
 * bt's hour and shard; 0 or -1 (src.fidx and src.cidx are the caller's
 * to free either way). */
static int
ps_redis_src_of_delta(ps_redis_src_t *src, const ps_redis_batch_t *bt,
    const ps_agg_table_t *delta, const uint16_t *eshard,
    const ps_redis_clients_t *cb, const uint16_t *cshard)
{
    const ps_redis_client_t  *c;
    size_t                    i, n;

    memset(src, 0, sizeof(*src));
    src->delta = delta;
    src->cb = cb;
    n = ps_agg_count(delta);
    src->fidx = malloc((n ? n : 1) * sizeof(*src->fidx));
    src->cidx = malloc((cb->nclients ? cb->nclients : 1)
                       * sizeof(*src->cidx));
    if (src->fidx == NULL || src->cidx == NULL) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (ps_agg_entry_at(delta, i)->hour == bt->hour
            && eshard[i] == bt->shard)
        {
            src->fidx[src->nfields++] = i;
        }
    }
    for (i = 0; i < cb->nclients; i++) {
        c = &cb->clients[i];
        if (c->hour != bt->hour) {
            continue;
        }
        if (c->len == 0) {
            /* the folded clients' requests go to shard 0 */
            if (bt->shard == 0) {
                src->folded += c->requests;
            }
        } else if (cshard[i] == bt->shard) {
            src->cidx[src->nclients++] = (uint32_t) i;
        }
    }
    return 0;
}


int
ps_redis_batch_from_delta(ps_redis_batcher_t *rb, ps_redis_batch_t *bt,
    const ps_agg_table_t *delta, const uint16_t *eshard,
    const ps_redis_clients_t *cb, const uint16_t *cshard,
    const ps_redis_repair_hour_t *h, const uint32_t *at)
{
    ps_redis_src_t  src;
    size_t          i;
    int             rc = -1;

    if (ps_redis_src_of_delta(&src, bt, delta, eshard, cb, cshard) != 0) {
        goto done;
    }

    /* the totals when every field has its own entry in the repair state
     * (and there is a field: else both forms are the same script) */
    if (h != NULL && at != NULL && src.nfields > 0) {
        bt->form = 'A';
        src.h = h;
        src.at = at;
        for (i = 0; i < src.nfields; i++) {
            if (at[src.fidx[i]] == 0) {
                bt->form = 'D';
                break;
            }
        }
        if (bt->form == 'A') {
            src.req = malloc(src.nfields * sizeof(*src.req));
            if (src.req == NULL) {
                goto done;
            }
        }
    }
    rc = ps_redis_build_chunks(rb, bt, &src);

done:

    free(src.fidx);
    free(src.cidx);
    free(src.req);
    return rc;
}


int
ps_redis_batch_build_deltas(ps_redis_batcher_t *rb, ps_redis_batch_t *bt,
    const ps_agg_table_t *delta, const uint16_t *eshard,
    const ps_redis_clients_t *cb, const uint16_t *cshard)
{
    ps_redis_src_t     src;
    ps_redis_batch_t  *d;
    int                rc = -1;

    if (bt->form != 'A' || bt->alt != NULL) {
        return 0;
    }
    d = malloc(sizeof(*d));
    if (d == NULL
        || ps_redis_batch_init(d, bt->hour, bt->shard, bt->zone_id, bt->pos,
                               bt->nrings, bt->expire_ms) != 0)
    {
        free(d);
        return -1;
    }
    d->mode = bt->mode;
    memcpy(d->rid, bt->rid, sizeof(d->rid));
    if (ps_redis_src_of_delta(&src, bt, delta, eshard, cb, cshard) == 0
        && ps_redis_build_chunks(rb, d, &src) == 0
        && d->nchunks == bt->nchunks)
    {
        bt->alt = d;
        rc = 0;
    } else {
        ps_redis_batch_free(d);
        free(d);
    }
    free(src.fidx);
    free(src.cidx);
    return rc;
}


int
ps_redis_batch_use_deltas(ps_redis_batch_t *bt)
{
    ps_redis_batch_t  *d = bt->alt, t;

    if (bt->form != 'A' || d == NULL) {
        return -1;
    }
    /* the encoded scripts change places; the rest is the batch's */
    t = *bt;
    bt->bytes = d->bytes;
    bt->off = d->off;
    bt->len = d->len;
    bt->argc = d->argc;
    bt->cap = d->cap;
    bt->chunk_arg = d->chunk_arg;
    bt->form = 'D';
    bt->alt = NULL;
    d->bytes = t.bytes;
    d->off = t.off;
    d->len = t.len;
    d->argc = t.argc;
    d->cap = t.cap;
    d->chunk_arg = t.chunk_arg;
    ps_redis_batch_free(d);
    free(d);
    return 0;
}


int
ps_redis_batch_from_repair(ps_redis_batcher_t *rb, ps_redis_batch_t *bt,
    const ps_redis_repair_hour_t *h)
{
    ps_redis_src_t  src;
    size_t          i;
    int             rc = -1;

    memset(&src, 0, sizeof(src));
    src.h = h;
    src.fidx = malloc((h->nentries ? h->nentries : 1) * sizeof(*src.fidx));
    src.cidx = malloc((h->nclients ? h->nclients : 1) * sizeof(*src.cidx));
    if (src.fidx == NULL || src.cidx == NULL) {
        goto done;
    }

    for (i = 0; i < h->nentries; i++) {
        if (h->entries[i].shard == bt->shard) {
            src.fidx[src.nfields++] = i;
        }
    }
    for (i = 0; i < h->nclients; i++) {
        if (h->clients[i].shard == bt->shard) {
            src.cidx[src.nclients++] = (uint32_t) i;
        }
    }
    src.folded = bt->shard == 0 ? h->clients_folded : 0;

    rc = ps_redis_build_chunks(rb, bt, &src);

done:

    free(src.fidx);
    free(src.cidx);
    return rc;
}


void
ps_redis_batch_script_args(const ps_redis_batch_t *bt, size_t *first,
    size_t *end)
{
    *first = bt->nchunks ? bt->chunk_arg[bt->chunk] : 0;
    *end = bt->nchunks ? bt->chunk_arg[bt->chunk + 1] : bt->argc;
}
