-- Invitations: the only schema that holds names and email addresses.
CREATE TABLE {schema}.providers (
    provider_id text PRIMARY KEY,
    name text NOT NULL,
    api_key_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {schema}.studies (
    study_id text PRIMARY KEY,
    name text NOT NULL,
    questionnaire_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per uploaded file (aanlevering); the row report is kept for the provider.
CREATE TABLE {schema}.deliveries (
    delivery_id uuid PRIMARY KEY,
    study_id text NOT NULL REFERENCES {schema}.studies,
    provider_id text NOT NULL REFERENCES {schema}.providers,
    rows_total int NOT NULL,
    rows_accepted int NOT NULL,
    problems jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {schema}.contacts (
    contact_id uuid PRIMARY KEY,
    study_id text NOT NULL,
    provider_id text NOT NULL,
    delivery_id uuid NOT NULL REFERENCES {schema}.deliveries,
    client_ref text NOT NULL,
    name text NOT NULL,
    email text NOT NULL,
    service_code text NOT NULL,
    respondent_type text NOT NULL,
    UNIQUE (study_id, provider_id, client_ref)
);

-- An invitation and its timer: next_attempt_due_at is the reminder_due_at, claimed
-- with FOR UPDATE SKIP LOCKED by any number of schedulers.
CREATE TABLE {schema}.invitations (
    invitation_id uuid PRIMARY KEY,
    contact_id uuid NOT NULL UNIQUE REFERENCES {schema}.contacts ON DELETE CASCADE,
    study_id text NOT NULL,
    provider_id text NOT NULL,
    service_code text NOT NULL,
    respondent_type text NOT NULL,
    questionnaire_id text NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'responded', 'undeliverable')),
    attempts int NOT NULL DEFAULT 0,
    next_attempt_due_at timestamptz,
    responded_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invitations_due ON {schema}.invitations (next_attempt_due_at)
    WHERE next_attempt_due_at IS NOT NULL;
CREATE INDEX invitations_provider ON {schema}.invitations (study_id, provider_id);

-- Every email handed to SMTP, by its deterministic Message-ID.
CREATE TABLE {schema}.email_log (
    message_id text PRIMARY KEY,
    invitation_id uuid NOT NULL,
    attempt int NOT NULL,
    outcome text NOT NULL,
    smtp_reply text NOT NULL,
    logged_at timestamptz NOT NULL DEFAULT now()
);
