-- pathstats schema, migration 2: pathstats_hourly rows per node.
--
-- The hourly key gains node_id, so that each node flushes its own rows:
-- no two nodes contend for a row, a node's flush adds its counters and
-- writes its histogram without reading the row back, and a node primes
-- its live windows from exactly what it served.  Fleet-wide numbers are
-- the sum over nodes (GROUP BY without node_id, hll_union_agg()).
--
-- Existing rows are kept.  They were fleet sums that cannot be split by
-- node: they get the node id of pathstats_nodes when exactly one node
-- ever flushed (the one-box case: that node keeps its history), else the
-- placeholder 'legacy', which no aggregator writes (node ids are
-- [A-Za-z0-9._-]{1,64}; 'legacy' is reserved for this).  Either way the
-- fleet sums stay what they were.
--
-- The column is added with a constant default and the default dropped
-- again, which PostgreSQL records in the catalog without rewriting the
-- rows; only the primary key index is built anew.

DO $$
DECLARE
    legacy  text;
BEGIN
    SELECT CASE WHEN count(*) = 1 THEN min(node_id) ELSE 'legacy' END
      INTO legacy FROM pathstats_nodes;

    EXECUTE format('ALTER TABLE pathstats_hourly ADD COLUMN node_id text '
                   'NOT NULL DEFAULT %L', legacy);
END
$$;

ALTER TABLE pathstats_hourly ALTER COLUMN node_id DROP DEFAULT;

-- node_id last: every lookup by (hour, host, method, path) keeps its
-- index prefix, and a node's rows of an hour are a range of it
ALTER TABLE pathstats_hourly DROP CONSTRAINT pathstats_hourly_pkey;
ALTER TABLE pathstats_hourly
    ADD PRIMARY KEY (hour, host, method, path, node_id);

COMMENT ON COLUMN pathstats_hourly.node_id IS
    'the node whose aggregator wrote the row; ''legacy'' for fleet sums '
    'kept from before schema version 2';
