/*
 * Shared helpers for the unit tests that drive aggregator/pipeline/pipeline.c
 * (test_pipeline.c, test_spool.c): a fake in-memory sink whose
 * watermarks, reachability and flush outcome the test sets, and a
 * temporary zone file with FAKE_NRINGS rings that the test produces
 * records into, as nginx's workers would.
 *
 * The test sets fake_zone_path before fake_zone_make() and unlinks it at
 * the end.  Nothing here runs unless called.
 */

#ifndef PS_FAKE_SINK_H
#define PS_FAKE_SINK_H

#include <stdint.h>

#include "pipeline/sink.h"
#include "ring/zone.h"

#define FAKE_NRINGS    2
#define FAKE_CAPACITY  128          /* units per ring */

/*
 * Every fake record takes FAKE_U units, so that the tests count records:
 * the fake sink answers its watermarks wm (records) as units and keeps
 * the positions it commits (pos) in records, fake_zone_head() answers the
 * head in records.
 */
#define FAKE_U         2

typedef struct {
    ps_sink_t  sink;
    uint64_t   wm[FAKE_NRINGS];     /* what load_watermarks answers, in
                                       records */
    int        unreachable;         /* load_watermarks fails */
    int        fail;                /* flush fails */
    unsigned   delay_ms;            /* flush takes this long */
    unsigned   flushes;             /* successful */
    uint64_t   requests;            /* sum over every applied delta */
    uint64_t   pos[FAKE_NRINGS];    /* last committed positions, in
                                       records */
} fake_sink_t;

/* The zone file fake_zone_make() creates. */
extern char  fake_zone_path[256];

/* Zeroes f and makes f->sink a fake sink, durable or not. */
void fake_sink_init(fake_sink_t *f, int durable);

/* A zone file as nginx makes it; returns the producer's mapping. */
ps_zone_header_t *fake_zone_make(void);

/* The geometry of a zone that fake_zone_make() made (the producer's
 * private copy, as a worker has). */
const ps_zone_geometry_t *fake_zone_geo(const ps_zone_header_t *h);

/* Appends n records to ring (keys "/r<ring>/<i % 3>", status 200). */
void fake_zone_produce(ps_zone_header_t *h, uint32_t ring, int n);

/* The ring's head (how far the reader has released it), in records. */
uint64_t fake_zone_head(ps_zone_header_t *h, uint32_t ring);

#endif /* PS_FAKE_SINK_H */
