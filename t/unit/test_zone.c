/*
 * Unit tests for the zone file as untrusted input: ps_zone_validate()
 * (include/pathstats_shm.h), shared by nginx and the aggregator, against
 * headers that are wrong in every field, wrap 64-bit arithmetic or lie
 * about the file; and ps_zone_open() (aggregator/ring/zone.c,
 * zone_file.c) against a symbolic link, a sparse or truncated file, a
 * file another user owns in a directory every user may write, and a
 * header rewritten while the zone is open.  Prints TAP.
 */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "ring/zone.h"
#include "tap.h"

#define RINGS      4
#define CAPACITY   128          /* units */
#define SNAPSHOT   65536
#define OTHER_UID  54321        /* no such user: a squatter */

static char  dir[] = "/tmp/ps-test-zone-XXXXXX";
static char  log_path[300];


/* A header as nginx writes it; returns the file size. */
static uint64_t
layout(ps_zone_header_t *h, uint32_t rings, uint32_t capacity)
{
    uint64_t  size;

    memset(h, 0, PS_HEADER_SIZE);
    size = ps_zone_layout(h, rings, capacity, SNAPSHOT);
    h->magic = PS_ZONE_MAGIC;
    h->zone_id = 0x1122334455667788ULL;

    return size;
}


/* The reason ps_zone_validate() gives for h in a file of its own size. */
static const char *
check(const ps_zone_header_t *h)
{
    ps_zone_geometry_t  geo;

    return ps_zone_validate(h, h->file_size, h->file_size, &geo);
}


static int
refused(const ps_zone_header_t *h, const char *reason, const char *what)
{
    const char  *got;

    got = check(h);

    if (got == NULL || strstr(got, reason) == NULL) {
        diag("want a reason with '%s', got '%s'", reason,
             got ? got : "(accepted)");
        return ok(0, "%s", what);
    }

    return ok(1, "%s: %s", what, got);
}


static void
test_valid(void)
{
    uint32_t             i, caps[] = { 128, 512, 4096 }, rings[] = { 2, 8, 1024 };
    uint64_t             size;
    ps_zone_header_t    *h;
    ps_zone_geometry_t   geo;

    h = aligned_alloc(PS_PAGE_SIZE, PS_HEADER_SIZE);

    for (i = 0; i < 3; i++) {
        size = layout(h, rings[i], caps[i]);
        ok(ps_zone_validate(h, size, size, &geo) == NULL
           && geo.file_size == size && geo.ring_count == rings[i]
           && geo.ring_capacity == caps[i]
           && geo.ring_desc_off == h->ring_desc_off
           && geo.rings_off == h->rings_off
           && geo.snapshot_off == h->snapshot_off
           && geo.snapshot_size == h->snapshot_size
           && geo.snap_buf_off[0] == h->snapshot.buf_off[0]
           && geo.snap_buf_off[1] == h->snapshot.buf_off[1]
           && geo.snap_buf_size == h->snapshot.buf_size
           && geo.zone_id == h->zone_id,
           "a layout of %u rings of %u units validates into its geometry",
           rings[i], caps[i]);
    }

    size = layout(h, RINGS, CAPACITY);
    ok(ps_zone_validate(h, size, size + 8192, &geo) == NULL,
       "more blocks than bytes (file system overhead) is fine");

    /* the copy: what the header says later does not move the geometry */
    h->rings_off = 0;
    h->ring_desc_off = 0;
    ok(geo.rings_off == PS_HEADER_SIZE + PS_PAGE_SIZE
       && geo.ring_desc_off == PS_HEADER_SIZE,
       "the geometry is a private copy: rewriting the header after the "
       "check changes nothing");

    free(h);
}


static void
test_file_size(void)
{
    uint64_t             size;
    ps_zone_header_t    *h;
    ps_zone_geometry_t   geo;
    const char          *r;

    h = aligned_alloc(PS_PAGE_SIZE, PS_HEADER_SIZE);
    size = layout(h, RINGS, CAPACITY);

    r = ps_zone_validate(NULL, 4095, 4095, &geo);
    ok(r && strstr(r, "shorter than the zone header"),
       "a file shorter than a header is refused without reading it");

    r = ps_zone_validate(h, PS_HEADER_SIZE, PS_HEADER_SIZE, &geo);
    ok(r && strstr(r, "shorter than its header says"),
       "a zone truncated to 4096 bytes is refused as truncated");

    r = ps_zone_validate(h, size - PS_PAGE_SIZE, size - PS_PAGE_SIZE, &geo);
    ok(r && strstr(r, "truncated"), "one page short: truncated");

    r = ps_zone_validate(h, size + PS_PAGE_SIZE, size + PS_PAGE_SIZE, &geo);
    ok(r && strstr(r, "differs from the size in its header"),
       "one page long: refused");

    r = ps_zone_validate(h, size, size - PS_PAGE_SIZE, &geo);
    ok(r && strstr(r, "not fully allocated"),
       "one page not allocated (sparse): refused");

    r = ps_zone_validate(h, size, 0, &geo);
    ok(r && strstr(r, "not fully allocated"),
       "nothing allocated (ftruncate only): refused");

    free(h);
}


static void
test_fields(void)
{
    ps_zone_header_t  *h;

    h = aligned_alloc(PS_PAGE_SIZE, PS_HEADER_SIZE);

#define FRESH()  (void) layout(h, RINGS, CAPACITY)

    FRESH(); h->magic = 42;
    refused(h, "bad magic", "bad magic");
    FRESH(); h->layout_version = 4;
    refused(h, "layout version", "another layout version");
    FRESH(); h->layout_version = 2;
    refused(h, "has layout 2 (an 8-byte upstream time", "layout 2 (8-byte "
            "upstream times), named");
    FRESH(); h->layout_version = 1;
    refused(h, "has layout 1 (512-byte records", "layout 1 (before the "
            "dense rings), named");
    FRESH(); h->record_size = 256;
    refused(h, "record or header size", "another record size");
    FRESH(); h->ring_desc_size = 128;
    refused(h, "record or header size", "another descriptor size");
    FRESH(); h->header_size = 8192;
    refused(h, "record or header size", "another header size");

    FRESH(); h->ring_count = 1;
    refused(h, "ring count or capacity", "one ring");
    FRESH(); h->ring_count = PS_RINGS_MAX + 1;
    refused(h, "ring count or capacity", "1025 rings");
    FRESH(); h->ring_capacity = 24;
    refused(h, "ring count or capacity", "a capacity that is no power of 2");
    FRESH(); h->ring_capacity = 64;
    refused(h, "ring count or capacity", "a capacity below 128 units");
    FRESH(); h->ring_capacity = 0xffffffffU;
    refused(h, "ring count or capacity", "capacity 2^32 - 1");
    FRESH(); h->ring_capacity = 0x80000000U;
    h->rings_size = (uint64_t) RINGS * 0x80000000U * PS_RECORD_UNIT;
    refused(h, "out of bounds", "capacity 2^31, rings far past the file");

    /* the reproduction of the issue: rings_off = 2^64 - 0x30000 */
    FRESH(); h->rings_off = 0 - (uint64_t) 0x30000;
    refused(h, "out of bounds", "rings_off = 2^64 - 0x30000 (wraps)");
    FRESH(); h->ring_desc_off = 0 - (uint64_t) PS_PAGE_SIZE;
    refused(h, "out of bounds", "ring_desc_off = 2^64 - 4096 (wraps)");
    FRESH(); h->ring_desc_off = 0;
    refused(h, "out of bounds", "ring descriptors over the header");
    FRESH(); h->rings_off = h->ring_desc_off;
    refused(h, "out of bounds", "rings over the descriptors");
    FRESH(); h->rings_size += PS_PAGE_SIZE;
    refused(h, "out of bounds", "rings_size not ring_count x capacity");
    FRESH(); h->snapshot_off = 0 - (uint64_t) PS_PAGE_SIZE;
    refused(h, "out of bounds", "snapshot_off = 2^64 - 4096 (wraps)");
    FRESH(); h->snapshot_off = h->rings_off;
    refused(h, "out of bounds", "snapshot area over the rings");
    FRESH(); h->snapshot_size = 0 - (uint64_t) PS_PAGE_SIZE;
    refused(h, "out of bounds", "snapshot_size = 2^64 - 4096 (wraps)");
    FRESH(); h->snapshot_size += PS_PAGE_SIZE;
    refused(h, "out of bounds", "snapshot area one page past the end");
    FRESH(); h->snapshot.buf_off[1] = 0 - (uint64_t) PS_PAGE_SIZE;
    refused(h, "snapshot buffers", "buf_off[1] = 2^64 - 4096 (wraps)");
    FRESH(); h->snapshot.buf_off[1] += PS_PAGE_SIZE;
    refused(h, "snapshot buffers", "buffer 1 one page past the area");
    FRESH(); h->snapshot.buf_off[0] = h->rings_off;
    refused(h, "snapshot buffers", "buffer 0 over the rings");
    FRESH(); h->snapshot.buf_off[1] = h->snapshot.buf_off[0];
    refused(h, "overlap", "both buffers at one place");
    FRESH(); h->snapshot.buf_size = 0 - (uint64_t) PS_PAGE_SIZE;
    refused(h, "snapshot area", "buf_size = 2^64 - 4096");
    FRESH(); h->snapshot.buf_size = 0;
    refused(h, "snapshot area", "buf_size 0");

    FRESH(); h->rings_off += 64;
    refused(h, "page aligned", "rings_off 64 bytes off a page");
    FRESH(); h->ring_desc_off += 8;
    refused(h, "page aligned", "ring_desc_off off a page");
    FRESH(); h->snapshot.buf_off[0] += 1;
    refused(h, "page aligned", "buf_off[0] off a page");

    FRESH();
    ok(check(h) == NULL, "the fresh header still validates");

#undef FRESH

    free(h);
}


/* Writes a zone of RINGS x CAPACITY at path, fully allocated or sparse;
 * returns its size. */
static uint64_t
write_zone(const char *path, int allocate, mode_t mode)
{
    int                fd;
    uint64_t           size;
    ps_zone_header_t  *h;

    h = aligned_alloc(PS_PAGE_SIZE, PS_HEADER_SIZE);
    size = layout(h, RINGS, CAPACITY);

    unlink(path);
    fd = open(path, O_RDWR|O_CREAT|O_EXCL, mode);
    if (fd == -1 || fchmod(fd, mode) != 0
        || (allocate ? posix_fallocate(fd, 0, (off_t) size)
                     : ftruncate(fd, (off_t) size)) != 0
        || pwrite(fd, h, PS_HEADER_SIZE, 0) != PS_HEADER_SIZE)
    {
        bail_out("cannot write %s", path);
    }

    close(fd);
    free(h);

    return size;
}


static char *
read_log(void)
{
    static char  text[65536];
    FILE        *f;
    size_t       n;

    f = fopen(log_path, "r");
    n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
    text[n] = '\0';
    if (f) {
        fclose(f);
    }

    if (truncate(log_path, 0) != 0) {
        bail_out("truncate %s", log_path);
    }

    return text;
}


static int
open_refused(const char *path, const char *reason, const char *what)
{
    ps_zone_t   *z;
    const char  *log;

    z = ps_zone_open(path, 0);
    log = read_log();

    if (z != NULL) {
        ps_zone_close(z);
        return ok(0, "%s (it opened)", what);
    }

    if (strstr(log, reason) == NULL) {
        diag("want '%s' in the log: %s", reason, log);
        return ok(0, "%s", what);
    }

    return ok(1, "%s", what);
}


static void
test_open(void)
{
    int                fd;
    char               zone[320], link[320], shared[320], squat[320];
    ps_zone_t         *z;
    const char        *log;
    ps_zone_header_t  *h;
    uint64_t           size;

    snprintf(zone, sizeof(zone), "%s/zone", dir);
    snprintf(link, sizeof(link), "%s/link", dir);
    snprintf(shared, sizeof(shared), "%s/shm", dir);
    snprintf(squat, sizeof(squat), "%s/shm/zone", dir);

    size = write_zone(zone, 1, 0640);
    z = ps_zone_open(zone, 0);
    ok(z != NULL && z->geo.file_size == size, "a fully allocated zone opens");
    ps_zone_close(z);
    (void) read_log();

    if (symlink(zone, link) != 0) {
        bail_out("symlink");
    }
    open_refused(link, "refusing a symbolic link",
                 "a symbolic link to a valid zone is refused");

    (void) write_zone(zone, 0, 0640);
    open_refused(zone, "not fully allocated",
                 "a sparse zone (ftruncate, as nginx made it before) is "
                 "refused");

    (void) write_zone(zone, 1, 0640);
    if (truncate(zone, PS_HEADER_SIZE) != 0) {
        bail_out("truncate");
    }
    open_refused(zone, "shorter than its header says",
                 "a zone truncated to 4096 bytes is refused");

    /* a directory every user may write, like /dev/shm */
    if (mkdir(shared, 01777) != 0 || chmod(shared, 01777) != 0) {
        bail_out("mkdir %s", shared);
    }

    (void) write_zone(squat, 1, 0644);

    if (geteuid() != 0) {
        ok(1, "# SKIP not root: cannot give a file to another user");
        ok(1, "# SKIP not root");
        ok(1, "# SKIP not root");

    } else {
        if (chown(squat, OTHER_UID, OTHER_UID) != 0) {
            bail_out("chown");
        }

        z = ps_zone_open(squat, 0);
        log = read_log();
        ok(z == NULL && strstr(log, "uid 54321") && strstr(log, "mode 0644")
           && strstr(log, "other users may write"),
           "a zone another user owns in a world-writable directory is "
           "refused, naming the owner and the mode");
        ps_zone_close(z);

        if (chown(squat, 0, OTHER_UID) != 0 || chmod(squat, 0664) != 0) {
            bail_out("chown");
        }

        z = ps_zone_open(squat, 0);
        log = read_log();
        ok(z == NULL && strstr(log, "gid 54321")
           && strstr(log, "a group this process is not in may write it"),
           "a root-owned zone writable by a foreign group there is refused");
        ps_zone_close(z);

        /* the same owner in a private directory: nginx put it there */
        (void) write_zone(zone, 1, 0660);
        if (chown(zone, OTHER_UID, OTHER_UID) != 0) {
            bail_out("chown");
        }

        z = ps_zone_open(zone, 0);
        ok(z != NULL, "the workers' file (another user, 0660) in a private "
           "directory opens");
        ps_zone_close(z);
        (void) read_log();
    }

    /* a header rewritten under an open zone: the geometry stands */

    (void) write_zone(zone, 1, 0640);
    z = ps_zone_open(zone, 1);
    if (z == NULL) {
        bail_out("cannot open %s: %s", zone, read_log());
    }

    fd = open(zone, O_RDWR);
    h = mmap(NULL, PS_HEADER_SIZE, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (h == MAP_FAILED) {
        bail_out("mmap");
    }

    h->rings_off = 0;
    h->ring_desc_off = 0;
    h->ring_count = PS_RINGS_MAX;
    h->ring_capacity = 1U << 30;
    h->snapshot.buf_off[0] = 0 - (uint64_t) PS_PAGE_SIZE;

    ok((char *) ps_zone_ring(z, 1)
       == (char *) z->header + PS_HEADER_SIZE + sizeof(ps_ring_desc_t),
       "rewritten ring_desc_off: ps_zone_ring() still finds ring 1");
    ok((char *) ps_zone_slot(z, 1, CAPACITY + 3)
       == (char *) z->header + z->geo.rings_off
          + (CAPACITY + 3) * (uint64_t) PS_RECORD_UNIT,
       "rewritten rings_off and capacity: ps_zone_slot() still finds "
       "ring 1's slot 3");
    ok(z->geo.ring_count == RINGS && z->geo.snap_buf_off[0] > 0
       && z->geo.snap_buf_off[0] < z->geo.file_size,
       "the ring count and snapshot buffers are the validated ones");

    munmap(h, PS_HEADER_SIZE);
    ps_zone_close(z);

    unlink(squat);
    rmdir(shared);
    unlink(link);
    unlink(zone);
}


int
main(void)
{
    if (mkdtemp(dir) == NULL) {
        bail_out("mkdtemp");
    }

    snprintf(log_path, sizeof(log_path), "%s/log", dir);

    if (ps_log_open(log_path) != 0) {
        bail_out("cannot log to %s", log_path);
    }

    test_valid();
    test_file_size();
    test_fields();
    test_open();

    ps_log_open(NULL);
    unlink(log_path);

    if (rmdir(dir) != 0) {
        diag("cannot remove %s", dir);
    }

    return done_testing();
}
