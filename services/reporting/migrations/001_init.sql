-- Reporting: the latest score snapshot per provider and the report written from it.
-- Aggregates only: nothing here can identify a respondent.

-- The newest snapshot per provider in a study; an older one arriving late is ignored.
CREATE TABLE {schema}.snapshots (
    study_id text NOT NULL,
    provider_id text NOT NULL,
    net_sample int NOT NULL,
    completed int NOT NULL,
    response_rate double precision,
    mean_grade double precision,
    grade_sum double precision NOT NULL,
    as_of timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (study_id, provider_id)
);

-- The current report file per provider; version goes up by one each time it is rewritten.
CREATE TABLE {schema}.reports (
    study_id text NOT NULL,
    provider_id text NOT NULL,
    version int NOT NULL,
    path text NOT NULL,
    written_at timestamptz NOT NULL,
    PRIMARY KEY (study_id, provider_id)
);
