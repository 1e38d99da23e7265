/*
 * Prometheus text primitives: see prom_text.h.
 */

#include <stddef.h>

#include "lib/utf8.h"
#include "snapshot/prom_text.h"


int
ps_metrics_label_escape(ps_buf_t *b, const char *s, size_t len)
{
    const unsigned char  *p = (const unsigned char *) s;
    size_t                i, n;

    for (i = 0; i < len; /* void */) {
        switch (p[i]) {

        case '\\':
            if (ps_buf_append(b, "\\\\", 2) != 0) {
                return -1;
            }
            i++;
            continue;

        case '"':
            if (ps_buf_append(b, "\\\"", 2) != 0) {
                return -1;
            }
            i++;
            continue;

        case '\n':
            if (ps_buf_append(b, "\\n", 2) != 0) {
                return -1;
            }
            i++;
            continue;

        default:
            break;
        }

        /* a control character is shown, never sent raw: the text format
         * has no escape for it, and a raw CR or tab misleads a reader */
        n = (p[i] < 0x20 || p[i] == 0x7F) ? 0
                                          : ps_utf8_sequence(p + i, len - i);

        if (n == 0) {
            if (ps_buf_printf(b, "\\\\x%02X", p[i]) != 0) {
                return -1;
            }
            i++;
            continue;
        }

        if (ps_buf_append(b, p + i, n) != 0) {
            return -1;
        }
        i += n;
    }

    return 0;
}


int
ps_metrics_family(ps_buf_t *b, const char *name, const char *type,
    const char *help)
{
    return ps_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                         name, type);
}
