-- The questionnaire rate limiter's token buckets, one per client address, shared by every
-- HTTP worker process of every replica. UNLOGGED: no WAL for a counter that may be lost (after
-- a crash every bucket starts full again, as after a restart).
CREATE UNLOGGED TABLE {schema}.rate_buckets (
    client text PRIMARY KEY,
    tokens float8 NOT NULL,
    allowed boolean NOT NULL,
    updated_at timestamptz NOT NULL
);
