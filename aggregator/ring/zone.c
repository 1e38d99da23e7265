/*
 * The zone file: see zone.h.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "ring/zone.h"
#include "ring/zone_file.h"


/* logs why path cannot be used */
static void
open_failed(const char *path, const char *reason)
{
    char  qpath[512], qreason[1024];

    ps_log(PS_LOG_ERROR, "event=zone_open_failed zone=%s error=%s",
           ps_log_quote(qpath, sizeof(qpath), path),
           ps_log_quote(qreason, sizeof(qreason), reason));
}


ps_zone_t *
ps_zone_open(const char *path, int writable)
{
    void         *base;
    uint64_t      allocated;
    ps_zone_t    *zone;
    struct stat   st;
    const char   *reason;
    char          q[512], msg[1200];

    zone = calloc(1, sizeof(ps_zone_t));
    if (zone == NULL || (zone->path = strdup(path)) == NULL) {
        ps_log(PS_LOG_ERROR, "event=out_of_memory what=zone");
        free(zone);
        return NULL;
    }

    zone->writable = writable;

    zone->fd = ps_zone_file_open(path, writable, &st, msg, sizeof(msg));
    if (zone->fd == -1) {
        open_failed(path, msg);
        goto fail;
    }

    allocated = (uint64_t) st.st_blocks * 512;

    if ((uint64_t) st.st_size < PS_HEADER_SIZE) {
        /* the check reads nothing from a file this short */
        open_failed(path, ps_zone_validate(NULL, (uint64_t) st.st_size,
                                           allocated, &zone->geo));
        goto fail;
    }

    base = mmap(NULL, (size_t) st.st_size,
                writable ? PROT_READ|PROT_WRITE : PROT_READ, MAP_SHARED,
                zone->fd, 0);

    if (base == MAP_FAILED) {
        (void) snprintf(msg, sizeof(msg), "mmap: %s", strerror(errno));
        open_failed(path, msg);
        goto fail;
    }

    zone->header = base;
    zone->size = (size_t) st.st_size;

    reason = ps_zone_validate(base, (uint64_t) st.st_size, allocated,
                              &zone->geo);
    if (reason != NULL) {
        (void) snprintf(msg, sizeof(msg), "%s (%llu bytes, %llu of them "
                        "allocated)", reason,
                        (unsigned long long) st.st_size,
                        (unsigned long long) allocated);
        open_failed(path, msg);
        goto fail;
    }

    ps_log(PS_LOG_DEBUG, "event=zone_opened zone=%s rings=%u capacity=%u "
           "bytes=%zu writable=%d", ps_log_quote(q, sizeof(q), path),
           zone->geo.ring_count, zone->geo.ring_capacity, zone->size,
           writable);

    return zone;

fail:

    ps_zone_close(zone);

    return NULL;
}


void
ps_zone_close(ps_zone_t *zone)
{
    if (zone == NULL) {
        return;
    }

    if (zone->header) {
        (void) munmap(zone->header, zone->size);
    }

    if (zone->fd != -1) {
        (void) close(zone->fd);
    }

    free(zone->path);
    free(zone);
}


int
ps_zone_lock_consumer(ps_zone_t *zone)
{
    char          q[512], msg[256];
    struct flock  fl;

    /* a POSIX record lock, unlike flock(), tells who holds it; the kernel
     * drops it when the holder exits, however it exits */

    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;

    if (fcntl(zone->fd, F_SETLK, &fl) == 0) {
        return 0;
    }

    if (errno != EACCES && errno != EAGAIN) {
        (void) snprintf(msg, sizeof(msg), "cannot lock: %s",
                        strerror(errno));
        open_failed(zone->path, msg);
        return -1;
    }

    if (fcntl(zone->fd, F_GETLK, &fl) == -1 || fl.l_type == F_UNLCK) {
        fl.l_pid = 0;
    }

    ps_log(PS_LOG_ERROR, "event=zone_busy zone=%s holder_pid=%d "
           "error=\"another consumer (pathstats-aggregator or --tail, pid "
           "%d) is draining this zone\"",
           ps_log_quote(q, sizeof(q), zone->path), (int) fl.l_pid,
           (int) fl.l_pid);

    return -1;
}


ps_ring_desc_t *
ps_zone_ring(const ps_zone_t *zone, uint32_t i)
{
    return ps_zone_ring_desc(zone->header, &zone->geo, i);
}


const ps_record_t *
ps_zone_slot(const ps_zone_t *zone, uint32_t i, uint64_t pos)
{
    return ps_zone_ring_slot(zone->header, &zone->geo, i, pos);
}


void
ps_zone_set_aggregator(ps_zone_t *zone, uint64_t started_us)
{
    ps_zone_header_t  *h = zone->header;

    ps_store_relaxed(&h->aggregator_started_us, started_us);
    ps_store_relaxed(&h->aggregator_pid, (uint64_t) getpid());
    ps_store_release(&h->aggregator_heartbeat_us, started_us);
}


void
ps_zone_heartbeat(ps_zone_t *zone, uint64_t now_us)
{
    ps_store_release(&zone->header->aggregator_heartbeat_us, now_us);
}


int
ps_zone_replaced(const ps_zone_t *zone)
{
    struct stat  path_st, ours;

    /* a missing file is not a new zone: keep draining this one */
    if (stat(zone->path, &path_st) == -1 || fstat(zone->fd, &ours) == -1) {
        return 0;
    }

    return path_st.st_dev != ours.st_dev || path_st.st_ino != ours.st_ino;
}
