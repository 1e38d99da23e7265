/*
 * Unit tests for the archive files (lib/archive.c), their manifests
 * (lib/manifest.c), the CSV recount (lib/csv_sums.c) and UTC days
 * (lib/hour.c): a written file reads back with the same SHA-256 and
 * sums, quoted CSV fields are one field, a flipped or missing byte is
 * found, a manifest round-trips and is checked.  Prints TAP.
 */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/archive.h"
#include "lib/csv_sums.h"
#include "lib/hour.h"
#include "lib/manifest.h"
#include "tap.h"

static char  dir[] = "/tmp/ps-test-archive-XXXXXX";

/* requests 10 + 20 + 30, errors 1 + 0 + 2, bytes_in 5 x 3, bytes_out;
 * paths with a comma, a doubled quote and a newline inside quotes */
static const char  csv[] =
    "hour,path,requests,errors,bytes_in,bytes_out\n"
    "2026-11-01 00:00:00+00,\"/a,b\",10,1,5,100\n"
    "2026-11-01 01:00:00+00,\"/say \"\"hi\"\"\",20,0,5,200\n"
    "2026-11-01 02:00:00+00,\"/two\nlines\",30,2,5,300\n";


static int
feed(void *ctx, const char *p, size_t len, char *err, size_t errlen)
{
    return ps_csv_sums_feed(ctx, p, len, err, errlen);
}


static void
test_days(void)
{
    int64_t  d;
    char     buf[PS_DAY_MAX];

    is_str(ps_format_day(0, buf), "1970-01-01", "day 0 is 1970-01-01");
    ok(ps_parse_day("2026-12-04", &d) == 0, "2026-12-04 parses");
    is_str(ps_format_day(d, buf), "2026-12-04", "  and formats back");
    is_int(ps_day_of(d * PS_US_PER_DAY + PS_US_PER_DAY - 1), d,
           "the last microsecond of a day is in it");
    ok(ps_parse_day("2024-02-29", &d) == 0, "a leap day parses");
    ok(ps_parse_day("2026-02-29", &d) != 0, "2026-02-29 is refused");
    ok(ps_parse_day("2026-13-01", &d) != 0, "month 13 is refused");
    ok(ps_parse_day("2026-1-01", &d) != 0, "a short month is refused");
    ok(ps_parse_day("2026-01-01x", &d) != 0, "trailing text is refused");
}


static void
test_roundtrip(void)
{
    int                   fd;
    char                  path[256], sha[PS_SHA256_HEX], sha2[PS_SHA256_HEX];
    char                  err[512], *buf;
    uint64_t              bytes, bytes2;
    ps_csv_sums_t         c;
    ps_manifest_t         m, m2;
    ps_archive_writer_t  *w;

    snprintf(path, sizeof(path), "%s/day.csv.gz", dir);

    w = ps_archive_create(path, err, sizeof(err));
    ok(w != NULL, "a writer opens");
    /* in two pieces, split inside a quoted field */
    is_int(ps_archive_write(w, csv, 60, err, sizeof(err)), 0, "write 1");
    is_int(ps_archive_write(w, csv + 60, sizeof(csv) - 61, err,
                            sizeof(err)), 0, "write 2");
    ok(access(path, F_OK) != 0, "nothing at the final name before finish");
    is_int(ps_archive_finish(w, sha, &bytes, err, sizeof(err)), 0,
           "finish renames it into place");
    ok(access(path, F_OK) == 0, "  the file is there");
    is_int(strlen(sha), 64, "  a SHA-256 of 64 hex digits");

    ps_csv_sums_init(&c);
    is_int(ps_archive_read(path, feed, &c, sha2, &bytes2, err, sizeof(err)),
           0, "it reads back");
    is_int(ps_csv_sums_end(&c, err, sizeof(err)), 0, "  a complete CSV");
    is_str(sha2, sha, "  the same SHA-256");
    is_u64(bytes2, bytes, "  and size");
    is_int(c.rows, 3, "  3 records (newline inside quotes is not one)");
    is_u64(c.sum[0], 60, "  requests 60");
    is_u64(c.sum[1], 3, "  errors 3");
    is_u64(c.sum[2], 15, "  bytes_in 15");
    is_u64(c.sum[3], 600, "  bytes_out 600");

    memset(&m, 0, sizeof(m));
    strcpy(m.table, "pathstats_hourly");
    strcpy(m.day, "2026-11-01");
    m.part = 1;
    m.schema_version = 4;
    strcpy(m.file, "day.csv.gz");
    m.rows = 3;
    strcpy(m.requests, "60");
    strcpy(m.errors, "3");
    strcpy(m.bytes_in, "15");
    strcpy(m.bytes_out, "600");
    strcpy(m.sha256, sha);
    m.bytes = bytes;
    strcpy(m.created_at, "2026-11-02T03:30:00Z");

    is_int(ps_manifest_write(path, &m, err, sizeof(err)), 0,
           "the manifest is written");
    is_int(ps_manifest_read(path, &m2, err, sizeof(err)), 0,
           "  and read back");
    ok(memcmp(&m, &m2, sizeof(m)) == 0, "  field for field the same");
    is_int(ps_manifest_check(path, &m, err, sizeof(err)), 0,
           "the file checks against it");

    m2.rows = 4;
    is_int(ps_manifest_check(path, &m2, err, sizeof(err)), -1,
           "a manifest with another row count fails");
    ok(strstr(err, "3 rows, its manifest says 4") != NULL, "  saying so");
    m2 = m;
    strcpy(m2.requests, "61");
    is_int(ps_manifest_check(path, &m2, err, sizeof(err)), -1,
           "another requests sum fails");
    ok(strstr(err, "requests sum to 60") != NULL, "  saying so");

    /* a flipped byte in the middle of the file */
    fd = open(path, O_RDWR);
    buf = malloc(bytes);
    ok(fd >= 0 && pread(fd, buf, bytes, 0) == (ssize_t) bytes, "read raw");
    buf[bytes / 2] ^= 0x01;
    ok(pwrite(fd, buf, bytes, 0) == (ssize_t) bytes, "flip one bit");
    is_int(ps_manifest_check(path, &m, err, sizeof(err)), -1,
           "a flipped bit fails the check");
    ok(strstr(err, path) != NULL, "  naming the file");

    /* the last 4 bytes gone: truncated */
    buf[bytes / 2] ^= 0x01;
    ok(pwrite(fd, buf, bytes, 0) == (ssize_t) bytes
       && ftruncate(fd, (off_t) bytes - 4) == 0, "truncate by 4 bytes");
    is_int(ps_manifest_check(path, &m, err, sizeof(err)), -1,
           "a truncated file fails the check");
    close(fd);
    free(buf);

    /* an abandoned writer leaves nothing */
    w = ps_archive_create(path, err, sizeof(err));
    (void) ps_archive_write(w, csv, 10, err, sizeof(err));
    ps_archive_abort(w);
    snprintf(path, sizeof(path), "%s/day.csv.gz.tmp", dir);
    ok(access(path, F_OK) != 0, "abort removes the temporary file");
}


static void
test_csv_errors(void)
{
    char           err[256];
    ps_csv_sums_t  c;

    ps_csv_sums_init(&c);
    ok(ps_csv_sums_feed(&c, "requests\nabc\n", 13, err, sizeof(err)) != 0,
       "a requests field that is not a number is refused");
    ps_csv_sums_init(&c);
    (void) ps_csv_sums_feed(&c, "path,requests\n\"/open,1\n", 23, err,
                            sizeof(err));
    ok(ps_csv_sums_end(&c, err, sizeof(err)) != 0,
       "an unterminated quote is refused at the end");
    ps_csv_sums_init(&c);
    (void) ps_csv_sums_feed(&c, "path,requests\n/x,7", 18, err,
                            sizeof(err));
    ok(ps_csv_sums_end(&c, err, sizeof(err)) == 0 && c.rows == 1
       && c.sum[0] == 7, "a last record without a newline counts");
}


int
main(void)
{
    char  cmd[128];

    if (mkdtemp(dir) == NULL) {
        bail_out("mkdtemp");
    }

    test_days();
    test_roundtrip();
    test_csv_errors();

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        diag("could not remove %s", dir);
    }

    return done_testing();
}
