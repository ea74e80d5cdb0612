-- Report lifecycle: the full snapshot, draft → hoor en wederhoor → final, every version kept.
-- Aggregates only: nothing here can identify a respondent.

ALTER TABLE {schema}.snapshots ADD COLUMN payload jsonb;

-- Fieldwork closed for a study: from then on reports are drafts, then final.
CREATE TABLE {schema}.studies (
    study_id text PRIMARY KEY,
    study_name text NOT NULL,
    period_start date,
    period_end date,
    review_days int NOT NULL,
    provider_names jsonb NOT NULL DEFAULT '{}',
    closed_at timestamptz NOT NULL
);

-- One row per provider report after fieldwork closed: its status and its timers (claimed with
-- FOR UPDATE SKIP LOCKED, so any number of replicas can run the loop and a restart loses nothing).
CREATE TABLE {schema}.lifecycle (
    study_id text NOT NULL,
    provider_id text NOT NULL,
    status text NOT NULL CHECK (status IN ('draft', 'final')),
    review_until timestamptz NOT NULL,
    regenerate_due_at timestamptz,  -- late scores (debounced) or a provider response
    provider_response text,  -- hoor en wederhoor, kept with the report
    responded_at timestamptz,
    PRIMARY KEY (study_id, provider_id)
);
CREATE INDEX ON {schema}.lifecycle (regenerate_due_at) WHERE regenerate_due_at IS NOT NULL;
CREATE INDEX ON {schema}.lifecycle (review_until) WHERE status = 'draft';

-- Every version ever produced, never overwritten: its files live in <report_dir>/<study>/<provider>/v<N>.*
CREATE TABLE {schema}.versions (
    study_id text NOT NULL,
    provider_id text NOT NULL,
    version int NOT NULL,
    status text NOT NULL,
    snapshot_as_of timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    folder text NOT NULL,
    PRIMARY KEY (study_id, provider_id, version)
);
