-- Responses: answers under a pseudonymous invitation id; no names or addresses here.
CREATE TABLE {schema}.invitations (
    invitation_id uuid PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    study_id text NOT NULL,
    provider_id text NOT NULL,
    service_code text NOT NULL,
    respondent_type text NOT NULL,
    questionnaire_id text NOT NULL,
    issued_at timestamptz NOT NULL
);

-- One final response per invitation, whatever the mode and however often it is posted.
CREATE TABLE {schema}.responses (
    response_id uuid PRIMARY KEY,
    invitation_id uuid NOT NULL UNIQUE REFERENCES {schema}.invitations,
    questionnaire_id text NOT NULL,
    questionnaire_version int NOT NULL,
    mode text NOT NULL CHECK (mode IN ('web', 'phone', 'paper')),
    answers jsonb NOT NULL,
    usable boolean NOT NULL,
    submitted_at timestamptz NOT NULL DEFAULT now()
);
