-- Scoring: the facts as received (the source of a full recompute) and the running totals.
-- Ids, codes and answers only: no names, addresses or emails ever reach this schema.

-- Every invitation issued, and whether it proved undeliverable (onbestelbaar).
-- Net sample (netto steekproef) = rows where NOT undeliverable.
CREATE TABLE {schema}.issued (
    invitation_id uuid PRIMARY KEY,
    study_id text NOT NULL,
    provider_id text NOT NULL,
    service_code text NOT NULL,
    respondent_type text NOT NULL,
    undeliverable boolean NOT NULL DEFAULT false
);
CREATE INDEX issued_provider ON {schema}.issued (study_id, provider_id);

-- The one final response per invitation, with its grade (rapportcijfer) as an exact number.
CREATE TABLE {schema}.responses (
    response_id uuid PRIMARY KEY,
    invitation_id uuid NOT NULL UNIQUE,
    study_id text NOT NULL,
    provider_id text NOT NULL,
    service_code text NOT NULL,
    respondent_type text NOT NULL,
    questionnaire_id text NOT NULL,
    questionnaire_version int NOT NULL,
    mode text NOT NULL,
    usable boolean NOT NULL,
    grade numeric,
    answers jsonb NOT NULL,
    submitted_at timestamptz NOT NULL
);
CREATE INDEX responses_provider ON {schema}.responses (study_id, provider_id);

-- Running totals per provider in a study: counts and exact sums, so they are invertible
-- and equal a recompute from the two tables above. updated_at is the snapshot's as_of,
-- strictly increasing per row.
CREATE TABLE {schema}.totals (
    study_id text NOT NULL,
    provider_id text NOT NULL,
    net_sample int NOT NULL,
    completed int NOT NULL,
    grade_n int NOT NULL,
    grade_sum numeric NOT NULL,
    grade_sumsq numeric NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (study_id, provider_id)
);
