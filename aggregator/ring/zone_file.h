/*
 * Opening the zone file as untrusted input.  Whoever can write the file
 * can feed the aggregator forged records and read what it publishes into
 * the snapshot area, so a file is used only if it is a regular file,
 * reached without following a symbolic link in its last component, that
 * no other user may write, and owned by root or this process's user -
 * or placed in a directory that only root, this user or this process's
 * groups may write (such as /run/pathstats, 0750), where nobody else can
 * have created it.
 */

#ifndef PS_ZONE_FILE_H
#define PS_ZONE_FILE_H

#include <stddef.h>
#include <sys/stat.h>

/* Opens path read-write or read-only, O_NOFOLLOW|O_CLOEXEC, checks it
 * as above and fills *st from the descriptor.  Returns the descriptor,
 * or -1 with the reason, naming the owner and mode found, in err. */
int ps_zone_file_open(const char *path, int writable, struct stat *st,
    char *err, size_t errlen);

#endif /* PS_ZONE_FILE_H */
