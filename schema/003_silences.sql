-- pathstats schema, migration 3: alert silences.
--
-- `pathstats-aggregator -c FILE --silence SCOPE --for DURATION` adds a
-- row; every aggregator of the fleet reads the rows in force every few
-- seconds and notifies nobody about the alerts a scope covers until
-- ends_at (aggregator/agg/silence.h: all, overall, /a/path, /a/prefix*).
-- `--for 0` ends the silences of a scope at once.  Rows that ended are
-- kept for a month as a record, then removed by --silence.

CREATE TABLE IF NOT EXISTS pathstats_silences (
    id          bigserial   PRIMARY KEY,
    scope       text        NOT NULL,
    starts_at   timestamptz NOT NULL DEFAULT now(),
    ends_at     timestamptz NOT NULL,
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at >= starts_at)
);

CREATE INDEX IF NOT EXISTS pathstats_silences_ends_at
    ON pathstats_silences (ends_at);
