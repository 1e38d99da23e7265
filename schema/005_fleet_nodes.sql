-- pathstats schema, migration 5: the fleet's heartbeats.
--
-- One row per node, written by the node's fleet thread every
-- fleet_interval (its own connection, never inside a flush, so a
-- heartbeat neither waits for nor delays a flush): what /api/nodes shows
-- of the node, and the node's own view (its rows, summary and health, a
-- snapshot in the format of include/pathstats_snapshot.h) that the other
-- nodes serve for node=ID.  The ages are taken on the database's clock,
-- so nodes with skewed clocks agree on who is stale.  pathstats_nodes
-- stays the flush watermark's table; nothing here is needed to count
-- exactly, and a row lost is written again within one interval.

CREATE TABLE IF NOT EXISTS pathstats_fleet_nodes (
    node_id          text        PRIMARY KEY,
    version          text        NOT NULL,
    zone_generation  bigint      NOT NULL,
    heartbeat_at     timestamptz NOT NULL,
    last_flush_at    timestamptz,
    lag_records      bigint      NOT NULL DEFAULT 0,
    requests_1m      bigint      NOT NULL DEFAULT 0,
    requests_1h      bigint      NOT NULL DEFAULT 0,
    requests_24h     bigint      NOT NULL DEFAULT 0,
    view             bytea
);

COMMENT ON TABLE pathstats_fleet_nodes IS
    'each node''s heartbeat and own view, written every fleet_interval';
