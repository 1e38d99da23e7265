-- pathstats schema, migration 1: hourly per-path statistics and the
-- per-node watermark that makes every flush exactly-once.
--
-- Applied by `pathstats-aggregator --migrate` inside one transaction,
-- together with its row in pathstats_schema_version.

CREATE EXTENSION IF NOT EXISTS hll;

CREATE TABLE IF NOT EXISTS pathstats_schema_version (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per (UTC hour, server name, method, path template).  Counters
-- are sums over every node of the fleet; latency_hist is the aggregator's
-- log-linear histogram (format in aggregator/lib/histogram.h), merged by the
-- aggregator in C under a row lock; unique_clients is a postgresql-hll
-- value, mergeable across hours and nodes with hll_union_agg().
CREATE TABLE IF NOT EXISTS pathstats_hourly (
    hour            timestamptz NOT NULL,
    host            text        NOT NULL,
    method          text        NOT NULL,
    path            text        NOT NULL,
    requests        bigint      NOT NULL DEFAULT 0,
    status_1xx      bigint      NOT NULL DEFAULT 0,
    status_2xx      bigint      NOT NULL DEFAULT 0,
    status_3xx      bigint      NOT NULL DEFAULT 0,
    status_4xx      bigint      NOT NULL DEFAULT 0,
    status_5xx      bigint      NOT NULL DEFAULT 0,
    errors          bigint      NOT NULL DEFAULT 0,
    bytes_in        bigint      NOT NULL DEFAULT 0,
    bytes_out       bigint      NOT NULL DEFAULT 0,
    latency_sum_us  bigint      NOT NULL DEFAULT 0,
    latency_max_us  bigint      NOT NULL DEFAULT 0,
    latency_hist    bytea,
    unique_clients  hll,
    first_seen      timestamptz,
    last_seen       timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (hour, host, method, path),
    CHECK (hour = date_trunc('hour', hour AT TIME ZONE 'UTC')
                  AT TIME ZONE 'UTC')
) PARTITION BY RANGE (hour);

-- Rows for hours that have no daily partition yet land here instead of
-- failing a flush; the aggregator creates daily partitions ahead of time.
-- Rows are updated at every flush, so partitions leave room on each page
-- (fillfactor 70) for HOT updates; the daily ones are created by the
-- aggregator as pathstats_hourly_pYYYYMMDD, FROM day TO next day (UTC).
CREATE TABLE IF NOT EXISTS pathstats_hourly_default
    PARTITION OF pathstats_hourly DEFAULT WITH (fillfactor = 70);

-- The consumer's heartbeat and exactly-once marker: per node and ring,
-- every record before committed_pos is in pathstats_hourly.  zone_id is
-- the ring generation (random per zone file), so a recreated zone starts
-- from zero without colliding with the old positions.
CREATE TABLE IF NOT EXISTS pathstats_watermark (
    node_id        text        NOT NULL,
    zone_id        bigint      NOT NULL,
    ring           integer     NOT NULL,
    committed_pos  bigint      NOT NULL,
    flushes        bigint      NOT NULL DEFAULT 0,
    flushed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node_id, zone_id, ring)
);

CREATE TABLE IF NOT EXISTS pathstats_nodes (
    node_id         text        PRIMARY KEY,
    zone_id         bigint      NOT NULL,
    version         text        NOT NULL,
    started_at      timestamptz NOT NULL,
    last_flush_at   timestamptz NOT NULL DEFAULT now()
);
