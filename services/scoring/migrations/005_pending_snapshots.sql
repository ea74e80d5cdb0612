-- Scoring, issue 6: snapshots held back under load. When a batch comes full (the consumer is
-- behind), a provider whose last snapshot is younger than the debounce interval gets no new one
-- now; it waits here until due_at, when the snapshot loop emits its then current figures, so
-- the last state is always published (also after a restart).
CREATE TABLE {schema}.pending_snapshots (
    study_id text NOT NULL,
    provider_id text NOT NULL,
    due_at timestamptz NOT NULL,
    PRIMARY KEY (study_id, provider_id)
);
CREATE INDEX pending_snapshots_due ON {schema}.pending_snapshots (due_at);

-- Snapshots are large JSON documents (about 50 KB for Blik op Werk), written once and read once
-- by the relay: stored without compression.
ALTER TABLE {schema}.outbox ALTER COLUMN body SET STORAGE EXTERNAL;

