/*
 * A request record as the aggregator works with it: decoded from the
 * ring's ps_record_t, strings sanitised to valid UTF-8 without NUL
 * (invalid bytes become the text \xHH, as in lib/utf8.h), the client
 * address reduced as the client_address setting says.  Windows, sinks
 * and the snapshot all aggregate this, so every output sees one form.
 */

#ifndef PS_REC_H
#define PS_REC_H

#include <stddef.h>
#include <stdint.h>

#include "pathstats_shm.h"

#define PS_REC_TEXT_MAX   (4 * PS_KEY_MAX + 1)  /* worst case: all \xHH */
#define PS_REC_CLIENT_MAX 64

typedef struct {
    uint32_t     ring;
    uint64_t     pos;
    uint64_t     time_us;
    int64_t      hour;              /* ps_hour_of(time_us) */

    const char  *host;              /* sanitised, not NUL-terminated */
    size_t       host_len;
    const char  *method;
    size_t       method_len;
    const char  *path;
    size_t       path_len;
    uint64_t     key_hash;          /* key_hash.h; set by the pipeline */
    uint64_t     key_hash2;         /* ps_key_hash2(), likewise */

    unsigned     status;
    uint64_t     request_us;
    uint64_t     upstream_us;       /* PS_NO_UPSTREAM when not proxied */
    uint64_t     bytes_in;
    uint64_t     bytes_out;
    uint8_t      flags;             /* PS_REC_* */

    /* NULL when client_address = off or no address was recorded */
    const uint64_t *client_hash;    /* murmur3 hll hash of what is kept */
    const char     *client;         /* text: address, /24, or hash */
} ps_rec_t;

/* Scratch space a decoded record points into; reused per record. */
typedef struct {
    char      host[4 * PS_HOST_MAX + 1];
    char      method[4 * PS_METHOD_MAX + 1];
    char      path[PS_REC_TEXT_MAX];
    char      client[PS_REC_CLIENT_MAX];
    uint64_t  client_hash;
} ps_rec_scratch_t;

/* Decodes rec into out (pointing into scratch) for client mode
 * (ps_client_mode_t) and hash_key (the secret for hashed mode, may be
 * NULL).  rec is PS_RECORD_MAX bytes (the ring reader's copy, its
 * lengths checked).  Never fails: lengths are clamped to their maxima,
 * so that nothing past PS_RECORD_MAX bytes is read whatever they say. */
void ps_rec_decode(ps_rec_t *out, ps_rec_scratch_t *scratch,
    uint32_t ring, uint64_t pos, const ps_record_t *rec, int client_mode,
    const char *hash_key);

#endif /* PS_REC_H */
