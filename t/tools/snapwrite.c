/*
 * snapwrite: publishes snapshot bytes into a pathstats zone file the way
 * the aggregator does (pathstats_shm.h: write the idle buffer under its
 * sequence lock, then release the new version), so that the admin
 * location can be tested without the aggregator.  The bytes are not
 * checked: tests publish corrupt snapshots on purpose.
 *
 *   snapwrite ZONE publish FILE [LEN]   publish FILE; LEN overrides buf_len
 *   snapwrite ZONE heartbeat AGE_MS     heartbeat = now - AGE_MS (-1: 0)
 *   snapwrite ZONE hold SECONDS         make the published buffer look
 *                                       "being written" (odd) for
 *                                       SECONDS, as a writer racing a
 *                                       slow reader would
 *   snapwrite ZONE churn A B SECONDS    publish A and B alternately,
 *                                       as fast as it can, for SECONDS;
 *                                       prints how many it published
 *   snapwrite ZONE version              print the published version
 *   snapwrite ZONE seen                 print requests seen by all rings
 *
 * Exit status 0 on success, 1 with a message on stderr otherwise.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "pathstats_shm.h"


/* the zone's layout, validated once at open like every reader does */
static ps_zone_geometry_t  geo;


static uint64_t
now_us(void)
{
    struct timeval  tv;

    gettimeofday(&tv, NULL);

    return (uint64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}


static char *
read_file(const char *path, size_t *len)
{
    FILE    *f;
    char    *buf;
    long     n;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "snapwrite: open %s: %s\n", path, strerror(errno));
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc(n > 0 ? (size_t) n : 1);
    if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n) {
        fprintf(stderr, "snapwrite: read %s failed\n", path);
        fclose(f);
        free(buf);
        return NULL;
    }

    fclose(f);
    *len = (size_t) n;

    return buf;
}


static void
publish(ps_zone_header_t *h, const char *data, size_t len, uint64_t buf_len)
{
    uint64_t            v, i, seq;
    ps_snapshot_ctl_t  *ctl;

    ctl = &h->snapshot;

    v = ps_load_relaxed(&ctl->version);
    i = (v + 1) % 2;

    seq = ps_load_relaxed(&ctl->buf_seq[i]);
    ps_store_relaxed(&ctl->buf_seq[i], seq + 1);
    __atomic_thread_fence(__ATOMIC_RELEASE);

    memcpy((char *) h + geo.snap_buf_off[i], data, len);
    ctl->buf_len[i] = buf_len;
    ctl->generated_us[i] = now_us();

    ps_store_release(&ctl->buf_seq[i], seq + 2);
    ps_store_release(&ctl->version, v + 1);
}


int
main(int argc, char **argv)
{
    int                 fd;
    char               *data;
    size_t              len;
    uint64_t            v, i, seq, buf_len;
    struct stat         st;
    const char         *reason;
    ps_zone_header_t   *h;
    ps_snapshot_ctl_t  *ctl;

    if (argc < 3) {
        fprintf(stderr, "usage: snapwrite ZONE publish|heartbeat|hold|"
                        "version ...\n");
        return 1;
    }

    fd = open(argv[1], O_RDWR);
    if (fd == -1 || fstat(fd, &st) == -1) {
        fprintf(stderr, "snapwrite: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }

    h = mmap(NULL, (size_t) st.st_size, PROT_READ|PROT_WRITE, MAP_SHARED,
             fd, 0);
    if (h == MAP_FAILED) {
        fprintf(stderr, "snapwrite: mmap: %s\n", strerror(errno));
        return 1;
    }

    reason = ps_zone_validate(h, (uint64_t) st.st_size,
                              (uint64_t) st.st_blocks * 512, &geo);
    if (reason != NULL) {
        fprintf(stderr, "snapwrite: %s: %s\n", argv[1], reason);
        return 1;
    }

    ctl = &h->snapshot;

    if (strcmp(argv[2], "version") == 0) {
        printf("%llu\n", (unsigned long long) ps_load_acquire(&ctl->version));
        return 0;
    }

    if (strcmp(argv[2], "seen") == 0) {
        v = 0;

        for (i = 0; i < geo.ring_count; i++) {
            v += ps_load_acquire(&ps_zone_ring_desc(h, &geo,
                                                    (uint32_t) i)->seen);
        }

        printf("%llu\n", (unsigned long long) (v + h->no_ring));
        return 0;
    }

    if (strcmp(argv[2], "heartbeat") == 0 && argc == 4) {
        long long  age = atoll(argv[3]);

        ps_store_release(&h->aggregator_heartbeat_us,
                         age < 0 ? 0 : now_us() - (uint64_t) age * 1000);
        return 0;
    }

    if (strcmp(argv[2], "hold") == 0 && argc == 4) {
        i = ps_load_acquire(&ctl->version) % 2;
        seq = ps_load_relaxed(&ctl->buf_seq[i]);

        ps_store_release(&ctl->buf_seq[i], seq | 1);
        sleep((unsigned) atoi(argv[3]));
        ps_store_release(&ctl->buf_seq[i], (seq | 1) + 1);

        return 0;
    }

    if (strcmp(argv[2], "publish") == 0 && (argc == 4 || argc == 5)) {
        data = read_file(argv[3], &len);
        if (data == NULL) {
            return 1;
        }

        if (len > geo.snap_buf_size) {
            fprintf(stderr, "snapwrite: %zu bytes do not fit in %llu\n",
                    len, (unsigned long long) geo.snap_buf_size);
            return 1;
        }

        buf_len = (argc == 5) ? strtoull(argv[4], NULL, 10) : len;

        publish(h, data, len, buf_len);

        printf("%llu\n",
               (unsigned long long) ps_load_relaxed(&ctl->version));
        return 0;
    }

    if (strcmp(argv[2], "churn") == 0 && argc == 6) {
        char    *other;
        size_t   other_len;

        data = read_file(argv[3], &len);
        other = read_file(argv[4], &other_len);

        if (data == NULL || other == NULL || len > geo.snap_buf_size
            || other_len > geo.snap_buf_size)
        {
            fprintf(stderr, "snapwrite: cannot churn those files\n");
            return 1;
        }

        seq = now_us() + strtoull(argv[5], NULL, 10) * 1000000;

        for (v = 0; now_us() < seq; v++) {
            if (v % 2) {
                publish(h, other, other_len, other_len);
            } else {
                publish(h, data, len, len);
            }
        }

        printf("%llu\n", (unsigned long long) v);
        return 0;
    }

    fprintf(stderr, "snapwrite: bad arguments\n");
    return 1;
}
