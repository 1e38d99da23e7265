/*
 * Prometheus text format (0.0.4) primitives shared by the families of
 * the snapshot's /metrics text (metrics.c, metrics_alerts.c, fleet.c).
 */

#ifndef PS_PROM_TEXT_H
#define PS_PROM_TEXT_H

#include <stddef.h>

#include "lib/strbuf.h"

/* Appends the escaped label value (without quotes): backslash, '"' and
 * newline escaped, other control characters and bytes that are not
 * UTF-8 as the text \xHH, never raw; 0 or -1. */
int ps_metrics_label_escape(ps_buf_t *b, const char *s, size_t len);

/* Appends a family's # HELP and # TYPE lines; 0 or -1. */
int ps_metrics_family(ps_buf_t *b, const char *name, const char *type,
    const char *help);

#endif /* PS_PROM_TEXT_H */
