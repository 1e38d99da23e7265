/*
 * The order of keys that every list of paths shows ties in: by path,
 * then host, then method, each bytewise with a prefix first.  The
 * snapshot's rows and the windows' ranks (agg/windows.h) both use it, so
 * that a rank orders two keys exactly as their text does.
 */

#ifndef PS_KEY_ORDER_H
#define PS_KEY_ORDER_H

#include <stddef.h>
#include <string.h>


/* a against b, bytewise, a prefix first: < 0, 0 or > 0 */
static inline int
ps_bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int  rc;

    rc = memcmp(a, b, alen < blen ? alen : blen);
    if (rc != 0) {
        return rc;
    }

    return alen < blen ? -1 : alen > blen;
}


/* Key a (path, host, method) against key b. */
static inline int
ps_key_text_cmp(const char *apath, size_t aplen, const char *ahost,
    size_t ahlen, const char *amethod, size_t amlen, const char *bpath,
    size_t bplen, const char *bhost, size_t bhlen, const char *bmethod,
    size_t bmlen)
{
    int  rc;

    rc = ps_bytes_cmp(apath, aplen, bpath, bplen);
    if (rc == 0) {
        rc = ps_bytes_cmp(ahost, ahlen, bhost, bhlen);
    }
    if (rc == 0) {
        rc = ps_bytes_cmp(amethod, amlen, bmethod, bmlen);
    }

    return rc;
}

#endif /* PS_KEY_ORDER_H */
