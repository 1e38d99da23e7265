-- pathstats schema, migration 6: the fleet's view, built once.
--
-- One node at a time (the holder of a session advisory lock on its fleet
-- connection) reads every node's hourly rows of the last 24 hours, builds
-- the fleet's view (the 24h rows summed over nodes, the summary, health,
-- trends: a snapshot in the format of include/pathstats_snapshot.h) and
-- stores it here every fleet_interval; the other nodes read this one row
-- instead of every node's rows, so the fleet's reads grow with the number
-- of nodes, not with its square.  When the builder goes away its
-- connection ends and the lock with it: another node takes over within an
-- interval.  A view older than node_stale is not used: a node then builds
-- its own, as before this table.  Nothing here is needed to count
-- exactly.

CREATE TABLE IF NOT EXISTS pathstats_fleet_view (
    id          smallint    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    node_id     text        NOT NULL,
    built_at    timestamptz NOT NULL,
    rows        integer     NOT NULL,
    view        bytea       NOT NULL
);

COMMENT ON TABLE pathstats_fleet_view IS
    'the fleet''s view, built by one node every fleet_interval';
