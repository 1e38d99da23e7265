-- pathstats schema, migration 4: the history lifecycle (issue 12).
--
-- pathstats_hourly is already partitioned by UTC day (001: the
-- aggregator creates pathstats_hourly_pYYYYMMDD ahead of time; rows of a
-- day without a partition are in pathstats_hourly_default), so retention
-- drops a day's partition (or deletes the day's rows from the default
-- partition) once the day's archive is verified.  No existing row moves.
--
-- This migration reads and changes nothing another migration adds after
-- version 2; it only adds tables.

-- One row per (UTC day, host, method, path, node): the sums of the day's
-- hourly rows of that key, latency_hist merged (the aggregator merges the
-- histograms in C), unique_clients the hll_union_agg() of the hours.
-- A day is rolled up whole in one transaction that replaces its rows, so
-- a recomputation gives identical rows; pathstats_rollups remembers what
-- each day's rollup saw, so that a late flush into a rolled-up day is
-- noticed (the hourly sums moved) and the day rolled up again.
CREATE TABLE IF NOT EXISTS pathstats_daily (
    day             date        NOT NULL,
    host            text        NOT NULL,
    method          text        NOT NULL,
    path            text        NOT NULL,
    node_id         text        NOT NULL,
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
    hours           integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (day, host, method, path, node_id)
);

-- What the rollup of a day saw: its hourly rows' count and sums.  A day
-- whose hourly rows no longer add up to these got a late flush.
CREATE TABLE IF NOT EXISTS pathstats_rollups (
    day             date        PRIMARY KEY,
    hourly_rows     bigint      NOT NULL,
    requests        numeric     NOT NULL,
    bytes_out       numeric     NOT NULL,
    daily_rows      bigint      NOT NULL,
    rolled_at       timestamptz NOT NULL DEFAULT now()
);

-- Every archive file written to archive_dir: the incremental backup.
-- kind 'hourly' holds a day's pathstats_hourly rows, 'daily' a day's
-- pathstats_daily rows.  part: 1, or more when rows of a day came in
-- after an earlier part was archived and its rows dropped.  The sums are
-- those of the manifest beside the file.
CREATE TABLE IF NOT EXISTS pathstats_archives (
    kind            text        NOT NULL CHECK (kind IN ('hourly', 'daily')),
    day             date        NOT NULL,
    part            integer     NOT NULL DEFAULT 1,
    file            text        NOT NULL,
    schema_version  integer     NOT NULL,
    rows            bigint      NOT NULL,
    requests        numeric     NOT NULL,
    errors          numeric     NOT NULL,
    bytes_in        numeric     NOT NULL,
    bytes_out       numeric     NOT NULL,
    bytes           bigint      NOT NULL,
    sha256          text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    verified_at     timestamptz,
    dropped_at      timestamptz,
    restored_at     timestamptz,
    PRIMARY KEY (kind, day, part)
);

-- One row per lifecycle run (scheduler or CLI): the scheduler's memory
-- across restarts and nodes, and what /api/summary reports.
-- kind 'lifecycle' (a run) or 'verify' (checked, mismatches: the
-- consistency of /api/summary).
CREATE TABLE IF NOT EXISTS pathstats_lifecycle_runs (
    id              bigserial   PRIMARY KEY,
    kind            text        NOT NULL DEFAULT 'lifecycle'
                                CHECK (kind IN ('lifecycle', 'verify')),
    node_id         text        NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    ok              boolean,
    rolled_up       bigint      NOT NULL DEFAULT 0,
    archived        bigint      NOT NULL DEFAULT 0,
    dropped         bigint      NOT NULL DEFAULT 0,
    failures        bigint      NOT NULL DEFAULT 0,
    checked         bigint      NOT NULL DEFAULT 0,
    mismatches      bigint      NOT NULL DEFAULT 0,
    error           text
);
