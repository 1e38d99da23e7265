/*
 * Opening the zone file as untrusted input: see zone_file.h.
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ring/zone_file.h"

#define MAX_GROUPS  256


/* 1 when gid is this process's effective group or a supplementary one */
static int
in_my_groups(gid_t gid)
{
    int    n, i;
    gid_t  groups[MAX_GROUPS];

    if (gid == getegid()) {
        return 1;
    }

    n = getgroups(MAX_GROUPS, groups);

    for (i = 0; i < n; i++) {
        if (groups[i] == gid) {
            return 1;
        }
    }

    return 0;
}


/* 1 when no user but root, this one and this process's groups may
 * create or replace a file in the directory st describes */
static int
private_dir(const struct stat *st)
{
    if (st->st_uid != 0 && st->st_uid != geteuid()) {
        return 0;
    }

    if (st->st_mode & S_IWOTH) {
        return 0;
    }

    return !(st->st_mode & S_IWGRP) || st->st_gid == 0
           || in_my_groups(st->st_gid);
}


/* "owned by NAME (uid N), group NAME (gid N), mode 0NNN" */
static void
describe(char *buf, size_t size, const struct stat *st)
{
    struct group   *gr;
    struct passwd  *pw;
    char            user[64], group[64];

    pw = getpwuid(st->st_uid);
    gr = getgrgid(st->st_gid);

    (void) snprintf(user, sizeof(user), "%s", pw ? pw->pw_name : "no user");
    (void) snprintf(group, sizeof(group), "%s",
                    gr ? gr->gr_name : "no group");

    (void) snprintf(buf, size, "owned by %s (uid %u), group %s (gid %u), "
                    "mode %04o", user, (unsigned) st->st_uid, group,
                    (unsigned) st->st_gid, (unsigned) (st->st_mode & 07777));
}


/* Splits path into its directory (opened) and its last component. */
static int
open_dir(const char *path, const char **name, char *err, size_t errlen)
{
    int          dfd;
    char        *dir;
    const char  *slash;

    slash = strrchr(path, '/');

    if (slash == NULL) {
        *name = path;
        dir = strdup(".");

    } else {
        *name = slash + 1;
        dir = (slash == path) ? strdup("/")
                              : strndup(path, (size_t) (slash - path));
    }

    if (dir == NULL) {
        (void) snprintf(err, errlen, "out of memory");
        return -1;
    }

    dfd = open(dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);

    if (dfd == -1) {
        (void) snprintf(err, errlen, "cannot open its directory %s: %s",
                        dir, strerror(errno));
    }

    free(dir);

    return dfd;
}


int
ps_zone_file_open(const char *path, int writable, struct stat *st,
    char *err, size_t errlen)
{
    int          fd, dfd, trusted_dir;
    char         what[256];
    const char  *name;
    struct stat  dst;

    fd = -1;

    dfd = open_dir(path, &name, err, errlen);
    if (dfd == -1) {
        return -1;
    }

    /* the file's directory is the one whose permissions are checked:
     * openat() cannot be sent elsewhere by a rename in the path */

    fd = openat(dfd, name, (writable ? O_RDWR : O_RDONLY)
                           | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

    if (fd == -1) {
        if (errno == ENOENT) {
            (void) snprintf(err, errlen, "zone file %s does not exist (is "
                            "nginx running with pathstats_zone %s?)", path,
                            path);

        } else if (errno == ELOOP) {
            (void) snprintf(err, errlen, "refusing a symbolic link: name "
                            "the zone file itself, as in pathstats_zone");

        } else {
            (void) snprintf(err, errlen, "cannot open for %s: %s",
                            writable ? "reading and writing" : "reading",
                            strerror(errno));
        }

        goto fail;
    }

    if (fstat(fd, st) == -1 || fstat(dfd, &dst) == -1) {
        (void) snprintf(err, errlen, "fstat: %s", strerror(errno));
        goto fail;
    }

    if (!S_ISREG(st->st_mode)) {
        (void) snprintf(err, errlen, "not a regular file");
        goto fail;
    }

    describe(what, sizeof(what), st);

    /* anyone who can write the file can forge or erase traffic data, and
     * feed crafted lengths to every reader */
    if (st->st_mode & S_IWOTH) {
        (void) snprintf(err, errlen, "refusing a world-writable zone file "
                        "(%s: any local user could forge records); remove "
                        "the permission with chmod o-w", what);
        goto fail;
    }

    trusted_dir = private_dir(&dst);

    if (!trusted_dir && st->st_uid != 0 && st->st_uid != geteuid()) {
        (void) snprintf(err, errlen, "refusing a zone file %s, in a "
                        "directory that other users may write: another "
                        "user may have created it; it must be owned by "
                        "root or uid %u, or kept in a private directory "
                        "such as /run/pathstats", what,
                        (unsigned) geteuid());
        goto fail;
    }

    if (!trusted_dir && (st->st_mode & S_IWGRP) && st->st_gid != 0
        && !in_my_groups(st->st_gid))
    {
        (void) snprintf(err, errlen, "refusing a zone file %s: a group "
                        "this process is not in may write it; remove the "
                        "permission with chmod g-w, or keep the file in a "
                        "private directory such as /run/pathstats", what);
        goto fail;
    }

    (void) close(dfd);

    return fd;

fail:

    if (fd != -1) {
        (void) close(fd);
    }

    (void) close(dfd);

    return -1;
}
