/*
 * The stores behind the sink interface: the one file that knows every
 * kind of sink, so that the pipeline and main.c know none of them.
 */

#ifndef PS_STORE_H
#define PS_STORE_H

#include "config/config.h"
#include "pipeline/sink.h"

/* Most sinks a configuration can name. */
#define PS_STORE_SINKS_MAX  2

/* Creates the sinks the configuration names (PostgreSQL, then Redis)
 * into sinks[0..PS_STORE_SINKS_MAX); returns how many, or -1 (logged)
 * with none left behind. */
int ps_store_create_sinks(const ps_config_t *cfg, ps_sink_t **sinks);

#endif /* PS_STORE_H */
