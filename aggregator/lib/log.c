/*
 * Logging: see log.h.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/hour.h"
#include "lib/log.h"
#include "lib/log_json.h"
#include "lib/progress.h"
#include "lib/utf8.h"

#define PS_LOG_LINE_MAX  4096

ps_log_level_t  ps_log_min_level = PS_LOG_INFO;

static int    log_fd = STDERR_FILENO;
static int    log_json;              /* lines as JSON objects */
static char  *log_path;              /* NULL: stderr */

static const char  *level_names[] = { "debug", "info", "warn", "error" };


void
ps_log_write(ps_log_level_t level, const char *fmt, ...)
{
    int      n;
    size_t   len, head;
    va_list  ap;
    char     line[PS_LOG_LINE_MAX], ts[PS_ISO8601_MAX], *json;

    n = snprintf(line, sizeof(line), "%s level=%s ",
                 ps_format_iso8601_frac((int64_t) ps_now_us(), ts, 3),
                 ps_log_level_name(level));
    len = (size_t) n;
    head = len;

    va_start(ap, fmt);
    n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
    va_end(ap);

    if (n < 0) {
        return;
    }

    len += (size_t) n;

    if (len > sizeof(line) - 1) {
        /* cut: mark it, keep the line whole */
        len = sizeof(line) - 1;
        memcpy(line + len - 4, " ...", 4);
    }

    /* a command's progress line on the same terminal: erased first, so
     * the log line starts at the left, and drawn again later */
    if (log_fd == STDERR_FILENO) {
        ps_progress_clear();
    }

    if (log_json) {
        json = ps_log_json_line(ts, ps_log_level_name(level), line + head,
                                len - head);
        if (json != NULL) {
            (void) !write(log_fd, json, strlen(json));
            free(json);
            return;
        }
        /* no memory for it: the text line says what happened */
    }

    line[len++] = '\n';

    /* one write per line; a short write to a full disk is not retried */
    (void) !write(log_fd, line, len);
}


void
ps_log_set_json(int json)
{
    log_json = json;
}


void
ps_log_set_level(ps_log_level_t level)
{
    ps_log_min_level = level;
}


int
ps_log_level_parse(const char *name)
{
    int  i;

    for (i = 0; i < (int) (sizeof(level_names) / sizeof(level_names[0]));
         i++)
    {
        if (strcmp(name, level_names[i]) == 0) {
            return i;
        }
    }

    return -1;
}


const char *
ps_log_level_name(ps_log_level_t level)
{
    if ((unsigned) level >= sizeof(level_names) / sizeof(level_names[0])) {
        return "unknown";
    }

    return level_names[level];
}


static int
open_file(const char *path)
{
    int   fd;
    char  qpath[256], qerr[128];

    fd = open(path, O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC, 0640);
    if (fd == -1) {
        ps_log(PS_LOG_ERROR, "event=log_open_failed file=%s error=%s",
               ps_log_quote(qpath, sizeof(qpath), path),
               ps_log_quote(qerr, sizeof(qerr), strerror(errno)));
    }

    return fd;
}


int
ps_log_open(const char *path)
{
    int    fd;
    char  *copy;

    if (path == NULL || path[0] == '\0' || strcmp(path, "stderr") == 0) {
        if (log_fd != STDERR_FILENO) {
            (void) close(log_fd);
        }
        log_fd = STDERR_FILENO;
        free(log_path);
        log_path = NULL;
        return 0;
    }

    copy = strdup(path);
    if (copy == NULL) {
        ps_log(PS_LOG_ERROR, "event=out_of_memory what=log_path");
        return -1;
    }

    fd = open_file(path);
    if (fd == -1) {
        free(copy);
        return -1;
    }

    if (log_fd != STDERR_FILENO) {
        (void) close(log_fd);
    }

    log_fd = fd;
    free(log_path);
    log_path = copy;

    return 0;
}


int
ps_log_reopen(void)
{
    int  fd;

    if (log_path == NULL) {
        return 0;
    }

    fd = open_file(log_path);
    if (fd == -1) {
        return -1;
    }

    /* dup2 swaps the file under the same descriptor in one step */
    if (dup2(fd, log_fd) == -1) {
        (void) close(fd);
        return -1;
    }

    (void) close(fd);

    return 0;
}


const char *
ps_log_quote(char *buf, size_t size, const char *s)
{
    size_t  n, used, len;

    if (size < 3) {
        if (size) {
            buf[0] = '\0';
        }
        return buf;
    }

    len = strlen(s);
    buf[0] = '"';
    n = ps_json_escape_mem(buf + 1, size - 2, s, len, &used);
    buf[n + 1] = '"';
    buf[n + 2] = '\0';

    return buf;
}
