-- Scoring, issue 6: aggregates per study × provider × service × respondent type, the benchmark
-- (all providers) as provider '' in the same tables, per-question answer counts, and withdrawals.
-- Every aggregate is counts and exact numbers, so it is invertible and equals a recompute from
-- the facts (issued, responses). The old per-provider totals are replaced; a study scored before
-- this migration starts again from its facts (`tevreden recompute` shows what is missing).

-- The study's scheme travels on invitations.issued; kept per invitation and once per study.
ALTER TABLE {schema}.issued ADD COLUMN scheme_id text, ADD COLUMN questionnaire_id text;
CREATE TABLE {schema}.studies (
    study_id text PRIMARY KEY,
    scheme_id text NOT NULL
);

-- A withdrawal (responses.withdrawn) marks the response and erases its answers. One that overtakes
-- its response leaves a row with the ids only (a tombstone), so the late response is not counted.
ALTER TABLE {schema}.responses
    ALTER COLUMN service_code DROP NOT NULL,
    ALTER COLUMN respondent_type DROP NOT NULL,
    ALTER COLUMN questionnaire_id DROP NOT NULL,
    ALTER COLUMN questionnaire_version DROP NOT NULL,
    ALTER COLUMN mode DROP NOT NULL,
    ALTER COLUMN usable DROP NOT NULL,
    ALTER COLUMN answers DROP NOT NULL,
    ALTER COLUMN submitted_at DROP NOT NULL,
    ADD COLUMN withdrawn_at timestamptz;

DROP TABLE {schema}.totals;

-- One row per unit; provider_id '' is the benchmark (all providers in the study).
-- net sample = invited - undeliverable; usable = AAPOR complete, partial = submitted, not usable.
-- grade_n, grade_sum, grade_sumsq: the exact sums of unit_grades, kept for quick reading.
-- version: new (random) on every change, never reused, not even after a rollback; a reader that
-- has seen a unit at this version knows its counts, grades and answers without reading them again.
CREATE TABLE {schema}.units (
    study_id text NOT NULL,
    provider_id text NOT NULL,
    service_code text NOT NULL,
    respondent_type text NOT NULL,
    invited int NOT NULL,
    undeliverable int NOT NULL,
    usable int NOT NULL,
    partial int NOT NULL,
    promoters int NOT NULL,
    passives int NOT NULL,
    detractors int NOT NULL,
    grade_n int NOT NULL,
    grade_sum numeric NOT NULL,
    grade_sumsq numeric NOT NULL,
    version uuid NOT NULL DEFAULT gen_random_uuid(),
    PRIMARY KEY (study_id, provider_id, service_code, respondent_type)
);

-- How often each exact rapportcijfer was given (7.5 stays 7.5): mean, corrected mean, spread,
-- interval and distribution all follow from these counts.
CREATE TABLE {schema}.unit_grades (
    study_id text NOT NULL,
    provider_id text NOT NULL,
    service_code text NOT NULL,
    respondent_type text NOT NULL,
    grade numeric NOT NULL,
    n int NOT NULL,
    PRIMARY KEY (study_id, provider_id, service_code, respondent_type, grade)
);

-- Per question how often each answer was given (usable questionnaires only; never free text).
-- answer '' counts the respondents of a list question (multiple choice, ranking).
CREATE TABLE {schema}.unit_answers (
    study_id text NOT NULL,
    provider_id text NOT NULL,
    service_code text NOT NULL,
    respondent_type text NOT NULL,
    question_id text NOT NULL,
    answer text NOT NULL,
    n int NOT NULL,
    question_type text NOT NULL,
    PRIMARY KEY (study_id, provider_id, service_code, respondent_type, question_id, answer)
);

-- The moment of each provider's latest snapshot (as_of), strictly increasing per provider.
CREATE TABLE {schema}.snapshots (
    study_id text NOT NULL,
    provider_id text NOT NULL,
    as_of timestamptz NOT NULL,
    PRIMARY KEY (study_id, provider_id)
);
