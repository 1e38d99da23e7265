/*
 * Unit tests for aggregator/pipeline/spool.c: segments written and read back in
 * order with every field (counters, histogram, HyperLogLog, positions),
 * kept across a reopen, unfinished temporary files removed, corrupt or
 * truncated segments moved to corrupt/ and counted, the size bound
 * enforced with the lost records counted; and the pipeline with the
 * spool as the durable sink's write-ahead log (fake sink): reading
 * starts at once, the rings drain, the log is replayed in order and
 * exactly once (contiguous segments merged into one flush), across a
 * "crash" too, with the rings released short of what was applied (the
 * log's last end outlives its segments) or records read but not logged.
 */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agg/agg_table.h"
#include "lib/clock.h"
#include "config/config.h"
#include "fake_sink.h"
#include "lib/log.h"
#include "lib/murmur3.h"
#include "pipeline/pipeline.h"
#include "ring/ring_reader.h"
#include "pipeline/sink.h"
#include "pipeline/spool.h"
#include "tap.h"
#include "ring/zone.h"


static char  spool_dir[256];


/* Runs "rm <flags> '<dir>'<suffix>". */
static void
rm_in(const char *flags, const char *dir, const char *suffix)
{
    char  cmd[600];

    snprintf(cmd, sizeof(cmd), "rm %s '%s'%s", flags, dir, suffix);
    if (system(cmd) != 0) {
        diag("cannot run: %s", cmd);
    }
}


static void
rm_rf(const char *dir)
{
    rm_in("-rf", dir, "");
}


static int
count_files(const char *dir, const char *suffix)
{
    int             n = 0;
    size_t          l, sl = strlen(suffix);
    DIR            *d;
    struct dirent  *de;

    d = opendir(dir);
    if (d == NULL) {
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        l = strlen(de->d_name);
        if (l > sl && strcmp(de->d_name + l - sl, suffix) == 0) {
            n++;
        }
    }
    closedir(d);

    return n;
}


static char *
seg_path(uint64_t seq)
{
    static char  path[400];

    snprintf(path, sizeof(path), "%s/%016llx.seg", spool_dir,
             (unsigned long long) seq);

    return path;
}


/* a delta of n requests over a few keys, with latencies and clients */
static ps_agg_table_t *
make_delta(int n, int salt)
{
    int              i;
    uint64_t         h;
    char             addr[32];
    ps_agg_table_t  *t;

    t = ps_agg_table_create(100);

    for (i = 0; i < n; i++) {
        snprintf(addr, sizeof(addr), "10.0.%d.%d", salt, i);
        h = ps_murmur3_hll_hash(addr, strlen(addr));
        (void) ps_agg_add(t, 3600 * (1000 + salt), "host", 4, "GET", 3,
                          i % 2 ? "/a" : "/b\0x", i % 2 ? 2 : 4,
                          i % 3 ? 200 : 503, 100 + 37 * i, 10, 20 + i, &h,
                          1000000 + i);
    }

    return t;
}


static uint64_t
requests_of(const ps_agg_table_t *t)
{
    size_t    i;
    uint64_t  n = 0;

    for (i = 0; i < ps_agg_count(t); i++) {
        n += ps_agg_entry_at(t, i)->counts.requests;
    }

    return n;
}


static int
same_entries(const ps_agg_table_t *a, const ps_agg_table_t *b)
{
    size_t                 i;
    const ps_agg_entry_t  *x, *y;

    if (ps_agg_count(a) != ps_agg_count(b)) {
        return 0;
    }

    for (i = 0; i < ps_agg_count(a); i++) {
        x = ps_agg_entry_at(a, i);
        y = ps_agg_find(b, x->hour, x->host, x->host_len, x->method,
                        x->method_len, x->path, x->path_len);
        if (y == NULL || x->counts.requests != y->counts.requests
            || memcmp(x->counts.status, y->counts.status,
                      sizeof(x->counts.status)) != 0
            || x->counts.errors != y->counts.errors
            || x->counts.bytes_in != y->counts.bytes_in
            || x->counts.bytes_out != y->counts.bytes_out
            || x->counts.latency_sum_us != y->counts.latency_sum_us
            || x->counts.latency_max_us != y->counts.latency_max_us
            || x->first_seen_us != y->first_seen_us
            || x->last_seen_us != y->last_seen_us
            || x->latency.count != y->latency.count
            || ps_hist_percentile(&x->latency, 0.95)
               != ps_hist_percentile(&y->latency, 0.95)
            || ps_hll_cardinality(&x->clients)
               != ps_hll_cardinality(&y->clients))
        {
            return 0;
        }
    }

    return 1;
}


static void
test_write_read(void)
{
    int               i, fd;
    uint64_t          start[FAKE_NRINGS], end[FAKE_NRINGS], last[FAKE_NRINGS];
    ps_spool_t       *sp;
    ps_spool_seg_t    seg;
    ps_agg_table_t   *d[3];
    ps_spool_stats_t  st;
    char              path[400];

    rm_rf(spool_dir);

    sp = ps_spool_open(spool_dir, 1 << 20, "unit", 100);
    ok(sp != NULL, "spool opened, directory created");
    is_u64(ps_spool_pending(sp), 0, "empty");
    is_int(ps_spool_head(sp, &seg), 1, "head of an empty spool: 1");

    for (i = 0; i < 3; i++) {
        d[i] = make_delta(10 * (i + 1), i);
        start[0] = 100 * i;
        start[1] = 7 * i;
        end[0] = 100 * (i + 1);
        end[1] = 7 * (i + 1);
        is_int(ps_spool_write(sp, 42, d[i], start, end, FAKE_NRINGS, 10 * (i + 1), 1), 0, "segment %d written", i);
    }

    is_u64(ps_spool_pending(sp), 3, "3 segments pending");
    is_int(count_files(spool_dir, ".seg"), 3, "3 files");
    is_int(count_files(spool_dir, ".tmp"), 0, "no temporary file left");
    ps_spool_close(sp);

    /* an unfinished write from a crash */
    snprintf(path, sizeof(path), "%s/0000000000000009.tmp", spool_dir);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    if (fd >= 0) {
        (void) write(fd, "PSSP", 4);
        close(fd);
    }

    sp = ps_spool_open(spool_dir, 1 << 20, "unit", 100);
    ok(sp != NULL, "reopened");
    is_u64(ps_spool_pending(sp), 3, "the 3 segments survive a reopen");
    is_int(count_files(spool_dir, ".tmp"), 0, "the unfinished one removed");

    last[0] = 50;
    last[1] = 900;
    ps_spool_last_end(sp, 42, last, FAKE_NRINGS);
    ok(last[0] == 300 && last[1] == 900, "last_end raises to the newest end");
    last[0] = 0;
    ps_spool_last_end(sp, 43, last, FAKE_NRINGS);
    is_u64(last[0], 0, "  of its own zone only");

    for (i = 0; i < 3; i++) {
        is_int(ps_spool_head(sp, &seg), 0, "head %d loaded", i);
        is_u64(seg.seq, (uint64_t) i + 1, "  in write order");
        ok(seg.zone_id == 42 && seg.nrings == FAKE_NRINGS
           && seg.records == (uint64_t) 10 * (i + 1), "  zone, rings, records");
        ok(seg.start[0] == (uint64_t) 100 * i
           && seg.end[0] == (uint64_t) 100 * (i + 1)
           && seg.start[1] == (uint64_t) 7 * i
           && seg.end[1] == (uint64_t) 7 * (i + 1), "  positions");
        ok(same_entries(d[i], seg.delta) && same_entries(seg.delta, d[i]),
           "  every entry identical (counters, histogram, clients)");
        is_int(ps_spool_head(sp, &seg), 0, "  head again: same");
        is_u64(seg.seq, (uint64_t) i + 1, "  not popped yet");
        is_int(ps_spool_pop(sp), 0, "  popped");
        ps_agg_table_destroy(d[i]);
    }

    is_int(ps_spool_head(sp, &seg), 1, "empty again");
    is_int(count_files(spool_dir, ".seg"), 0, "no segment file left");
    ps_spool_stats(sp, &st);
    ok(st.written == 0 && st.replayed == 3 && st.bytes == 0
       && st.corrupt == 0, "stats: none written since the reopen, 3 "
       "replayed, 0 bytes");

    /* numbering goes on after the last one */
    d[0] = make_delta(1, 0);
    is_int(ps_spool_write(sp, 42, d[0], start, end, FAKE_NRINGS, 1, 1), 0,
           "one more");
    ok(access(seg_path(4), F_OK) == 0, "  numbered after the last");
    ps_agg_table_destroy(d[0]);
    ps_spool_close(sp);
}


static void
corrupt_byte(const char *path, off_t at)
{
    int            fd;
    unsigned char  c = 0;

    fd = open(path, O_RDWR);
    if (fd < 0 || pread(fd, &c, 1, at) != 1) {
        bail_out("cannot read %s", path);
    }
    c ^= 0x5a;
    if (pwrite(fd, &c, 1, at) != 1) {
        bail_out("cannot write %s", path);
    }
    close(fd);
}


static void
test_corrupt(void)
{
    int               i;
    char              cpath[400];
    uint64_t          start[FAKE_NRINGS] = { 0, 0 };
    uint64_t          end[FAKE_NRINGS] = { 0, 0 };
    uint64_t          last[FAKE_NRINGS];
    ps_spool_t       *sp;
    ps_spool_seg_t    seg;
    ps_agg_table_t   *d;
    ps_spool_stats_t  st;

    rm_rf(spool_dir);

    sp = ps_spool_open(spool_dir, 1 << 20, "unit", 100);
    d = make_delta(5, 1);
    for (i = 0; i < 5; i++) {
        end[0] = 10 * (i + 1);
        end[1] = i + 1;
        (void) ps_spool_write(sp, 7, d, start, end, FAKE_NRINGS, 5, 1);
        start[0] = end[0];
        start[1] = end[1];
    }
    ps_spool_close(sp);

    corrupt_byte(seg_path(2), 200);                 /* bad CRC */
    if (truncate(seg_path(3), 100) != 0) {          /* torn */
        bail_out("truncate");
    }
    if (truncate(seg_path(5), 50) != 0) {           /* newest torn */
        bail_out("truncate");
    }

    sp = ps_spool_open(spool_dir, 1 << 20, "unit", 100);
    ok(sp != NULL, "opened with corrupt segments");
    is_u64(ps_spool_pending(sp), 4, "the torn newest one moved aside at open");
    last[0] = last[1] = 0;
    ps_spool_last_end(sp, 7, last, FAKE_NRINGS);
    ok(last[0] == 40 && last[1] == 4, "  so last_end is the one before");

    is_int(ps_spool_head(sp, &seg), 0, "head");
    is_u64(seg.seq, 1, "  segment 1 is fine");
    is_u64(requests_of(seg.delta), 5, "  its 5 requests");
    (void) ps_spool_pop(sp);

    is_int(ps_spool_head(sp, &seg), 0, "next head");
    is_u64(seg.seq, 4, "  segments 2 (bad CRC) and 3 (truncated) skipped");
    (void) ps_spool_pop(sp);
    is_int(ps_spool_head(sp, &seg), 1, "then empty");

    ps_spool_stats(sp, &st);
    is_u64(st.corrupt, 3, "3 corrupt segments counted");
    snprintf(cpath, sizeof(cpath), "%s/corrupt", spool_dir);
    is_int(count_files(cpath, ".seg"), 3, "  and kept in corrupt/");

    ps_agg_table_destroy(d);
    ps_spool_close(sp);
}


static void
test_bound(void)
{
    int               i, rc, full = 0;
    uint64_t          start[FAKE_NRINGS] = { 0, 0 };
    uint64_t          end[FAKE_NRINGS] = { 1, 1 };
    uint64_t          dropped = 0;
    ps_spool_t       *sp;
    ps_agg_table_t   *d;
    ps_spool_stats_t  st;

    rm_rf(spool_dir);

    sp = ps_spool_open(spool_dir, 4096, "unit", 100);
    d = make_delta(20, 2);

    for (i = 0; i < 20; i++) {
        rc = ps_spool_write(sp, 7, d, start, end, FAKE_NRINGS, 20 + i, 1);
        if (rc == 1) {
            full++;
            dropped += 20 + i;
        } else if (rc != 0) {
            break;
        }
    }

    ps_spool_stats(sp, &st);
    ok(full > 0 && st.written > 0, "some written (%llu), then full (%d)",
       (unsigned long long) st.written, full);
    ok(st.bytes <= 4096, "bytes %llu within the bound",
       (unsigned long long) st.bytes);
    is_u64(st.dropped_flushes, (uint64_t) full, "dropped flushes counted");
    is_u64(st.dropped_records, dropped, "dropped records counted exactly");
    is_u64(st.written + st.dropped_flushes, 20, "every flush accounted for");

    ps_agg_table_destroy(d);
    ps_spool_close(sp);
}


static ps_pipeline_t *
spool_pipeline(ps_config_t *cfg, fake_sink_t *a, ps_zone_t **zone,
    ps_ring_reader_t **rr)
{
    ps_sink_t  *sinks[1];

    *zone = ps_zone_open(fake_zone_path, 1);
    *rr = ps_ring_reader_create(*zone);
    sinks[0] = &a->sink;

    ps_pipeline_t  *p;

    p = ps_pipeline_create(cfg, *zone, *rr, sinks, 1);
    if (p != NULL) {
        ps_pipeline_set_sync(p, 1);
    }
    return p;
}


/* The pipeline goes away, as at a crash: it releases nothing more. */
static void
spool_pipeline_close(ps_pipeline_t *p, ps_ring_reader_t *rr, ps_zone_t *zone)
{
    ps_pipeline_destroy(p);
    ps_ring_reader_destroy(rr);
    ps_zone_close(zone);
}


static void
test_pipeline_spool(ps_config_t *cfg)
{
    fake_sink_t        a;
    uint64_t           t;
    ps_zone_t         *zone;
    ps_pipeline_t     *p;
    ps_zone_header_t  *h;
    ps_ring_reader_t  *rr;
    ps_sink_status_t   st;

    rm_rf(spool_dir);
    cfg->spool_dir = spool_dir;
    cfg->spool_max_bytes = 1 << 20;

    h = fake_zone_make();
    fake_zone_produce(h, 0, 10);
    fake_zone_produce(h, 1, 3);

    fake_sink_init(&a, 1);
    a.unreachable = 1;
    a.fail = 1;

    p = spool_pipeline(cfg, &a, &zone, &rr);
    ok(p != NULL, "pipeline with a spool, sink unreachable at start");
    is_int(ps_pipeline_poll(p, 100), 13, "reading starts at once");

    t = ps_mono_us();
    ps_pipeline_flush(p, t, 1);
    ok(fake_zone_head(h, 0) == 10 && fake_zone_head(h, 1) == 3,
       "the spool took the flush: rings released");
    is_int(count_files(spool_dir, ".seg"), 1, "  one segment");

    fake_zone_produce(h, 0, 5);
    is_int(ps_pipeline_poll(p, 100), 5, "5 more");
    ps_pipeline_flush(p, t + 1, 1);
    is_u64(fake_zone_head(h, 0), 15, "  released again");
    is_int(count_files(spool_dir, ".seg"), 2, "  two segments");
    ps_pipeline_sink_status(p, 0, &st);
    ok(!st.up && st.spool && st.spool_segments == 2 && st.lag_records == 0,
       "status: down, spooling 2 segments, no lag");

    /* the sink comes back: replay in order, then live */
    a.unreachable = 0;
    a.fail = 0;
    fake_zone_produce(h, 1, 4);
    is_int(ps_pipeline_poll(p, 100), 4, "4 more");
    t += 5000000;
    ps_pipeline_flush(p, t, 1);
    is_u64(a.requests, 22, "back: 13 + 5 + 4 replayed, exactly");
    is_u64(a.flushes, 1, "  in one flush: the three segments merged");
    ok(a.pos[0] == 15 && a.pos[1] == 7, "  positions up to date");
    is_int(count_files(spool_dir, ".seg"), 0, "  spool empty");
    ps_pipeline_sink_status(p, 0, &st);
    ok(st.up && st.spool_segments == 0, "status: up");

    /* a live flush fails: it goes to the spool, the rings drain */
    fake_zone_produce(h, 0, 6);
    is_int(ps_pipeline_poll(p, 100), 6, "6 more");
    a.fail = 1;
    a.unreachable = 1;
    t += 5000000;
    ps_pipeline_flush(p, t, 1);
    is_u64(fake_zone_head(h, 0), 21, "flush failed: spooled and released");
    is_int(count_files(spool_dir, ".seg"), 1, "  one segment");
    is_u64(a.requests, 22, "  nothing applied");

    /* "crash": the pipeline goes away with a segment on disk */
    fake_zone_produce(h, 0, 2);
    spool_pipeline_close(p, rr, zone);

    /* restart while the sink is still down */
    p = spool_pipeline(cfg, &a, &zone, &rr);
    ok(p != NULL, "restarted, sink still down");
    is_int(ps_pipeline_poll(p, 100), 2, "reads only what is not spooled");
    t = ps_mono_us();
    ps_pipeline_flush(p, t, 1);
    is_int(count_files(spool_dir, ".seg"), 2, "  spooled: 2 segments");
    spool_pipeline_close(p, rr, zone);

    /* the first segment was applied just before the crash (unlink lost):
     * the watermark says so */
    a.pos[0] = 21;
    a.requests += 6;
    memcpy(a.wm, a.pos, sizeof(a.wm));
    a.unreachable = 0;
    a.fail = 0;

    p = spool_pipeline(cfg, &a, &zone, &rr);
    ok(p != NULL, "restarted, sink back");
    is_int(ps_pipeline_poll(p, 100), 0, "nothing to read");
    ps_pipeline_flush(p, ps_mono_us(), 1);
    is_u64(a.requests, 30, "the applied segment skipped, the other "
           "applied: 30 exactly");
    ok(a.pos[0] == 23 && a.pos[1] == 7, "  positions");
    is_int(count_files(spool_dir, ".seg"), 0, "  spool empty");

    spool_pipeline_close(p, rr, zone);
    cfg->spool_dir = NULL;
}


static void
test_pipeline_spool_full(ps_config_t *cfg)
{
    fake_sink_t        a;
    uint64_t           t;
    ps_zone_t         *zone;
    ps_pipeline_t     *p;
    ps_zone_header_t  *h;
    ps_ring_reader_t  *rr;
    ps_sink_status_t   st;

    rm_rf(spool_dir);
    cfg->spool_dir = spool_dir;
    cfg->spool_max_bytes = 1;      /* nothing fits */

    h = fake_zone_make();
    fake_sink_init(&a, 1);
    a.unreachable = 1;
    a.fail = 1;

    p = spool_pipeline(cfg, &a, &zone, &rr);
    fake_zone_produce(h, 0, 9);
    fake_zone_produce(h, 1, 4);
    is_int(ps_pipeline_poll(p, 100), 13, "13 read");
    t = ps_mono_us();
    ps_pipeline_flush(p, t, 1);
    ok(fake_zone_head(h, 0) == 9 && fake_zone_head(h, 1) == 4,
       "spool full: released anyway");
    ps_pipeline_sink_status(p, 0, &st);
    is_u64(st.spool_dropped, 13, "  13 requests counted as lost");
    ok(strstr(st.last_error, "spool full: 13 requests lost") != NULL,
       "  and said so: %s", st.last_error);

    a.unreachable = 0;
    a.fail = 0;
    fake_zone_produce(h, 0, 3);
    is_int(ps_pipeline_poll(p, 100), 3, "3 more");
    ps_pipeline_flush(p, t + 5000000, 1);
    is_u64(a.requests, 3, "back: the sink has the rest, exactly");
    ok(a.pos[0] == 12 && a.pos[1] == 4, "  positions past the lost ones");

    spool_pipeline_close(p, rr, zone);
    cfg->spool_dir = NULL;
}


/* A crash with the rings not yet released as far as what the process
 * had: it dies, the heads stay where they were. */
static void
crash_before_release(ps_zone_header_t *h, ps_pipeline_t **p, ps_zone_t **zone,
    ps_ring_reader_t **rr, const uint64_t *head)
{
    uint32_t  r;

    spool_pipeline_close(*p, *rr, *zone);

    for (r = 0; r < FAKE_NRINGS; r++) {
        ps_store_release(&ps_zone_ring_desc(h, fake_zone_geo(h), r)->head,
                         head[r] * FAKE_U);
    }
}


/* Crashes around the write-ahead log: flushes written, replayed and
 * removed while the rings were not released that far (the log's last end
 * outlives its segments: nothing is read again); records read but never
 * written to the log (read again, counted once). */
static void
test_pipeline_log_crash(ps_config_t *cfg)
{
    fake_sink_t        a;
    uint64_t           t;
    ps_zone_t         *zone;
    ps_pipeline_t     *p;
    ps_zone_header_t  *h;
    ps_ring_reader_t  *rr;
    uint64_t           head1[FAKE_NRINGS] = { 10, 5 };
    uint64_t           head2[FAKE_NRINGS] = { 21, 8 };

    rm_rf(spool_dir);
    cfg->spool_dir = spool_dir;
    cfg->spool_max_bytes = 1 << 20;

    h = fake_zone_make();
    fake_sink_init(&a, 1);

    p = spool_pipeline(cfg, &a, &zone, &rr);
    fake_zone_produce(h, 0, 10);
    fake_zone_produce(h, 1, 5);
    is_int(ps_pipeline_poll(p, 100), 15, "log: 15 read");
    t = ps_mono_us();
    ps_pipeline_flush(p, t, 1);
    fake_zone_produce(h, 0, 7);
    fake_zone_produce(h, 1, 3);
    is_int(ps_pipeline_poll(p, 100), 10, "  10 more");
    ps_pipeline_flush(p, t + 5000000, 1);
    ok(a.requests == 25 && a.pos[0] == 17 && a.pos[1] == 8,
       "  both flushes written and replayed: 25");
    is_int(count_files(spool_dir, ".seg"), 0, "  the log is empty");

    /* 1. the rings were not released past the first flush */
    crash_before_release(h, &p, &zone, &rr, head1);
    memcpy(a.wm, a.pos, sizeof(a.wm));
    a.unreachable = 1;
    a.fail = 1;

    p = spool_pipeline(cfg, &a, &zone, &rr);
    ok(p != NULL, "restarted with the sink down, 10 applied records "
       "still in the rings");
    fake_zone_produce(h, 0, 4);
    is_int(ps_pipeline_poll(p, 100), 4, "  only the 4 new ones are read: "
           "the log knows where it ended");
    ps_pipeline_flush(p, ps_mono_us(), 1);
    is_int(count_files(spool_dir, ".seg"), 1, "  logged");

    a.unreachable = 0;
    a.fail = 0;
    ps_pipeline_flush(p, ps_mono_us() + 10000000, 1);
    is_u64(a.requests, 29, "the sink back: 25 + 4 exactly");
    ok(a.pos[0] == 21 && a.pos[1] == 8, "  positions");
    is_int(count_files(spool_dir, ".seg"), 0, "  log empty");

    /* 2. records read but not yet written to the log */
    fake_zone_produce(h, 0, 6);
    is_int(ps_pipeline_poll(p, 100), 6, "6 more read, not flushed");
    crash_before_release(h, &p, &zone, &rr, head2);
    memcpy(a.wm, a.pos, sizeof(a.wm));
    a.unreachable = 1;
    a.fail = 1;
    p = spool_pipeline(cfg, &a, &zone, &rr);
    is_int(ps_pipeline_poll(p, 100), 6, "restarted, the sink down: the 6 "
           "read again");
    ps_pipeline_flush(p, ps_mono_us(), 1);
    is_int(count_files(spool_dir, ".seg"), 1, "  logged");
    a.unreachable = 0;
    a.fail = 0;
    ps_pipeline_flush(p, ps_mono_us() + 5000000, 1);
    is_u64(a.requests, 35, "the sink back: 29 + 6 exactly");
    ok(a.pos[0] == 27 && a.pos[1] == 8, "  positions");

    spool_pipeline_close(p, rr, zone);
    cfg->spool_dir = NULL;
}


int
main(void)
{
    ps_config_t  cfg;

    snprintf(fake_zone_path, sizeof(fake_zone_path),
             "/tmp/ps-test-spool-%d.zone", (int) getpid());
    snprintf(spool_dir, sizeof(spool_dir), "/tmp/ps-test-spool-%d.d",
             (int) getpid());

    ps_log_set_level((ps_log_level_t) (PS_LOG_ERROR + 1));

    memset(&cfg, 0, sizeof(cfg));
    cfg.flush_interval_ms = 1000;
    cfg.max_keys_per_hour = 1000;
    cfg.client_address = PS_CLIENT_FULL;
    cfg.node_id = "unit";

    test_write_read();
    test_corrupt();
    test_bound();
    test_pipeline_spool(&cfg);
    test_pipeline_spool_full(&cfg);
    test_pipeline_log_crash(&cfg);

    unlink(fake_zone_path);
    rm_rf(spool_dir);

    return done_testing();
}
