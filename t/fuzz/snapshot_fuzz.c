/*
 * libFuzzer target for the snapshot reader: whatever bytes the buffer
 * holds, ps_snap_validate() must not read outside them, and once it
 * accepts a snapshot, every read the admin handler makes from the view
 * (rows through every order in both directions, each row's strings, the
 * JSON and text sections) must stay inside the buffer.  The input is
 * copied into a malloc()ed buffer of exactly its size, so that
 * AddressSanitizer reports the first byte read past it.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pathstats_snapshot.h"


static volatile uint32_t  sink;


static uint32_t
touch(const ps_snap_view_t *view, ps_snap_ref_t ref)
{
    uint32_t  i, sum;

    sum = 0;

    for (i = 0; i < ref.len; i++) {
        sum += (unsigned char) view->blob[ref.off + i];
    }

    return sum;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void                 *buf;
    uint32_t              w, k, i, n, idx, sum;
    ps_snap_view_t        view;
    const ps_snap_row_t  *row;

    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);

    if (ps_snap_validate(buf, size, &view) != NULL) {
        free(buf);
        return 0;
    }

    sum = view.header->section_count + (uint32_t) view.header->sequence;

    /* what /api/paths reads: every order, both ways, every row's refs */

    for (w = 0; w < PS_SNAP_WINDOWS; w++) {
        if (view.rows[w] == NULL) {
            continue;
        }

        n = view.row_count[w];

        for (k = 0; k < PS_SNAP_SORTS; k++) {
            for (i = 0; i < n; i++) {
                idx = ps_snap_row_index(&view, w, k, 0, i);
                row = &view.rows[w][idx];
                sum += touch(&view, row->host) + touch(&view, row->method)
                       + touch(&view, row->path) + touch(&view, row->json);

                idx = ps_snap_row_index(&view, w, k, 1, i);
                sum += view.rows[w][idx].json.len;
            }
        }

        if (view.has_window_info[w]) {
            sum += touch(&view, view.window_info[w]);
        }
    }

    if (view.has_summary) {
        sum += touch(&view, view.summary);
    }

    for (i = 0; i < PS_SNAP_RANGES; i++) {
        if (view.has_trends[i]) {
            sum += touch(&view, view.trends[i]);
        }
    }

    if (view.has_metrics) {
        sum += touch(&view, view.metrics);
    }

    if (view.has_health) {
        sum += touch(&view, view.health);
    }

    sink = sum;

    free(buf);

    return 0;
}
