/*
 * pathstats shared-memory ABI.
 *
 * The zone file is created and mapped by the nginx master; workers write
 * request records into per-worker single-producer rings; the aggregator
 * maps the same file, drains the rings and publishes snapshots back into
 * the snapshot area.  Both sides compile exactly these definitions: no
 * nginx, libc-object or library types, only fixed-width integers.
 *
 * File layout (all offsets from the start of the file, page aligned):
 *
 *   0                    ps_zone_header_t (PS_HEADER_SIZE bytes)
 *   ring_desc_off        ring_count x ps_ring_desc_t
 *   rings_off            ring_count x ring_capacity x PS_RECORD_UNIT
 *   snapshot_off         snapshot_size bytes: two snapshot buffers
 *
 * A ring is ring_capacity units of PS_RECORD_UNIT (32) bytes; a record
 * takes as many whole units as its size needs (ps_record_units()), so a
 * request with a short path takes 128 bytes where layout version 1 took
 * 512 for every one, and never runs over the end of its ring: a record
 * that would is preceded by a skip marker (PS_REC_SKIP) that fills the
 * ring's end.  head and tail count units, so that a position is where a
 * record starts; records and consumed count records.
 *
 * Counters are monotonic for the life of the file and survive reloads,
 * binary upgrades and ring reassignment, so that for every ring
 *
 *   seen     = recorded + dropped
 *   recorded = consumed + in_ring + lost
 *
 * where recorded = records + lost and in_ring = records - consumed.
 *
 * The file is input like any other: whoever can write it can rewrite the
 * header while nginx and the aggregator use it.  Each process validates
 * the header once, against the size it measured (ps_zone_validate), and
 * from then on computes every address from its private copy of the
 * geometry (ps_zone_geometry_t), never from the header in the file.
 */

#ifndef PATHSTATS_SHM_H
#define PATHSTATS_SHM_H

#include <stddef.h>
#include <stdint.h>


#define PS_ZONE_MAGIC          0x5441545348544150ULL  /* "PATHSTAT" LE */
#define PS_LAYOUT_VERSION      3

#define PS_HEADER_SIZE         4096
#define PS_PAGE_SIZE           4096
#define PS_CACHE_LINE          64

#define PS_RECORD_UNIT         32       /* bytes; a ring counts these */
#define PS_METHOD_MAX          16
#define PS_HOST_MAX            64
#define PS_KEY_MAX             368

/* the largest record: header, IPv6 address, upstream time, strings */
#define PS_RECORD_MAX          (40 + 16 + 4 + PS_METHOD_MAX + PS_HOST_MAX    \
                                + PS_KEY_MAX)
#define PS_RECORD_MAX_UNITS    ((PS_RECORD_MAX + PS_RECORD_UNIT - 1)         \
                                / PS_RECORD_UNIT)

#define PS_RINGS_MIN           2
#define PS_RINGS_MAX           1024
#define PS_RING_CAPACITY_MIN   128      /* units: 4 KB */
#define PS_RING_CAPACITY_MAX   0x80000000U

/* ps_record_t.flags */
#define PS_REC_KEY_TRUNCATED   0x01   /* key was longer than stored */
#define PS_REC_UPGRADED        0x02   /* connection upgraded (WebSocket) */
#define PS_REC_NORMALIZED      0x04   /* key was rewritten by normalize */
#define PS_REC_HOST_TRUNCATED  0x08
#define PS_REC_UPSTREAM        0x40   /* the upstream time follows the
                                         address */
#define PS_REC_SKIP            0x80   /* not a record: the ring's end is
                                         unused, the next record starts at
                                         the ring's first unit */

/* ps_record_t.addr_family */
#define PS_AF_NONE             0
#define PS_AF_INET             4
#define PS_AF_INET6            6

/* ps_record_upstream() when the request was not proxied */
#define PS_NO_UPSTREAM         UINT64_MAX


/*
 * One request: this header, then (ps_record_var()) the client address
 * (4 bytes for PS_AF_INET, 16 for PS_AF_INET6, none for PS_AF_NONE), its
 * upstream time (with PS_REC_UPSTREAM: 4 bytes, milliseconds as nginx
 * measures them, UINT32_MAX for 49.7 days and more), the method, the host and
 * the key, packed, in whole units.  The first 8 bytes are all a skip
 * marker has (its flags).  Strings are raw bytes with explicit lengths,
 * not NUL terminated, and may contain any byte (the consumer escapes
 * them).
 */
typedef struct {
    uint16_t  status;
    uint8_t   addr_family;      /* PS_AF_* */
    uint8_t   flags;            /* PS_REC_* */
    uint16_t  key_len;          /* <= PS_KEY_MAX */
    uint8_t   method_len;       /* <= PS_METHOD_MAX */
    uint8_t   host_len;         /* <= PS_HOST_MAX */
    uint64_t  time_us;          /* log-phase time, unix epoch, µs */
    uint64_t  request_us;       /* $request_time in µs */
    uint64_t  bytes_in;         /* $request_length */
    uint64_t  bytes_out;        /* $bytes_sent */
} ps_record_t;


/*
 * Ring ownership word: 0 when free, otherwise the owner's pid in the high
 * 32 bits and the low 32 bits of its start time (field 22 of
 * /proc/<pid>/stat, clock ticks since boot) in the low 32 bits.  It is one
 * word so that a claim or a release is a single compare-and-swap and no
 * reader ever sees a pid paired with another process's start time.
 */
#define PS_OWNER_FREE          0ULL
#define ps_owner_make(pid, st) (((uint64_t) (uint32_t) (pid) << 32)          \
                                | (uint64_t) (uint32_t) (st))
#define ps_owner_pid(w)        ((int32_t) ((w) >> 32))
#define ps_owner_start(w)      ((uint32_t) ((w) & 0xffffffffULL))


/*
 * One ring's descriptor.  The three cache lines separate what is written
 * rarely (ownership), by the producer (every request) and by the consumer,
 * so that neither side's stores bounce the other's line.
 */
typedef struct {
    /* line 0: ownership, written on claim/release only */
    uint64_t  owner;            /* atomic; PS_OWNER_FREE or ps_owner_make */
    uint64_t  claimed_at_us;    /* when the current owner claimed it */
    uint64_t  claims;           /* how many times the ring was claimed */
    uint64_t  released_at_us;   /* when the consumer last freed it */
    uint8_t   pad0[PS_CACHE_LINE - 4 * sizeof(uint64_t)];

    /* line 1: producer; single writer at a time (the owner) */
    uint64_t  seen;             /* requests offered to the ring */
    uint64_t  dropped;          /* refused because the ring was full */
    uint64_t  tail;             /* atomic release: units published */
    uint64_t  records;          /* records published (stored before tail) */
    uint8_t   pad1[PS_CACHE_LINE - 4 * sizeof(uint64_t)];

    /* line 2: consumer; single writer (the aggregator) */
    uint64_t  head;             /* atomic release: units consumed */
    uint64_t  lost;             /* stuck records of dead owners */
    uint64_t  consumer_pid;
    uint64_t  consumed;         /* records consumed (up to head) */
    uint8_t   pad2[PS_CACHE_LINE - 4 * sizeof(uint64_t)];
} ps_ring_desc_t;


/*
 * Snapshot buffers.  The aggregator writes buffer (version + 1) % 2 and
 * then publishes version + 1 with a release store; readers load version
 * with acquire and read buffer version % 2.  Each buffer also has a
 * sequence lock: the writer makes buf_seq[i] odd before writing buffer i
 * and even again after; a reader copies the buffer out between two loads
 * of buf_seq[i] and keeps the copy only if both are the same even value.
 * Readers never wait on a lock.  Every length and offset inside a buffer
 * is untrusted and checked by the reader (pathstats_snapshot.h).
 */
typedef struct {
    uint64_t  version;          /* atomic; 0 = no snapshot yet */
    uint64_t  buf_off[2];       /* from the start of the file */
    uint64_t  buf_size;         /* capacity of each buffer */
    uint64_t  buf_len[2];       /* bytes used in each buffer */
    uint64_t  generated_us[2];  /* when each buffer was generated */
    uint64_t  buf_seq[2];       /* atomic; odd while buffer i is written */
} ps_snapshot_ctl_t;


typedef struct {
    uint64_t  magic;            /* PS_ZONE_MAGIC */
    uint32_t  layout_version;   /* PS_LAYOUT_VERSION */
    uint32_t  header_size;      /* PS_HEADER_SIZE */
    uint32_t  record_size;      /* PS_RECORD_UNIT: a ring's unit */
    uint32_t  ring_desc_size;   /* sizeof(ps_ring_desc_t) */
    uint64_t  file_size;
    uint64_t  zone_id;          /* random at creation: the ring generation */
    uint64_t  created_us;

    uint32_t  ring_count;
    uint32_t  ring_capacity;    /* units per ring, a power of two */
    uint64_t  ring_desc_off;
    uint64_t  rings_off;
    uint64_t  rings_size;       /* ring_count * ring_capacity * unit */
    uint64_t  snapshot_off;
    uint64_t  snapshot_size;

    /* written by nginx */
    uint64_t  no_ring;          /* requests seen by workers without a ring */
    uint64_t  master_pid;
    uint64_t  attach_count;     /* times a master (re)attached the file */

    /* written by the aggregator */
    uint64_t  aggregator_pid;
    uint64_t  aggregator_heartbeat_us;  /* atomic; last loop iteration */
    uint64_t  aggregator_started_us;

    uint8_t   reserved0[PS_CACHE_LINE];
    ps_snapshot_ctl_t  snapshot;
} ps_zone_header_t;


/*
 * The layout of one zone file as validated by ps_zone_validate(): a
 * private copy, in the process's own memory, of the header's geometry.
 * Whoever can write the file can rewrite its header at any time, so once
 * a file is validated its header's offsets and sizes are never read
 * again: every address of a ring, a slot or a snapshot buffer is computed
 * from this copy.
 */
typedef struct {
    uint64_t  file_size;
    uint64_t  zone_id;
    uint32_t  ring_count;
    uint32_t  ring_capacity;    /* a power of two */
    uint64_t  ring_desc_off;
    uint64_t  rings_off;
    uint64_t  snapshot_off;
    uint64_t  snapshot_size;
    uint64_t  snap_buf_off[2];
    uint64_t  snap_buf_size;
} ps_zone_geometry_t;


_Static_assert(sizeof(ps_record_t) == 40,
               "the record header is 40 bytes");
_Static_assert(offsetof(ps_record_t, time_us) == 8,
               "a skip marker is the record's first 8 bytes");
_Static_assert(PS_RECORD_MAX_UNITS <= 16 && PS_RECORD_MAX_UNITS * 8
               <= PS_RING_CAPACITY_MIN,
               "a ring holds many of the largest records");
_Static_assert(sizeof(ps_ring_desc_t) == 3 * PS_CACHE_LINE,
               "ps_ring_desc_t must be three cache lines");
_Static_assert(sizeof(ps_zone_header_t) <= PS_HEADER_SIZE,
               "ps_zone_header_t must fit in PS_HEADER_SIZE");
_Static_assert(offsetof(ps_ring_desc_t, seen) == PS_CACHE_LINE,
               "producer fields start on their own cache line");
_Static_assert(offsetof(ps_ring_desc_t, head) == 2 * PS_CACHE_LINE,
               "consumer fields start on their own cache line");
_Static_assert(offsetof(ps_zone_header_t, magic) == 0,
               "magic at offset 0");
_Static_assert(PS_HEADER_SIZE % PS_PAGE_SIZE == 0,
               "the ring descriptors start on a page");
_Static_assert(PS_RECORD_UNIT * PS_RING_CAPACITY_MIN % PS_PAGE_SIZE == 0,
               "every ring, and so the snapshot area, starts on a page");
_Static_assert(PS_RINGS_MAX <= (1 << 10) && PS_RING_CAPACITY_MAX <= (1U << 31)
               && PS_RECORD_UNIT <= (1 << 9),
               "ring_count x ring_capacity x PS_RECORD_UNIT < 2^50: the "
               "validator's products cannot overflow");


/* Atomic accessors; the builtins are the same in gcc and clang. */
#define ps_load_acquire(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define ps_load_relaxed(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define ps_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ps_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define ps_cas(p, expected, desired)                                         \
    __atomic_compare_exchange_n((p), (expected), (desired), 0,               \
                                __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)


/* Descriptor of ring i (< geo->ring_count) of a validated zone at base. */
static inline ps_ring_desc_t *
ps_zone_ring_desc(void *base, const ps_zone_geometry_t *geo, uint32_t i)
{
    return (ps_ring_desc_t *) ((char *) base + geo->ring_desc_off) + i;
}


/* The record at position pos (a unit) of ring (< geo->ring_count). */
static inline ps_record_t *
ps_zone_ring_slot(void *base, const ps_zone_geometry_t *geo, uint32_t ring,
    uint64_t pos)
{
    return (ps_record_t *) ((char *) base + geo->rings_off
                            + ((uint64_t) ring * geo->ring_capacity
                               + (pos & (geo->ring_capacity - 1)))
                              * PS_RECORD_UNIT);
}


/* Bytes of the client address of a record of addr_family af. */
static inline uint32_t
ps_record_addr_len(unsigned af)
{
    return af == PS_AF_INET ? 4 : af == PS_AF_INET6 ? 16 : 0;
}


/* Bytes of rec's variable part before its strings: address and upstream
 * time. */
static inline uint32_t
ps_record_pre_len(const ps_record_t *rec)
{
    return ps_record_addr_len(rec->addr_family)
           + ((rec->flags & PS_REC_UPSTREAM) ? 4 : 0);
}


/* Units that rec takes: the header, its variable part and its strings,
 * rounded up to whole units (lengths as the header says: a reader checks
 * them against the maxima first). */
static inline uint32_t
ps_record_units(const ps_record_t *rec)
{
    return (uint32_t) (sizeof(ps_record_t) + ps_record_pre_len(rec)
                       + rec->method_len + rec->host_len + rec->key_len
                       + PS_RECORD_UNIT - 1) / PS_RECORD_UNIT;
}


/* The variable part of rec: address, upstream time, method, host, key;
 * the accessors below trust rec's lengths (a reader checks them first). */
static inline const uint8_t *
ps_record_var(const ps_record_t *rec)
{
    return (const uint8_t *) rec + sizeof(ps_record_t);
}


static inline const uint8_t *
ps_record_addr(const ps_record_t *rec)
{
    return ps_record_var(rec);
}


/* The upstream time in microseconds, or PS_NO_UPSTREAM. */
static inline uint64_t
ps_record_upstream(const ps_record_t *rec)
{
    uint32_t  ms;

    if (!(rec->flags & PS_REC_UPSTREAM)) {
        return PS_NO_UPSTREAM;
    }

    __builtin_memcpy(&ms, ps_record_var(rec)
                          + ps_record_addr_len(rec->addr_family), 4);

    return (uint64_t) ms * 1000;
}


static inline const char *
ps_record_method(const ps_record_t *rec)
{
    return (const char *) ps_record_var(rec) + ps_record_pre_len(rec);
}


static inline const char *
ps_record_host(const ps_record_t *rec)
{
    return ps_record_method(rec) + rec->method_len;
}


static inline const char *
ps_record_key(const ps_record_t *rec)
{
    return ps_record_host(rec) + rec->host_len;
}


/*
 * Fills a fresh header's geometry for ring_count rings of ring_capacity
 * units and a snapshot area of snapshot_size bytes (rounded to pages).
 * The caller sets magic, zone_id and times.  Returns the file size.
 */
static inline uint64_t
ps_zone_layout(ps_zone_header_t *h, uint32_t ring_count,
    uint32_t ring_capacity, uint64_t snapshot_size)
{
    uint64_t  off, half;

    h->layout_version = PS_LAYOUT_VERSION;
    h->header_size = PS_HEADER_SIZE;
    h->record_size = PS_RECORD_UNIT;
    h->ring_desc_size = sizeof(ps_ring_desc_t);
    h->ring_count = ring_count;
    h->ring_capacity = ring_capacity;

    off = PS_HEADER_SIZE;
    h->ring_desc_off = off;
    off += (uint64_t) ring_count * sizeof(ps_ring_desc_t);
    off = (off + PS_PAGE_SIZE - 1) & ~((uint64_t) PS_PAGE_SIZE - 1);

    h->rings_off = off;
    h->rings_size = (uint64_t) ring_count * ring_capacity * PS_RECORD_UNIT;
    off += h->rings_size;

    half = (snapshot_size / 2 + PS_PAGE_SIZE - 1)
           & ~((uint64_t) PS_PAGE_SIZE - 1);
    h->snapshot_off = off;
    h->snapshot_size = 2 * half;
    h->snapshot.buf_size = half;
    h->snapshot.buf_off[0] = off;
    h->snapshot.buf_off[1] = off + half;
    off += 2 * half;

    h->file_size = off;

    return off;
}


/*
 * Validates the header of a zone file of file_size bytes, allocated_size
 * of which are backed by storage (st_blocks * 512), and fills geo with
 * the geometry to use from then on.  Returns NULL when the file is
 * usable, otherwise a static reason.
 *
 * base is read only when file_size >= PS_HEADER_SIZE, and only its first
 * PS_HEADER_SIZE bytes: the header is copied once into private memory and
 * every field is read from that copy exactly once, so that a concurrent
 * writer of the file cannot make one check see one value and the use
 * another.  Every bound is checked by subtraction from a size that was
 * measured, never by adding two numbers read from the file, and every
 * offset and size must be a multiple of the page size.
 */
static inline const char *
ps_zone_validate(const void *base, uint64_t file_size,
    uint64_t allocated_size, ps_zone_geometry_t *geo)
{
    uint32_t          i;
    uint64_t          desc_size, rings_size, off;
    ps_zone_header_t  h;

    if (file_size < PS_HEADER_SIZE) {
        return "file is shorter than the zone header";
    }

    /* nginx stores the magic last, with release: acquire it first */
    if (ps_load_acquire(&((const ps_zone_header_t *) base)->magic)
        != PS_ZONE_MAGIC)
    {
        return "bad magic: not a pathstats zone file";
    }

    __builtin_memcpy(&h, base, sizeof(ps_zone_header_t));

    if (h.magic != PS_ZONE_MAGIC) {
        return "bad magic: not a pathstats zone file";
    }

    if (h.layout_version == 1) {
        return "layout version differs from this build: the file has "
               "layout 1 (512-byte records, pathstats before the dense "
               "rings), this build reads and writes layout 3 (records in "
               "32-byte units); the nginx module and the aggregator must "
               "be of one version, and a file of layout 1 removed (nginx "
               "stopped) for nginx to create it anew";
    }

    if (h.layout_version == 2) {
        return "layout version differs from this build: the file has "
               "layout 2 (an 8-byte upstream time in a proxied request's "
               "record), this build reads and writes layout 3 (4 bytes); "
               "the nginx module and the aggregator must be of one "
               "version, and a file of layout 2 removed (nginx stopped) "
               "for nginx to create it anew";
    }

    if (h.layout_version != PS_LAYOUT_VERSION) {
        return "layout version differs from this build";
    }

    if (h.header_size != PS_HEADER_SIZE
        || h.record_size != PS_RECORD_UNIT
        || h.ring_desc_size != sizeof(ps_ring_desc_t))
    {
        return "record or header size differs from this build";
    }

    if (h.file_size > file_size) {
        return "file is shorter than its header says (truncated)";
    }

    if (h.file_size != file_size) {
        return "file size differs from the size in its header";
    }

    if (allocated_size < file_size) {
        return "file is not fully allocated (sparse): a write to one of "
               "its holes on a full file system would kill the process";
    }

    if (h.ring_count < PS_RINGS_MIN || h.ring_count > PS_RINGS_MAX
        || h.ring_capacity < PS_RING_CAPACITY_MIN
        || h.ring_capacity > PS_RING_CAPACITY_MAX
        || (h.ring_capacity & (h.ring_capacity - 1)) != 0)
    {
        return "ring count or capacity out of range";
    }

    if (((h.ring_desc_off | h.rings_off | h.rings_size | h.snapshot_off
          | h.snapshot_size | h.snapshot.buf_off[0] | h.snapshot.buf_off[1]
          | h.snapshot.buf_size | file_size)
         & (PS_PAGE_SIZE - 1)) != 0)
    {
        return "an offset or size is not page aligned";
    }

    /* at most 1024 x 192 and 1024 x 2^31 x 32 bytes: no overflow */
    desc_size = (uint64_t) h.ring_count * sizeof(ps_ring_desc_t);
    rings_size = (uint64_t) h.ring_count * h.ring_capacity * PS_RECORD_UNIT;

    /* header < descriptors <= rings <= snapshot <= end of file */

    if (h.ring_desc_off < PS_HEADER_SIZE
        || h.ring_desc_off > file_size
        || h.rings_off < h.ring_desc_off
        || h.rings_off > file_size
        || desc_size > h.rings_off - h.ring_desc_off)
    {
        return "ring descriptors out of bounds";
    }

    if (h.rings_size != rings_size
        || h.snapshot_off < h.rings_off
        || h.snapshot_off > file_size
        || rings_size > h.snapshot_off - h.rings_off)
    {
        return "rings out of bounds";
    }

    if (h.snapshot_size > file_size - h.snapshot_off
        || h.snapshot.buf_size < PS_PAGE_SIZE
        || h.snapshot.buf_size > h.snapshot_size / 2)
    {
        return "snapshot area out of bounds";
    }

    for (i = 0; i < 2; i++) {
        off = h.snapshot.buf_off[i];

        if (off < h.snapshot_off
            || off - h.snapshot_off > h.snapshot_size
            || h.snapshot.buf_size > h.snapshot_size
                                     - (off - h.snapshot_off))
        {
            return "snapshot buffers out of bounds";
        }
    }

    if (h.snapshot.buf_off[1] < h.snapshot.buf_off[0]
        || h.snapshot.buf_off[1] - h.snapshot.buf_off[0]
           < h.snapshot.buf_size)
    {
        return "snapshot buffers overlap";
    }

    geo->file_size = file_size;
    geo->zone_id = h.zone_id;
    geo->ring_count = h.ring_count;
    geo->ring_capacity = h.ring_capacity;
    geo->ring_desc_off = h.ring_desc_off;
    geo->rings_off = h.rings_off;
    geo->snapshot_off = h.snapshot_off;
    geo->snapshot_size = h.snapshot_size;
    geo->snap_buf_off[0] = h.snapshot.buf_off[0];
    geo->snap_buf_off[1] = h.snapshot.buf_off[1];
    geo->snap_buf_size = h.snapshot.buf_size;

    return NULL;
}

#endif /* PATHSTATS_SHM_H */
