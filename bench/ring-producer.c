/*
 * bench-ring-producer: a synthetic nginx worker for aggregator benchmarks.
 *
 * Creates (or attaches to) a pathstats zone file, claims one ring the way
 * a worker does in init_process (owner = pid + start time, one CAS) and
 * writes request records with the exact producer protocol of the module's
 * log handler:
 *
 *   seen++; if the ring has no room for the record: dropped++; else
 *   write it at tail (after a skip marker when it would run over the
 *   ring's end), records++, and publish tail + its units with a release
 *   store
 *
 * as fast as it can or at a given rate, over a given number of distinct
 * paths (drawn at random, or --sequential: in turn, so that a rate of
 * --paths records a second touches every key each second), until a
 * record count or a duration is reached.  --block waits for
 * room instead of dropping (the record is offered, and counted in seen,
 * only once there is room), so that a fixed count arrives whole.
 *
 * The last line on stdout is one JSON object with what it did.
 *
 * --wait-consumed N writes nothing: it waits, reading the zone every
 * millisecond, until the rings' consumed records add up to N (or the
 * process --pid names has exited, or --duration seconds have passed) and
 * prints when, so that a bench waits for a drain without starting a
 * process a poll (an aggregator --stats and a JSON parser every 20 ms
 * took one of two cores).
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pathstats_shm.h"
#include "ring/proc.h"

#define KEY_FMT        "/bench/api/v1/items/%08u/detail"
#define KEY_BUF        64
#define PACE_BATCH     256        /* records between clock reads */

typedef struct {
    const char  *zone;
    uint32_t     rings;          /* when creating */
    uint32_t     capacity;       /* records per ring, when creating */
    uint64_t     snapshot;       /* snapshot area bytes, when creating */
    uint32_t     paths;          /* distinct keys */
    uint32_t     clients;        /* distinct IPv4 addresses */
    uint64_t     count;          /* records to offer; 0: no limit */
    double       duration;       /* seconds; 0: no limit */
    double       rate;           /* records/s; 0: as fast as possible */
    int          block;          /* wait for room instead of dropping */
    int          sequential;     /* keys in turn, not at random */
    int          create_only;
    uint64_t     seed;
    uint64_t     wait_consumed;  /* 0: write records */
    long         pid;            /* with wait_consumed: stop if it exits */
} opts_t;

static volatile sig_atomic_t  stop;


static void
on_signal(int signo)
{
    stop = signo;
}


static uint64_t
mono_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}


static uint64_t
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}


static uint64_t
xorshift(uint64_t *s)
{
    uint64_t  x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;

    return x;
}



/* The zone's layout, validated once by map_zone(), as a worker keeps it. */
static ps_zone_geometry_t  geo;


/*
 * The units of a ring that holds n of this producer's records: every one
 * takes REC_UNITS (a 40-byte header, an IPv4 address, maybe an upstream
 * time, "GET", "bench" and a 35-byte key: 87 or 91 bytes), rounded up to
 * a power of two.
 */
#define REC_UNITS  3

static uint32_t
ring_units(uint32_t n)
{
    uint64_t  want, units;

    want = (uint64_t) n * REC_UNITS;

    for (units = PS_RING_CAPACITY_MIN; units < want; units *= 2) {
        /* void */
    }

    return units > PS_RING_CAPACITY_MAX ? PS_RING_CAPACITY_MAX
                                        : (uint32_t) units;
}


/* Maps the zone file, creating it when it does not exist; NULL on error. */
static void *
map_zone(const opts_t *o, uint64_t *size)
{
    int                fd;
    void              *base;
    struct stat        st;
    const char        *reason;
    ps_zone_header_t   want;
    uint64_t           seed;

    fd = open(o->zone, O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0640);

    if (fd != -1) {
        memset(&want, 0, sizeof(want));
        *size = ps_zone_layout(&want, o->rings, ring_units(o->capacity),
                               o->snapshot);

        /* allocated like nginx allocates it: a reader refuses holes */
        errno = posix_fallocate(fd, 0, (off_t) *size);
        if (errno != 0) {
            fprintf(stderr, "ring-producer: posix_fallocate %s: %s\n",
                    o->zone, strerror(errno));
            goto fail;
        }

        base = mmap(NULL, *size, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0);
        if (base == MAP_FAILED) {
            fprintf(stderr, "ring-producer: mmap %s: %s\n", o->zone,
                    strerror(errno));
            goto fail;
        }

        seed = now_us() ^ ((uint64_t) getpid() << 32);
        want.zone_id = xorshift(&seed) | 1;
        want.created_us = now_us();
        want.master_pid = (uint64_t) getpid();
        want.attach_count = 1;
        want.magic = 0;

        memcpy(base, &want, sizeof(want));
        ps_store_release(&((ps_zone_header_t *) base)->magic, PS_ZONE_MAGIC);

        close(fd);

        (void) ps_zone_validate(base, *size, *size, &geo);

        return base;
    }

    if (errno != EEXIST) {
        fprintf(stderr, "ring-producer: create %s: %s\n", o->zone,
                strerror(errno));
        return NULL;
    }

    fd = open(o->zone, O_RDWR|O_CLOEXEC);
    if (fd == -1 || fstat(fd, &st) == -1) {
        fprintf(stderr, "ring-producer: open %s: %s\n", o->zone,
                strerror(errno));
        goto fail;
    }

    *size = (uint64_t) st.st_size;

    if (*size < PS_HEADER_SIZE) {
        fprintf(stderr, "ring-producer: %s: too short\n", o->zone);
        goto fail;
    }

    base = mmap(NULL, *size, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        fprintf(stderr, "ring-producer: mmap %s: %s\n", o->zone,
                strerror(errno));
        goto fail;
    }

    reason = ps_zone_validate(base, *size, (uint64_t) st.st_blocks * 512,
                              &geo);
    if (reason != NULL) {
        fprintf(stderr, "ring-producer: %s: %s\n", o->zone, reason);
        munmap(base, *size);
        goto fail;
    }

    close(fd);

    return base;

fail:

    if (fd != -1) {
        close(fd);
    }

    return NULL;
}


/* Claims a free ring like a worker's init_process; -1 when none is free. */
static int
claim_ring(void *base, uint32_t *ring)
{
    uint32_t           i;
    uint32_t           start;
    uint64_t           me, expected;
    ps_ring_desc_t    *d;

    if (ps_proc_self_start(&start) != 0) {
        fprintf(stderr, "ring-producer: cannot read /proc/self/stat\n");
        return -1;
    }

    me = ps_owner_make(getpid(), start);

    for (i = 0; i < geo.ring_count; i++) {
        d = ps_zone_ring_desc(base, &geo, i);
        expected = PS_OWNER_FREE;

        if (ps_load_acquire(&d->owner) != PS_OWNER_FREE
            || !ps_cas(&d->owner, &expected, me))
        {
            continue;
        }

        ps_store_relaxed(&d->claimed_at_us, now_us());
        (void) __atomic_fetch_add(&d->claims, 1, __ATOMIC_RELAXED);

        *ring = i;

        return 0;
    }

    fprintf(stderr, "ring-producer: no free ring among %u\n",
            geo.ring_count);

    return -1;
}


static void
usage(FILE *f)
{
    fprintf(f,
"usage: bench-ring-producer --zone FILE [options]\n"
"  --zone FILE       zone file; created when missing (mode 0640)\n"
"  --rings N         rings when creating (default 8)\n"
"  --capacity N      records per ring when creating, power of 2\n"
"                    (default 65536; the ring gets the power of two of\n"
"                    32-byte units that holds them: 4 x N)\n"
"  --snapshot BYTES  snapshot area when creating (default 8388608)\n"
"  --create-only     create the zone file and exit\n"
"  --paths N         distinct keys (default 200)\n"
"  --clients N       distinct client addresses (default 1000)\n"
"  --count N         records to offer (default: no limit)\n"
"  --duration S      seconds to run (default 10 unless --count is given)\n"
"  --rate R          records per second (default: as fast as possible)\n"
"  --block           wait for room instead of dropping a record\n"
"  --sequential      the keys in turn (0, 1, ... N-1, 0, ...), not at\n"
"                    random: N records touch every key once\n"
"  --seed N          PRNG seed (default 1)\n"
"  --wait-consumed N write nothing: wait until the rings' consumed\n"
"                    records reach N, then print the time (CLOCK_REALTIME)\n"
"                    and the count; --duration S gives up after S seconds\n"
"                    (default: never), --pid P once process P has exited\n");
}


static int
parse_opts(int argc, char **argv, opts_t *o)
{
    int                        c;
    static const struct option  lo[] = {
        { "zone",        required_argument, NULL, 'z' },
        { "rings",       required_argument, NULL, 'r' },
        { "capacity",    required_argument, NULL, 'C' },
        { "snapshot",    required_argument, NULL, 'S' },
        { "create-only", no_argument,       NULL, 'o' },
        { "paths",       required_argument, NULL, 'p' },
        { "clients",     required_argument, NULL, 'a' },
        { "count",       required_argument, NULL, 'n' },
        { "duration",    required_argument, NULL, 'd' },
        { "rate",        required_argument, NULL, 'R' },
        { "block",       no_argument,       NULL, 'b' },
        { "sequential",  no_argument,       NULL, 'q' },
        { "seed",        required_argument, NULL, 's' },
        { "wait-consumed", required_argument, NULL, 'w' },
        { "pid",         required_argument, NULL, 'P' },
        { "help",        no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    memset(o, 0, sizeof(*o));
    o->rings = 8;
    o->capacity = 65536;
    o->snapshot = 8 << 20;
    o->paths = 200;
    o->clients = 1000;
    o->seed = 1;
    o->duration = -1;

    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'z': o->zone = optarg; break;
        case 'r': o->rings = (uint32_t) strtoul(optarg, NULL, 10); break;
        case 'C': o->capacity = (uint32_t) strtoul(optarg, NULL, 10); break;
        case 'S': o->snapshot = strtoull(optarg, NULL, 10); break;
        case 'o': o->create_only = 1; break;
        case 'p': o->paths = (uint32_t) strtoul(optarg, NULL, 10); break;
        case 'a': o->clients = (uint32_t) strtoul(optarg, NULL, 10); break;
        case 'n': o->count = strtoull(optarg, NULL, 10); break;
        case 'd': o->duration = strtod(optarg, NULL); break;
        case 'R': o->rate = strtod(optarg, NULL); break;
        case 'b': o->block = 1; break;
        case 'q': o->sequential = 1; break;
        case 's': o->seed = strtoull(optarg, NULL, 10) | 1; break;
        case 'w': o->wait_consumed = strtoull(optarg, NULL, 10); break;
        case 'P': o->pid = strtol(optarg, NULL, 10); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }

    if (o->zone == NULL || optind < argc) {
        usage(stderr);
        return -1;
    }

    if (o->rings < PS_RINGS_MIN || o->rings > PS_RINGS_MAX
        || o->capacity < PS_RING_CAPACITY_MIN
        || (o->capacity & (o->capacity - 1)) != 0
        || o->paths == 0 || o->clients == 0 || o->rate < 0)
    {
        fprintf(stderr, "ring-producer: bad --rings, --capacity, --paths, "
                "--clients or --rate\n");
        return -1;
    }

    if (o->duration < 0) {
        o->duration = o->count || o->wait_consumed ? 0 : 10;
    }

    return 0;
}


/* The rings' consumed records, as --stats adds them up. */
static uint64_t
zone_consumed(void *base)
{
    uint32_t  i;
    uint64_t  n = 0;

    for (i = 0; i < geo.ring_count; i++) {
        n += ps_load_acquire(&ps_zone_ring_desc(base, &geo, i)->consumed);
    }

    return n;
}


/* --wait-consumed: 0 when reached, 3 when --pid exited first, 4 when
 * --duration ran out. */
static int
wait_consumed(void *base, const opts_t *o)
{
    int               rc = 0;
    uint64_t          n, deadline;
    struct timespec   ts, now;
    const struct timespec  tick = { 0, 1000000 };

    deadline = o->duration > 0
               ? mono_ns() + (uint64_t) (o->duration * 1e9) : 0;

    while ((n = zone_consumed(base)) < o->wait_consumed) {
        if (stop) {
            rc = 4;
            break;
        }
        if (o->pid > 0 && kill((pid_t) o->pid, 0) == -1 && errno == ESRCH) {
            rc = 3;
            break;
        }
        if (deadline && mono_ns() >= deadline) {
            rc = 4;
            break;
        }
        ts = tick;
        nanosleep(&ts, NULL);
    }

    clock_gettime(CLOCK_REALTIME, &now);

    printf("{\"consumed\":%" PRIu64 ",\"at\":%lld.%09ld,\"reached\":%d}\n",
           n, (long long) now.tv_sec, now.tv_nsec, rc == 0);

    return rc;
}


int
main(int argc, char **argv)
{
    void              *base;
    char              *keys;
    uint8_t           *klen;
    uint8_t           *slots, *v;
    uint32_t           ring, i, pi, ums;
    uint64_t           size, tail, head, cap, seen, written, dropped;
    uint64_t           t0, t, deadline, rng, lat, full_waits;
    uint64_t           off, room, units, need;
    double             secs;
    opts_t             o;
    ps_record_t       *rec;
    ps_ring_desc_t    *d;
    struct sigaction   sa;

    static const uint16_t  statuses[16] = {
        200, 200, 200, 200, 200, 200, 200, 200,
        200, 200, 200, 304, 301, 404, 404, 500
    };

    if (parse_opts(argc, argv, &o) != 0) {
        return 2;
    }

    base = map_zone(&o, &size);
    if (base == NULL) {
        return 1;
    }

    /* a signal ends the writing (or the waiting) with the JSON line */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (o.wait_consumed) {
        return wait_consumed(base, &o);
    }

    if (o.create_only) {
        printf("{\"zone\":\"%s\",\"rings\":%u,\"capacity\":%u,"
               "\"records_per_ring\":%u,\"bytes\":%" PRIu64 "}\n", o.zone,
               geo.ring_count, geo.ring_capacity,
               geo.ring_capacity / REC_UNITS, size);
        return 0;
    }

    /* keys: precomputed, like the routes of a real site */

    keys = malloc((size_t) o.paths * KEY_BUF);
    klen = malloc(o.paths);
    if (keys == NULL || klen == NULL) {
        fprintf(stderr, "ring-producer: out of memory\n");
        free(keys);
        free(klen);
        return 1;
    }

    for (i = 0; i < o.paths; i++) {
        klen[i] = (uint8_t) snprintf(keys + (size_t) i * KEY_BUF, KEY_BUF,
                                     KEY_FMT, i);
    }

    if (claim_ring(base, &ring) != 0) {
        free(keys);
        free(klen);
        return 1;
    }

    d = ps_zone_ring_desc(base, &geo, ring);
    slots = (uint8_t *) ps_zone_ring_slot(base, &geo, ring, 0);
    cap = geo.ring_capacity;

    rng = o.seed * 0x9E3779B97F4A7C15ULL | 1;
    seen = written = dropped = full_waits = 0;
    head = ps_load_acquire(&d->head);

    t0 = mono_ns();
    deadline = o.duration > 0 ? t0 + (uint64_t) (o.duration * 1e9) : 0;
    t = t0;

    while (!stop) {

        if (o.count && seen >= o.count) {
            break;
        }

        if ((seen & (PACE_BATCH - 1)) == 0) {
            t = mono_ns();

            if (deadline && t >= deadline) {
                break;
            }

            if (o.rate > 0) {
                /* where seen should be by now; sleep off the lead */
                double  ahead = (double) seen / o.rate
                                - (double) (t - t0) / 1e9;

                if (ahead > 0.0005) {
                    struct timespec  ts;

                    ts.tv_sec = (time_t) ahead;
                    ts.tv_nsec = (long) ((ahead - (double) ts.tv_sec) * 1e9);
                    nanosleep(&ts, NULL);
                }
            }
        }

        tail = ps_load_relaxed(&d->tail);

        /* every record of this producer is REC_UNITS, and one that would
         * run over the ring's end needs the end too (a skip marker) */
        off = tail & (cap - 1);
        room = cap - off;
        units = REC_UNITS;
        need = room >= units ? units : room + units;

        if (cap - (tail - head) < need) {
            head = ps_load_acquire(&d->head);

            while (o.block && cap - (tail - head) < need && !stop) {
                struct timespec  ts = { 0, 200000 };

                full_waits++;
                nanosleep(&ts, NULL);
                head = ps_load_acquire(&d->head);

                if (deadline && mono_ns() >= deadline) {
                    stop = -1;
                }
            }

            if (stop) {
                break;
            }
        }

        /* the producer protocol of the module's log handler */

        ps_store_relaxed(&d->seen, ps_load_relaxed(&d->seen) + 1);
        seen++;

        if (cap - (tail - head) < need) {
            ps_store_relaxed(&d->dropped, ps_load_relaxed(&d->dropped) + 1);
            dropped++;
            continue;
        }

        if (room < units) {
            rec = (ps_record_t *) (slots + off * PS_RECORD_UNIT);
            memset(rec, 0, 8);
            rec->flags = PS_REC_SKIP;
            tail += room;
            off = 0;
        }

        rec = (ps_record_t *) (slots + off * PS_RECORD_UNIT);

        pi = o.sequential ? (uint32_t) (written % o.paths)
                          : (uint32_t) (xorshift(&rng) % o.paths);
        lat = xorshift(&rng);

        rec->time_us = now_us();
        rec->request_us = 200 + (lat & 0x3fff);
        rec->bytes_in = 300 + ((lat >> 24) & 0xff);
        rec->bytes_out = 1000 + ((lat >> 32) & 0xffff);
        rec->addr_family = PS_AF_INET;
        rec->status = statuses[(lat >> 48) & 15];
        rec->flags = 0;

        v = (uint8_t *) rec + sizeof(ps_record_t);
        i = (uint32_t) ((lat >> 40) % o.clients);
        v[0] = 10;
        v[1] = (uint8_t) (i >> 16);
        v[2] = (uint8_t) (i >> 8);
        v[3] = (uint8_t) i;
        v += 4;

        if ((lat >> 20) & 1) {
            ums = (uint32_t) (rec->request_us / 1000);
            memcpy(v, &ums, 4);
            v += 4;
            rec->flags = PS_REC_UPSTREAM;
        }

        rec->method_len = 3;
        memcpy(v, "GET", 3);
        v += 3;
        rec->host_len = 5;
        memcpy(v, "bench", 5);
        v += 5;
        rec->key_len = klen[pi];
        memcpy(v, keys + (size_t) pi * KEY_BUF, klen[pi]);

        ps_store_relaxed(&d->records, ps_load_relaxed(&d->records) + 1);
        ps_store_release(&d->tail, tail + units);
        written++;
    }

    secs = (double) (mono_ns() - t0) / 1e9;

    printf("{\"ring\":%u,\"pid\":%d,\"seen\":%" PRIu64 ",\"recorded\":%"
           PRIu64 ",\"dropped\":%" PRIu64 ",\"full_waits\":%" PRIu64
           ",\"seconds\":%.3f,\"recorded_per_s\":%.0f}\n",
           ring, (int) getpid(), seen, written, dropped, full_waits, secs,
           secs > 0 ? (double) written / secs : 0.0);

    free(keys);
    free(klen);

    return 0;
}
