/*
 * Unit tests for aggregator/ring/ring_reader.c, zone.c, proc.c and stats.c
 * against a zone file built here with ps_zone_layout(), this test acting
 * as the producer (the worker's protocol: seen++, drop when the record
 * does not fit, else write it at tail, after a skip marker when it would
 * run over the ring's end, count it in records and publish tail with a
 * release store).  Dead owners are
 * real processes: a child that exited (gone), one not yet waited for
 * (zombie), one stopped with SIGSTOP (alive).  Prints TAP.
 */

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "ring/proc.h"
#include "ring/ring_reader.h"
#include "ring/stats.h"
#include "tap.h"
#include "ring/zone.h"

#define RINGS     4
#define CAPACITY  128           /* units */
#define U         2             /* units of a record with a short key */

static char  dir[] = "/tmp/ps-test-ring-XXXXXX";
static char  zone_path[256], log_path[256];

typedef struct {
    uint32_t  ring;
    uint64_t  pos;
    char      key[64];
} seen_rec_t;

typedef struct {
    size_t      n;
    seen_rec_t  recs[1024];
} collect_t;


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

    return text;
}


static void
clear_log(void)
{
    if (truncate(log_path, 0) != 0) {
        bail_out("truncate %s", log_path);
    }
}


static int
log_has(const char *s)
{
    if (strstr(read_log(), s)) {
        return 1;
    }

    diag("log lacks '%s': %s", s, read_log());
    return 0;
}


/* Creates a zone file at path as nginx would; returns the producer's
 * mapping. */
static ps_zone_header_t *
make_zone(const char *path, uint32_t rings, uint32_t capacity, mode_t mode)
{
    int                fd;
    void              *base;
    uint64_t           size;
    ps_zone_header_t   want, *h;

    memset(&want, 0, sizeof(want));
    size = ps_zone_layout(&want, rings, capacity, 16384);
    want.zone_id = 0x0123456789abcdefULL;
    want.created_us = ps_now_us();
    want.master_pid = 1;
    want.attach_count = 1;

    unlink(path);
    fd = open(path, O_RDWR|O_CREAT|O_EXCL, mode);
    if (fd == -1 || fchmod(fd, mode) != 0
        || posix_fallocate(fd, 0, (off_t) size) != 0)
    {
        bail_out("cannot create %s", path);
    }

    base = mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED) {
        bail_out("mmap %s", path);
    }

    h = base;
    memcpy(h, &want, sizeof(want));
    ps_store_release(&h->magic, PS_ZONE_MAGIC);

    return h;
}


/* The geometry of a zone this test made, as a worker keeps it. */
static const ps_zone_geometry_t *
geo_of(const ps_zone_header_t *h)
{
    static ps_zone_geometry_t  geo;

    if (ps_zone_validate(h, h->file_size, h->file_size, &geo) != NULL) {
        bail_out("test zone header invalid");
    }

    return &geo;
}


/* Descriptor of ring i, as a worker finds it. */
static ps_ring_desc_t *
desc_of(ps_zone_header_t *h, uint32_t i)
{
    return ps_zone_ring_desc(h, geo_of(h), i);
}


/* The worker's side of the protocol; 1 if recorded, 0 if dropped. */
static int
produce(ps_zone_header_t *h, uint32_t ring, const char *key)
{
    uint64_t         tail, off, room, units, need;
    ps_record_t     *rec;
    ps_ring_desc_t  *d;
    uint64_t         buf[PS_RECORD_MAX_UNITS * PS_RECORD_UNIT / 8];

    d = desc_of(h, ring);
    ps_store_relaxed(&d->seen, ps_load_relaxed(&d->seen) + 1);

    rec = (ps_record_t *) buf;
    memset(buf, 0, sizeof(buf));
    rec->time_us = ps_now_us();
    rec->status = 200;
    rec->key_len = (uint16_t) strlen(key);
    memcpy((char *) ps_record_key(rec), key, rec->key_len);
    units = ps_record_units(rec);

    tail = ps_load_relaxed(&d->tail);
    off = tail & (CAPACITY - 1);
    room = CAPACITY - off;
    need = room >= units ? units : room + units;

    if (CAPACITY - (tail - ps_load_acquire(&d->head)) < need) {
        ps_store_relaxed(&d->dropped, ps_load_relaxed(&d->dropped) + 1);
        return 0;
    }

    if (room < units) {
        ps_record_t  *skip = ps_zone_ring_slot(h, geo_of(h), ring, tail);

        memset(skip, 0, 8);
        skip->flags = PS_REC_SKIP;
        tail += room;
    }

    memcpy(ps_zone_ring_slot(h, geo_of(h), ring, tail), buf,
           units * PS_RECORD_UNIT);

    ps_store_relaxed(&d->records, ps_load_relaxed(&d->records) + 1);
    ps_store_release(&d->tail, tail + units);

    return 1;
}


static void
produce_n(ps_zone_header_t *h, uint32_t ring, int n, const char *tag)
{
    int   i;
    char  key[64];

    for (i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "/%s/%d", tag, i);
        produce(h, ring, key);
    }
}


static void
collect(void *ctx, uint32_t ring, uint64_t pos, const ps_record_t *rec)
{
    collect_t   *c = ctx;
    seen_rec_t  *s;

    if (c->n == sizeof(c->recs) / sizeof(c->recs[0])) {
        return;
    }

    s = &c->recs[c->n++];
    s->ring = ring;
    s->pos = pos;
    snprintf(s->key, sizeof(s->key), "%.*s", (int) rec->key_len,
             ps_record_key(rec));
}


static uint32_t
self_start(void)
{
    uint32_t  st;

    if (ps_proc_self_start(&st) != 0) {
        bail_out("cannot read this process's start time");
    }

    return st;
}


static void
test_proc_parse(void)
{
    char         state;
    uint64_t     st;
    const char  *line;

    line = "1234 (nginx: worker) S 1 1234 1234 0 -1 4194624 100 0 0 0 1 2 "
           "0 0 20 0 1 0 987654321 123456 100 18446744073709551615\n";
    ok(ps_proc_parse_stat(line, strlen(line), &state, &st) == 0
       && state == 'S' && st == 987654321ULL,
       "a worker's stat: state S, starttime field 22");

    line = "77 (a) Z 9 9 9 ) R 1 77 77 0 -1 4194624 0 0 0 0 0 0 0 0 20 0 1 "
           "0 4242 0 0\n";
    ok(ps_proc_parse_stat(line, strlen(line), &state, &st) == 0
       && state == 'R' && st == 4242,
       "comm with spaces and ')' is skipped up to the last ')'");

    line = "77 (x) R 1 2 3";
    ok(ps_proc_parse_stat(line, strlen(line), &state, &st) == -1,
       "too few fields: malformed");
    line = "77 x R 1 2 3";
    ok(ps_proc_parse_stat(line, strlen(line), &state, &st) == -1,
       "no ')': malformed");
    line = "77 (x)";
    ok(ps_proc_parse_stat(line, strlen(line), &state, &st) == -1,
       "nothing after comm: malformed");

    ok(ps_proc_stat(getpid(), &state, &st) == 1
       && (uint32_t) st == self_start() && state != 'Z',
       "this process: found, running, start time matches");
    is_int(ps_proc_stat(0, &state, &st), 0, "pid 0: no such process");
}


/* a child that has exited and been waited for: its pid is gone */
static pid_t
gone_pid(void)
{
    pid_t  pid;

    pid = fork();
    if (pid == 0) {
        _exit(0);
    }
    waitpid(pid, NULL, 0);

    return pid;
}


/* a child that has exited but was not waited for; *start is its start
 * time */
static pid_t
zombie_child(uint32_t *start)
{
    char      state;
    pid_t     pid;
    uint64_t  st;

    pid = fork();
    if (pid == 0) {
        _exit(0);
    }

    while (ps_proc_stat(pid, &state, &st) == 1 && state != 'Z') {
        ps_sleep_ms(1);
    }

    *start = (uint32_t) st;

    return pid;
}


/* a child stopped with SIGSTOP (state T) */
static pid_t
stopped_child(uint32_t *start)
{
    char      state;
    pid_t     pid;
    uint64_t  st;

    pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }

    kill(pid, SIGSTOP);

    while (ps_proc_stat(pid, &state, &st) == 1 && state != 'T') {
        ps_sleep_ms(1);
    }

    *start = (uint32_t) st;

    return pid;
}


static void
test_liveness(void)
{
    char      state;
    pid_t     zombie, stopped;
    uint32_t  start;
    uint64_t  st;

    ok(!ps_proc_owner_dead(ps_owner_make(getpid(), self_start())),
       "this process is alive");
    ok(ps_proc_owner_dead(ps_owner_make(getpid(), self_start() + 1)),
       "same pid with another start time: dead (pid reused)");
    ok(!ps_proc_owner_dead(ps_owner_make(getpid(), 0)),
       "an owner stamped without start time is not proven dead");
    ok(ps_proc_owner_dead(ps_owner_make(gone_pid(), 1)), "exited pid: dead");

    zombie = zombie_child(&start);
    ok(ps_proc_stat(zombie, &state, &st) == 1 && state == 'Z',
       "the exited child is a zombie");
    ok(ps_proc_owner_dead(ps_owner_make(zombie, start)), "zombie: dead");
    waitpid(zombie, NULL, 0);

    stopped = stopped_child(&start);
    ok(ps_proc_stat(stopped, &state, &st) == 1 && state == 'T',
       "the stopped child is in state T");
    ok(!ps_proc_owner_dead(ps_owner_make(stopped, start)),
       "SIGSTOPped: alive");
    kill(stopped, SIGKILL);
    waitpid(stopped, NULL, 0);
}


static void
test_open_errors(void)
{
    int                fd;
    char               path[300];
    ps_zone_t         *z;
    ps_zone_header_t  *h;
    uint64_t           size;

    snprintf(path, sizeof(path), "%s/missing", dir);
    clear_log();
    ok(ps_zone_open(path, 0) == NULL, "missing file refused");
    ok(log_has("does not exist (is nginx running with pathstats_zone"),
       "  with a hint about pathstats_zone");

    snprintf(path, sizeof(path), "%s/short", dir);
    fd = open(path, O_RDWR|O_CREAT, 0600);
    if (write(fd, "PATHSTAT", 8) != 8) {
        bail_out("write");
    }
    close(fd);
    clear_log();
    ok(ps_zone_open(path, 0) == NULL, "short file refused");
    ok(log_has("file is shorter than the zone header"), "  reason named");

    snprintf(path, sizeof(path), "%s/magic", dir);
    h = make_zone(path, 2, CAPACITY, 0600);
    size = h->file_size;
    h->magic = 42;
    clear_log();
    ok(ps_zone_open(path, 0) == NULL, "bad magic refused");
    ok(log_has("bad magic: not a pathstats zone file"), "  reason named");
    h->magic = PS_ZONE_MAGIC;
    h->layout_version = 99;
    clear_log();
    ok(ps_zone_open(path, 0) == NULL, "other layout version refused");
    ok(log_has("layout version differs"), "  reason named");
    h->layout_version = 1;
    clear_log();
    ok(ps_zone_open(path, 0) == NULL, "a zone of layout 1 (512-byte "
       "records) refused");
    ok(log_has("the file has layout 1 (512-byte records")
       && log_has("of one version"), "  saying why and what to do");
    h->layout_version = PS_LAYOUT_VERSION;
    munmap(h, size);

    if (truncate(path, (off_t) size + 4096) != 0) {
        bail_out("truncate");
    }
    clear_log();
    ok(ps_zone_open(path, 0) == NULL, "file size differing from header");
    ok(log_has("file size differs from the size in its header"),
       "  reason named");

    snprintf(path, sizeof(path), "%s/ww", dir);
    h = make_zone(path, 2, CAPACITY, 0666);
    munmap(h, h->file_size);
    clear_log();
    ok(ps_zone_open(path, 0) == NULL, "world-writable file refused");
    ok(log_has("world-writable"), "  reason named");
    chmod(path, 0640);
    z = ps_zone_open(path, 0);
    ok(z != NULL, "the same file once mode 0640 opens");
    ps_zone_close(z);

    clear_log();
    ok(ps_zone_open(dir, 0) == NULL, "a directory is refused");
    ok(log_has("not a regular file"), "  reason named");
}


static void
test_lock(ps_zone_t *zone)
{
    int         status;
    pid_t       pid;
    ps_zone_t  *other;
    char        want[64];

    is_int(ps_zone_lock_consumer(zone), 0, "consumer lock taken");

    clear_log();
    pid = fork();
    if (pid == 0) {
        other = ps_zone_open(zone_path, 1);
        status = other && ps_zone_lock_consumer(other) == -1 ? 7 : 0;
        ps_zone_close(other);   /* valgrind checks the child for leaks too */
        _exit(status);
    }
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 7,
       "a second consumer process cannot take it");
    snprintf(want, sizeof(want), "holder_pid=%d", (int) getpid());
    ok(log_has("event=zone_busy") && log_has(want),
       "  and is told who holds it");
}


static void
test_poll(ps_zone_header_t *h, ps_zone_t *zone)
{
    size_t             i, n;
    collect_t          c;
    ps_ring_desc_t    *d0;
    ps_ring_reader_t  *rr;

    rr = ps_ring_reader_create(zone);
    ok(rr != NULL, "reader created");

    memset(&c, 0, sizeof(c));
    is_int(ps_ring_reader_poll(rr, 100, collect, &c), 0, "empty rings: 0");

    produce_n(h, 0, 5, "a");
    produce_n(h, 2, 3, "c");

    is_int(ps_ring_reader_poll(rr, 100, collect, &c), 8, "8 records");
    ok(c.recs[0].ring == 0 && c.recs[0].pos == 0
       && strcmp(c.recs[0].key, "/a/0") == 0
       && c.recs[4].ring == 0 && c.recs[4].pos == 4 * U
       && strcmp(c.recs[4].key, "/a/4") == 0
       && c.recs[5].ring == 2 && c.recs[5].pos == 0
       && strcmp(c.recs[7].key, "/c/2") == 0,
       "in ring order, each ring in position order (units), with their "
       "keys");
    is_int(ps_ring_reader_poll(rr, 100, collect, &c), 0,
           "nothing is handed out twice");
    is_u64(ps_ring_reader_position(rr, 0), 5 * U, "ring 0 position 5 "
           "records on");

    d0 = desc_of(h, 0);
    is_u64(d0->head, 0, "head stays until released");
    is_u64(d0->records, 5, "records counts the 5 records");
    ps_ring_reader_release(rr, 0, 3 * U);
    is_u64(d0->head, 3 * U, "partial release moves head to the 4th record");
    is_u64(d0->consumed, 3, "  consumed: 3 (walked: no poll stopped there)");
    ps_ring_reader_release(rr, 0, 2 * U);
    is_u64(d0->head, 3 * U, "release never moves head back");
    ps_ring_reader_release(rr, 0, 99);
    is_u64(d0->head, 5 * U, "release stops at the read position");
    is_u64(d0->consumed, 5, "  consumed: 5");
    ps_ring_reader_release_all(rr);
    is_u64(desc_of(h, 2)->head, 3 * U, "release_all: ring 2 head after its "
           "3 records");
    is_u64(desc_of(h, 2)->consumed, 3, "  consumed 3");

    /* max cuts a poll short; the next one resumes, then moves on */
    produce_n(h, 0, 6, "b");
    produce_n(h, 1, 6, "d");
    memset(&c, 0, sizeof(c));
    is_int(ps_ring_reader_poll(rr, 4, collect, &c), 4, "max 4: 4 records");
    is_int(ps_ring_reader_poll(rr, 4, collect, &c), 4, "then 4 more");
    is_int(ps_ring_reader_poll(rr, 4, collect, &c), 4, "then the last 4");
    ok(c.recs[3].ring == 0 && c.recs[4].ring == 0 && c.recs[5].ring == 0
       && c.recs[6].ring == 1 && c.recs[11].ring == 1
       && strcmp(c.recs[5].key, "/b/5") == 0
       && strcmp(c.recs[11].key, "/d/5") == 0,
       "a cut poll resumes in the same ring, then the next");

    memset(&c, 0, sizeof(c));
    produce_n(h, 0, 2, "e");
    produce_n(h, 3, 2, "f");
    is_int(ps_ring_reader_poll(rr, 2, collect, &c), 2, "max 2");
    ok(c.recs[0].ring == 3,
       "a poll starts after the ring where the last one stopped");
    is_int(ps_ring_reader_poll(rr, 100, collect, &c), 2, "the rest");
    ok(c.recs[2].ring == 0, "ring 0 follows");
    ps_ring_reader_release_all(rr);

    /* a full ring drops, and held records hold the slots */
    produce_n(h, 3, CAPACITY / U + 1, "full");
    is_u64(desc_of(h, 3)->dropped, 1,
           "65 records of 2 units into an empty ring of 128: 1 dropped");
    memset(&c, 0, sizeof(c));
    n = ps_ring_reader_poll(rr, 100, collect, &c);
    is_int(n, CAPACITY / U, "64 are read");
    ok(!produce(h, 3, "/held"), "read but unreleased units are not reused");
    ps_ring_reader_release_all(rr);
    ok(produce(h, 3, "/after"), "after release the ring takes records again");
    memset(&c, 0, sizeof(c));
    is_int(ps_ring_reader_poll(rr, 100, collect, &c), 1, "and hands it out");
    is_str(c.recs[0].key, "/after", "intact");
    ps_ring_reader_release_all(rr);

    /* ring 1 holds 6 records (12 units) read and released: 30 more */
    for (i = 0; i < 3; i++) {
        produce_n(h, 1, 10, "skip");
    }
    ps_ring_reader_skip_to(rr, 1, 12 + 14 * U);
    is_u64(ps_ring_reader_position(rr, 1), 12 + 14 * U,
           "skip_to moves position");
    is_u64(desc_of(h, 1)->head, 12 + 14 * U, "and releases what it skips");
    is_u64(desc_of(h, 1)->consumed, 6 + 14, "  counting the 14 records it "
           "skips as consumed");
    ps_ring_reader_skip_to(rr, 1, 10);
    is_u64(ps_ring_reader_position(rr, 1), 12 + 14 * U,
           "skip_to never goes back");
    ps_ring_reader_skip_to(rr, 1, 1000);
    is_u64(ps_ring_reader_position(rr, 1), desc_of(h, 1)->tail,
           "skip_to stops at tail");
    is_u64(desc_of(h, 1)->consumed, 36, "  consumed: all 36");
    ps_ring_reader_skip_to(rr, 1, 0);

    /* a restarted consumer starts at head */
    produce_n(h, 2, 4, "restart");
    memset(&c, 0, sizeof(c));
    ps_ring_reader_poll(rr, 2, collect, &c);
    ps_ring_reader_release_all(rr);
    ps_ring_reader_destroy(rr);
    rr = ps_ring_reader_create(zone);
    memset(&c, 0, sizeof(c));
    is_int(ps_ring_reader_poll(rr, 100, collect, &c), 2,
           "a new reader resumes at head: the 2 unreleased records");
    is_str(c.recs[0].key, "/restart/2", "starting with the first of them");
    ps_ring_reader_release_all(rr);
    ps_ring_reader_destroy(rr);
}


static void
test_reap(ps_zone_header_t *h, ps_zone_t *zone)
{
    pid_t              dead, child;
    uint32_t           start;
    uint64_t           seen_before;
    collect_t          c;
    ps_ring_desc_t    *d1, *d2, *d3;
    ps_ring_reader_t  *rr;

    rr = ps_ring_reader_create(zone);
    d1 = desc_of(h, 1);
    d2 = desc_of(h, 2);
    d3 = desc_of(h, 3);

    desc_of(h, 0)->owner = ps_owner_make(getpid(), self_start());
    dead = gone_pid();
    d1->owner = ps_owner_make(dead, 12345);
    d1->claims = 1;

    /* the dead worker published 3 records and died inside a 4th */
    produce_n(h, 1, 3, "dying");
    d1->seen++;
    seen_before = d1->seen;

    clear_log();
    is_int(ps_ring_reader_reap(rr), 0,
           "a dead owner's ring with unread records is kept");
    memset(&c, 0, sizeof(c));
    is_int(ps_ring_reader_poll(rr, 100, collect, &c), 3,
           "its records are read");
    is_int(ps_ring_reader_reap(rr), 0, "read but not released: kept");
    ps_ring_reader_release_all(rr);
    is_int(ps_ring_reader_reap(rr), 1, "released: freed");
    is_u64(d1->owner, PS_OWNER_FREE, "owner is free");
    is_u64(d1->lost, 1, "the record it was writing is lost");
    ok(d1->released_at_us > 0, "released_at_us set");
    is_u64(d1->seen, seen_before, "seen untouched");
    is_u64(d1->seen, d1->records + d1->dropped + d1->lost,
           "seen = records + dropped + lost");
    {
        char  want[64];

        snprintf(want, sizeof(want), "event=ring_reaped ring=1 pid=%d lost=1",
                 (int) dead);
        ok(log_has(want), "the reap is logged with ring, pid and lost");
    }
    ok(desc_of(h, 0)->owner != PS_OWNER_FREE,
       "a live owner's ring is never freed");

    /* a zombie owner; lost already accounted by an adopter stays */
    child = zombie_child(&start);
    d2->owner = ps_owner_make(child, start);
    d2->lost = 5;
    is_int(ps_ring_reader_reap(rr), 1, "a zombie owner's empty ring: freed");
    is_u64(d2->lost, 5, "lost is never lowered");
    d2->lost = 0;
    waitpid(child, NULL, 0);

    /* a stopped owner: alive, kept */
    child = stopped_child(&start);
    d3->owner = ps_owner_make(child, start);
    is_int(ps_ring_reader_reap(rr), 0, "a SIGSTOPped owner's ring is kept");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    is_int(ps_ring_reader_reap(rr), 1, "once it is killed: freed");

    /* a worker that adopted the ring meanwhile: never freed */
    d3->owner = ps_owner_make(getpid(), self_start());
    is_int(ps_ring_reader_reap(rr), 0,
           "a ring adopted by a live worker: kept");
    d3->owner = PS_OWNER_FREE;

    ps_ring_reader_destroy(rr);
}


static void
test_stats(ps_zone_header_t *h, ps_zone_t *zone)
{
    int              good;
    char            *text;
    json_t          *s, *t, *r0;
    uint32_t         i;
    uint64_t         seen, recorded, dropped, consumed, in_ring, lost;
    ps_ring_stats_t  rs;

    produce_n(h, 0, 3, "left");
    h->no_ring = 7;
    h->aggregator_pid = 4242;
    h->aggregator_heartbeat_us = ps_now_us() - 2000000;

    good = 1;
    seen = recorded = dropped = consumed = in_ring = lost = 0;

    for (i = 0; i < RINGS; i++) {
        ps_stats_ring(zone, i, &rs);
        good &= rs.seen == rs.recorded + rs.dropped
                && rs.recorded == rs.consumed + rs.in_ring + rs.lost;
        seen += rs.seen;
        recorded += rs.recorded;
        dropped += rs.dropped;
        consumed += rs.consumed;
        in_ring += rs.in_ring;
        lost += rs.lost;
    }
    ok(good, "every ring: seen = recorded + dropped, recorded = consumed + "
       "in_ring + lost");

    s = ps_stats_json(zone, ps_now_us());
    ok(s != NULL, "stats JSON built");
    text = json_dumps(s, JSON_COMPACT);
    diag("%s", text);
    free(text);

    t = json_object_get(s, "totals");
    is_u64((uint64_t) json_integer_value(json_object_get(t, "seen")), seen,
           "totals.seen");
    is_u64((uint64_t) json_integer_value(json_object_get(t, "recorded")),
           recorded, "totals.recorded");
    is_u64((uint64_t) json_integer_value(json_object_get(t, "dropped")),
           dropped, "totals.dropped");
    is_u64((uint64_t) json_integer_value(json_object_get(t, "consumed")),
           consumed, "totals.consumed");
    is_u64((uint64_t) json_integer_value(json_object_get(t, "in_ring")), 3,
           "totals.in_ring: the 3 unread records");
    is_u64((uint64_t) json_integer_value(json_object_get(t, "lost")), lost,
           "totals.lost");
    is_int(json_integer_value(json_object_get(t, "no_ring")), 7,
           "totals.no_ring");
    is_str(json_string_value(json_object_get(s, "zone")), zone_path, "zone");
    is_str(json_string_value(json_object_get(s, "zone_id")),
           "0123456789abcdef", "zone_id as 16 hex digits");
    is_int(json_integer_value(json_object_get(s, "layout_version")), 3,
           "layout_version");
    is_int(json_integer_value(json_object_get(s, "ring_count")), RINGS,
           "ring_count");
    is_int(json_integer_value(json_object_get(s, "ring_capacity")), CAPACITY,
           "ring_capacity");
    is_int((long long) json_array_size(json_object_get(s, "rings")), RINGS,
           "one entry per ring");

    r0 = json_array_get(json_object_get(s, "rings"), 0);
    is_int(json_integer_value(json_object_get(r0, "ring")), 0, "ring 0");
    is_int(json_integer_value(json_object_get(r0, "owner_pid")), getpid(),
           "ring 0 owner_pid is this process");
    ok(json_is_true(json_object_get(r0, "owner_alive")), "and alive");
    r0 = json_array_get(json_object_get(s, "rings"), 1);
    ok(json_integer_value(json_object_get(r0, "owner_pid")) == 0
       && json_is_false(json_object_get(r0, "owner_alive")),
       "a free ring: owner_pid 0, not alive");
    is_int(json_integer_value(json_object_get(r0, "claims")), 1, "claims");

    t = json_object_get(s, "aggregator");
    is_int(json_integer_value(json_object_get(t, "pid")), 4242,
           "aggregator pid");
    ok(json_real_value(json_object_get(t, "heartbeat_age_seconds")) >= 2.0
       && json_real_value(json_object_get(t, "heartbeat_age_seconds")) < 60,
       "heartbeat age about 2 s");
    json_decref(s);

    h->aggregator_heartbeat_us = 0;
    s = ps_stats_json(zone, ps_now_us());
    ok(json_is_null(json_object_get(json_object_get(s, "aggregator"),
                                    "heartbeat_age_seconds")),
       "no heartbeat yet: null");
    json_decref(s);
}

/* the key of the i-th record of test_dense: 1 to 300 bytes */
static size_t
dense_key(char *buf, unsigned i)
{
    size_t  n, k;

    n = 1 + (i * 37) % 300;
    buf[0] = '/';
    for (k = 1; k < n; k++) {
        buf[k] = (char) ('a' + (i + k) % 26);
    }
    buf[n] = '\0';

    return n;
}


typedef struct {
    unsigned  next;             /* the record expected next */
    unsigned  bad;              /* records that differ */
    uint64_t  last_pos;
} dense_t;


static void
dense_check(void *ctx, uint32_t ring, uint64_t pos, const ps_record_t *rec)
{
    char      want[400];
    size_t    n;
    dense_t  *d = ctx;

    (void) ring;

    n = dense_key(want, d->next);

    if (rec->key_len != n || memcmp(ps_record_key(rec), want, n) != 0
        || (rec->flags & PS_REC_SKIP) || rec->status != 200
        || (d->next > 0 && pos <= d->last_pos))
    {
        d->bad++;
    }

    d->next++;
    d->last_pos = pos;
}


/*
 * Records of every size from 2 to 11 units through a ring many times
 * over: each one whole, in order, the skip markers at the ring's end never
 * handed out, consumed counting records; then records that do not fit
 * (a hostile or broken writer) skipped to the tail, logged.
 */
static void
test_dense(const char *path)
{
    char               key[400];
    unsigned           produced, skips, i;
    uint64_t           tail, before;
    dense_t            d;
    collect_t          c;
    ps_zone_t         *z;
    ps_record_t       *rec;
    ps_ring_desc_t    *d0, *d1;
    ps_zone_header_t  *h;
    ps_ring_reader_t  *rr;

    h = make_zone(path, 2, CAPACITY, 0600);
    z = ps_zone_open(path, 1);
    rr = z ? ps_ring_reader_create(z) : NULL;
    if (rr == NULL) {
        bail_out("cannot open %s", path);
    }

    d0 = desc_of(h, 0);
    d1 = desc_of(h, 1);

    memset(&d, 0, sizeof(d));
    produced = skips = 0;

    while (produced < 500) {
        dense_key(key, produced);
        before = ps_load_relaxed(&d0->tail);

        if (produce(h, 0, key)) {
            /* a skip marker: the tail moved by more than the record */
            rec = ps_zone_ring_slot(h, geo_of(h), 0, before);
            skips += (rec->flags & PS_REC_SKIP) != 0;
            produced++;
            continue;
        }

        ps_ring_reader_poll(rr, 1000, dense_check, &d);
        ps_ring_reader_release_all(rr);
    }

    ps_ring_reader_poll(rr, 1000, dense_check, &d);
    ps_ring_reader_release_all(rr);

    ok(d0->tail > 20 * CAPACITY, "500 records of 2 to 11 units went round "
       "the ring many times");
    ok(skips > 0, "some of them after a skip marker at the ring's end");
    is_int(d.next, 500, "all 500 handed out (no skip marker among them)");
    is_int(d.bad, 0, "each one whole and in order");
    is_u64(d0->consumed, 500, "consumed counts 500 records");
    is_u64(d0->records, 500, "records too");
    is_u64(d0->seen, d0->records + d0->dropped,
           "seen = records + dropped (a full ring's drops, retried)");

    /* ring 1: two good records, a corrupt one, a good one */
    produce_n(h, 1, 2, "ok");
    tail = ps_load_relaxed(&d1->tail);
    rec = ps_zone_ring_slot(h, geo_of(h), 1, tail);
    memset(rec, 0, sizeof(*rec));
    rec->key_len = 9999;
    ps_store_relaxed(&d1->records, ps_load_relaxed(&d1->records) + 1);
    ps_store_release(&d1->tail, tail + 2);
    produce(h, 1, "/after-corrupt");

    clear_log();
    memset(&c, 0, sizeof(c));
    is_int(ps_ring_reader_poll(rr, 100, collect, &c), 2,
           "a key longer than the maximum: the records before it are read");
    ok(log_has("event=ring_record_corrupt ring=1"), "  the corrupt record "
       "logged");
    is_u64(ps_ring_reader_position(rr, 1), ps_load_relaxed(&d1->tail),
           "  and the ring read up to its tail");
    ps_ring_reader_release_all(rr);

    /* a record whose size runs past the tail */
    tail = ps_load_relaxed(&d1->tail);
    rec = ps_zone_ring_slot(h, geo_of(h), 1, tail);
    memset(rec, 0, sizeof(*rec));
    rec->key_len = 100;
    ps_store_release(&d1->tail, tail + 2);
    produce(h, 1, "/next");
    clear_log();
    memset(&c, 0, sizeof(c));
    is_int(ps_ring_reader_poll(rr, 100, collect, &c), 0,
           "a record longer than what was published: nothing handed out");
    ok(log_has("event=ring_record_corrupt ring=1"), "  logged");
    ps_ring_reader_release_all(rr);

    /* a record that runs over the ring's end with no skip marker */
    tail = ps_load_relaxed(&d1->tail);
    for (i = 0; (tail + i) % CAPACITY != CAPACITY - 2; i++) {
        /* void */
    }
    ps_store_release(&d1->tail, tail + i);      /* junk units, skipped */
    ps_ring_reader_skip_to(rr, 1, tail + i);
    tail += i;
    rec = ps_zone_ring_slot(h, geo_of(h), 1, tail);
    memset(rec, 0, sizeof(*rec));
    rec->key_len = 100;                         /* 5 units, 2 left */
    ps_store_release(&d1->tail, tail + 5);
    produce(h, 1, "/wrapped");
    clear_log();
    memset(&c, 0, sizeof(c));
    is_int(ps_ring_reader_poll(rr, 100, collect, &c), 0,
           "a record over the ring's end: refused");
    ok(log_has("event=ring_record_corrupt ring=1"), "  logged");
    ps_ring_reader_release_all(rr);

    ok(produce(h, 1, "/fine") && ps_ring_reader_poll(rr, 100, collect, &c)
       == 1 && strcmp(c.recs[0].key, "/fine") == 0,
       "the ring reads on after them");
    ps_ring_reader_release_all(rr);

    ps_ring_reader_destroy(rr);
    ps_zone_close(z);
    munmap(h, h->file_size);
}


static void
cleanup(void)
{
    char                 path[300];
    size_t               i;
    static const char  *files[] = { "zone", "log", "short", "magic", "ww",
                                    "dense" };

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }

    if (rmdir(dir) != 0) {
        diag("cannot remove %s", dir);
    }
}


int
main(void)
{
    ps_zone_t         *zone, *ro;
    ps_zone_header_t  *h;

    if (mkdtemp(dir) == NULL) {
        bail_out("mkdtemp");
    }
    snprintf(zone_path, sizeof(zone_path), "%s/zone", dir);
    snprintf(log_path, sizeof(log_path), "%s/log", dir);

    if (ps_log_open(log_path) != 0) {
        bail_out("cannot log to %s", log_path);
    }

    test_proc_parse();
    test_liveness();
    test_open_errors();

    h = make_zone(zone_path, RINGS, CAPACITY, 0660);

    ro = ps_zone_open(zone_path, 0);
    ok(ro != NULL && !ro->writable, "zone opens read-only");
    zone = ps_zone_open(zone_path, 1);
    ok(zone != NULL && zone->writable
       && zone->header->ring_count == RINGS, "zone opens read-write");
    if (zone == NULL || ro == NULL) {
        bail_out("cannot open the zone: %s", read_log());
    }

    test_lock(zone);
    test_poll(h, zone);
    test_reap(h, zone);
    test_stats(h, ro);

    {
        char  path[300];

        snprintf(path, sizeof(path), "%s/dense", dir);
        test_dense(path);
    }

    ps_zone_close(zone);
    ps_zone_close(ro);
    ps_log_open(NULL);

    cleanup();

    return done_testing();
}
