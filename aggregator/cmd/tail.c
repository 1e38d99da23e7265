/*
 * --tail and --stats, and opening a zone as its consumer: see cmd.h.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "ring/record_json.h"
#include "ring/stats.h"

#define POLL_BATCH       4096  /* records per poll */
#define IDLE_SLEEP_MS    10    /* when the rings are empty */
#define REAP_INTERVAL_US 100000

/* the lines of one batch */
typedef struct {
    ps_buf_t  out;
    int       failed;         /* out of memory: print and release nothing */
} tail_batch_t;


int
ps_cmd_open_consumer(const ps_config_t *cfg, ps_zone_t **zone,
    ps_ring_reader_t **rr)
{
    *zone = ps_zone_open(cfg->zone, 1);

    if (*zone == NULL || ps_zone_lock_consumer(*zone) != 0) {
        ps_zone_close(*zone);
        return PS_EXIT_ZONE;
    }

    *rr = ps_ring_reader_create(*zone);

    if (*rr == NULL) {
        ps_zone_close(*zone);
        return PS_EXIT_RUNTIME;
    }

    return 0;
}


int
ps_cmd_stats(const ps_config_t *cfg)
{
    int         rc;
    json_t     *stats;
    ps_zone_t  *zone;

    zone = ps_zone_open(cfg->zone, 0);
    if (zone == NULL) {
        return PS_EXIT_ZONE;
    }

    stats = ps_stats_json(zone, ps_now_us());
    rc = PS_EXIT_RUNTIME;

    if (stats && json_dumpf(stats, stdout, JSON_INDENT(2)) == 0
        && fputc('\n', stdout) != EOF && fflush(stdout) == 0)
    {
        rc = 0;
    }

    json_decref(stats);
    ps_zone_close(zone);

    return rc;
}


static void
tail_record(void *ctx, uint32_t ring, uint64_t pos, const ps_record_t *rec)
{
    tail_batch_t  *batch = ctx;

    if (ps_record_json(&batch->out, ring, pos, rec) != 0
        || ps_buf_putc(&batch->out, '\n') != 0)
    {
        batch->failed = 1;
    }
}


int
ps_cmd_tail(const ps_config_t *cfg, int once, const ps_signals_t *sig)
{
    int                rc;
    size_t             n;
    uint64_t           next_reap;
    ps_zone_t         *zone;
    tail_batch_t       batch = { PS_BUF_INIT, 0 };
    ps_ring_reader_t  *rr;

    rc = ps_cmd_open_consumer(cfg, &zone, &rr);
    if (rc != 0) {
        return rc;
    }

    next_reap = 0;

    while (*sig->stop == 0) {
        n = ps_ring_reader_poll(rr, POLL_BATCH, tail_record, &batch);

        if (batch.failed) {
            rc = PS_EXIT_RUNTIME;
            break;
        }

        if (n) {
            /* printed, then released: an interrupted write re-reads */
            if (fwrite(batch.out.data, 1, batch.out.len, stdout)
                != batch.out.len || fflush(stdout) != 0)
            {
                ps_log(PS_LOG_ERROR, "event=tail_write_failed error=\"%s\"",
                       strerror(errno));
                rc = PS_EXIT_RUNTIME;
                break;
            }

            ps_buf_reset(&batch.out);
            ps_ring_reader_release_all(rr);
        }

        if (ps_mono_us() >= next_reap || (n == 0 && once)) {
            (void) ps_ring_reader_reap(rr);
            next_reap = ps_mono_us() + REAP_INTERVAL_US;
        }

        if (n == 0) {
            if (once) {
                break;
            }
            ps_sleep_ms(IDLE_SLEEP_MS);
        }
    }

    ps_buf_free(&batch.out);
    ps_ring_reader_destroy(rr);
    ps_zone_close(zone);

    return rc;
}
