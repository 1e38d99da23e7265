/*
 * Process liveness from /proc: see proc.h.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "pathstats_shm.h"
#include "ring/proc.h"

#define PS_STARTTIME_FIELD  22


int
ps_proc_parse_stat(const char *text, size_t len, char *state,
    uint64_t *starttime)
{
    const char  *p, *last;
    unsigned     field;
    uint64_t     v;

    last = text + len;

    /* field 2 is "(comm)", and comm may hold anything: the last ')' ends
     * it, since no later field can contain one */

    for (p = last; p > text && p[-1] != ')'; p--) { /* void */ }

    if (p == text || last - p < 3 || p[0] != ' ') {
        return -1;
    }

    /* p[0] is the space before field 3 */

    *state = p[1];
    field = 2;

    for ( /* void */ ; p < last; p++) {
        if (*p == ' ' && ++field == PS_STARTTIME_FIELD) {
            p++;
            break;
        }
    }

    if (field != PS_STARTTIME_FIELD || p >= last || *p < '0' || *p > '9') {
        return -1;
    }

    v = 0;

    while (p < last && *p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t) (*p++ - '0');
    }

    *starttime = v;

    return 0;
}


/*
 * Logs that /proc cannot tell: a warning the first time, since a ring
 * then stays owned until this is fixed, and at debug level afterwards,
 * as the reaper asks again every 100 ms.
 */
static void
proc_unreadable(const char *name, const char *reason)
{
    static int  warned;

    ps_log(warned ? PS_LOG_DEBUG : PS_LOG_WARN, "event=proc_read_failed "
           "file=%s error=\"%s\" effect=\"rings of this owner are not "
           "freed\"", name, reason);
    warned = 1;
}


/* Whether pid exists although /proc shows no such entry: /proc mounted
 * with hidepid=2 hides other users' processes. */
static int
hidden_by_proc(pid_t pid)
{
    return kill(pid, 0) == 0 || errno == EPERM;
}


int
ps_proc_stat(pid_t pid, char *state, uint64_t *starttime)
{
    int      fd, err;
    char     name[64], buf[1024];
    ssize_t  n;

    if (pid <= 0) {
        return 0;
    }

    (void) snprintf(name, sizeof(name), "/proc/%d/stat", (int) pid);

    fd = open(name, O_RDONLY|O_CLOEXEC);
    if (fd == -1) {
        err = errno;

        if ((err == ENOENT || err == ESRCH) && !hidden_by_proc(pid)) {
            return 0;
        }

        proc_unreadable(name, err == ENOENT ? "hidden (hidepid?)"
                                            : strerror(err));
        return -1;
    }

    n = read(fd, buf, sizeof(buf));
    err = errno;

    (void) close(fd);

    if (n == 0 || (n == -1 && err == ESRCH)) {
        /* the process went away between open() and read() */
        return 0;
    }

    if (n == -1) {
        proc_unreadable(name, strerror(err));
        return -1;
    }

    if (ps_proc_parse_stat(buf, (size_t) n, state, starttime) != 0) {
        proc_unreadable(name, "unexpected format");
        return -1;
    }

    return 1;
}


int
ps_proc_self_start(uint32_t *start)
{
    char      state;
    uint64_t  st;

    if (ps_proc_stat(getpid(), &state, &st) != 1) {
        return -1;
    }

    *start = (uint32_t) st;

    return 0;
}


int
ps_proc_owner_dead(uint64_t owner)
{
    int       rc;
    char      state;
    uint64_t  st;

    rc = ps_proc_stat(ps_owner_pid(owner), &state, &st);

    if (rc == 0) {
        return 1;
    }

    if (rc == -1) {
        return 0;
    }

    if (state == 'Z' || state == 'X') {
        return 1;
    }

    /* a worker that could not read its own start time stamped 0 */
    if (ps_owner_start(owner) != 0
        && (uint32_t) st != ps_owner_start(owner))
    {
        return 1;
    }

    return 0;
}

