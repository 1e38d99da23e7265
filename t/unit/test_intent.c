/*
 * Unit tests for aggregator/pipeline/intent.c: the flush in flight is read back
 * as written, the newer of the two slots wins, a torn or corrupt newest
 * slot leaves the previous intent, another zone or ring count reads as
 * none, and the file survives a reopen.
 */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/intent.h"
#include "lib/log.h"
#include "tap.h"

#define NRINGS  3
#define ZONE    0xabcdef0123456789ULL


static char  dir[256];
static char  file[300];


static void
fill(uint64_t *start, uint64_t *end, uint64_t base)
{
    int  r;

    for (r = 0; r < NRINGS; r++) {
        start[r] = base + (uint64_t) r * 1000;
        end[r] = start[r] + 17 + (uint64_t) r;
    }
}


static int
same(const uint64_t *a, const uint64_t *b)
{
    return memcmp(a, b, NRINGS * sizeof(uint64_t)) == 0;
}


/* Flips a byte of slot i (4 KB slots for NRINGS rings). */
static void
corrupt_slot(int i)
{
    int      fd;
    uint8_t  c;
    off_t    at = (off_t) i * 4096 + 40;

    fd = open(file, O_RDWR);
    if (fd < 0 || pread(fd, &c, 1, at) != 1) {
        bail_out("cannot read %s", file);
    }
    c ^= 0x5a;
    if (pwrite(fd, &c, 1, at) != 1) {
        bail_out("cannot write %s", file);
    }
    close(fd);
}


int
main(void)
{
    uint64_t      s1[NRINGS], e1[NRINGS], s2[NRINGS], e2[NRINGS];
    uint64_t      s[NRINGS], e[NRINGS];
    struct stat   sb;
    ps_intent_t  *in;

    ps_log_set_level((ps_log_level_t) (PS_LOG_ERROR + 1));

    snprintf(dir, sizeof(dir), "/tmp/ps-test-intent-%d", (int) getpid());
    snprintf(file, sizeof(file), "%s/inflight", dir);
    if (mkdir(dir, 0700) != 0) {
        bail_out("mkdir %s", dir);
    }

    ok(ps_intent_open("/nonexistent/dir", NRINGS) == NULL,
       "a missing directory fails to open");

    in = ps_intent_open(dir, NRINGS);
    ok(in != NULL, "opened");
    ok(stat(file, &sb) == 0 && sb.st_size == 2 * 4096
       && (sb.st_mode & 0777) == 0600,
       "inflight preallocated: two 4 KB slots, mode 0600");
    is_int(ps_intent_read(in, ZONE, s, e), 1, "a new file holds none");

    fill(s1, e1, 100);
    is_int(ps_intent_write(in, ZONE, s1, e1), 0, "written");
    is_int(ps_intent_read(in, ZONE, s, e), 0, "read back");
    ok(same(s, s1) && same(e, e1), "  start and end positions");
    is_int(ps_intent_read(in, ZONE + 1, s, e), 1, "another zone: none");

    fill(s2, e2, 200);
    is_int(ps_intent_write(in, ZONE, s2, e2), 0, "a second one");
    is_int(ps_intent_read(in, ZONE, s, e), 0, "read back");
    ok(same(s, s2) && same(e, e2), "  the newer wins");
    ps_intent_close(in);

    in = ps_intent_open(dir, NRINGS);
    ok(in != NULL && ps_intent_read(in, ZONE, s, e) == 0
       && same(s, s2) && same(e, e2), "kept across a reopen");

    fill(s1, e1, 300);
    is_int(ps_intent_write(in, ZONE, s1, e1), 0, "a third one, in slot 0");
    corrupt_slot(0);
    ok(ps_intent_read(in, ZONE, s, e) == 0 && same(s, s2) && same(e, e2),
       "the newest slot torn: the previous intent stands");
    corrupt_slot(1);
    is_int(ps_intent_read(in, ZONE, s, e), 1, "both torn: none");
    is_int(ps_intent_write(in, ZONE, s1, e1), 0, "written over them");
    ok(ps_intent_read(in, ZONE, s, e) == 0 && same(s, s1) && same(e, e1),
       "  read back");
    ps_intent_close(in);

    in = ps_intent_open(dir, NRINGS + 1);
    ok(in != NULL, "reopened for another ring count");
    is_int(ps_intent_read(in, ZONE, s, e), 1, "  reads none");
    ps_intent_close(in);
    ps_intent_close(NULL);

    unlink(file);
    rmdir(dir);

    return done_testing();
}
