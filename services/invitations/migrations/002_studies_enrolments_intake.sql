-- Studies under a scheme with a measurement period, providers enrolled in them, and the
-- richer contact delivery: postal address, phone, client group, sampling and accounting.

-- A study is a scheme (shared/config/schemes/<scheme_id>.yaml) over a measurement period.
-- questionnaire_id, when set, overrides the scheme's questionnaire for every invitation
-- (a pilot, the demo); a study without a scheme must name one.
ALTER TABLE {schema}.studies
    ADD COLUMN scheme_id text,
    ADD COLUMN year int, -- the measurement year (jobcoach: the year each provider's period starts)
    ADD COLUMN period_start date,
    ADD COLUMN period_end date,
    ALTER COLUMN questionnaire_id DROP NOT NULL,
    ADD CONSTRAINT studies_period CHECK (period_start <= period_end),
    ADD CONSTRAINT studies_questionnaire CHECK (scheme_id IS NOT NULL OR questionnaire_id IS NOT NULL);

-- A provider in a study: its services (diensten/percelen) and options.
CREATE TABLE {schema}.enrolments (
    study_id text NOT NULL REFERENCES {schema}.studies,
    provider_id text NOT NULL REFERENCES {schema}.providers,
    services text[] NOT NULL,
    phone_option boolean NOT NULL DEFAULT false,
    phone_interviews int NOT NULL DEFAULT 0 CHECK (phone_interviews >= 0),
    -- client group → questionnaire variant key, e.g. {"inburgering": "client/inburgering"}
    group_variants jsonb NOT NULL DEFAULT '{}',
    -- service → requested net sample size; a delivery beyond it is sampled
    sample_sizes jsonb NOT NULL DEFAULT '{}',
    recognition_date date, -- erkenningsdatum (jobcoach)
    -- the provider's own measurement period (jobcoach: a year from the recognition date)
    period_start date,
    period_end date,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (study_id, provider_id),
    CHECK (period_start <= period_end)
);
CREATE INDEX enrolments_provider ON {schema}.enrolments (provider_id);

-- Providers that delivered before enrolments existed keep delivering to their studies.
INSERT INTO {schema}.enrolments (study_id, provider_id, services)
SELECT study_id, provider_id, array_agg(DISTINCT service_code ORDER BY service_code)
FROM {schema}.contacts GROUP BY study_id, provider_id;

ALTER TABLE {schema}.deliveries
    ADD COLUMN file_format text NOT NULL DEFAULT 'csv' CHECK (file_format IN ('csv', 'xlsx')),
    ADD COLUMN file_name text NOT NULL DEFAULT '',
    ADD COLUMN rows_rejected int NOT NULL DEFAULT 0,
    ADD COLUMN rows_sampled_out int NOT NULL DEFAULT 0,
    ADD COLUMN ignored_columns text[] NOT NULL DEFAULT '{}',
    -- gross → net per service × respondent type, as in the invitations.delivery_checked event
    ADD COLUMN accounting jsonb NOT NULL DEFAULT '[]';
CREATE INDEX deliveries_provider ON {schema}.deliveries (study_id, provider_id, received_at);

-- Contacts that passed the checks: invited ('accepted') or drawn out of the sample.
-- Rows that failed (a BSN among them) are never stored; only their row report is.
ALTER TABLE {schema}.contacts
    ADD COLUMN row_number int NOT NULL DEFAULT 0,
    ADD COLUMN status text NOT NULL DEFAULT 'accepted' CHECK (status IN ('accepted', 'sampled_out')),
    ADD COLUMN phone text NOT NULL DEFAULT '',
    ADD COLUMN street text NOT NULL DEFAULT '',
    ADD COLUMN house_number text NOT NULL DEFAULT '',
    ADD COLUMN postcode text NOT NULL DEFAULT '',
    ADD COLUMN city text NOT NULL DEFAULT '',
    ADD COLUMN organisation text NOT NULL DEFAULT '',
    ADD COLUMN client_group text NOT NULL DEFAULT '',
    ADD COLUMN variant text NOT NULL DEFAULT '',
    ADD COLUMN learning_profile smallint CHECK (learning_profile BETWEEN 1 AND 4),
    ADD COLUMN end_date date;
-- A repeat of the same email for the same service is a duplicate (looked up per delivery).
CREATE INDEX contacts_email_service ON {schema}.contacts (study_id, provider_id, email, service_code)
    WHERE email <> '';
CREATE INDEX contacts_delivery ON {schema}.contacts (delivery_id);
