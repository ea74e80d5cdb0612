-- Wave plans (benaderingstraject) over email, post and phone; letters and their waves;
-- call tasks for the callcentre; opt-out; the approach history per person and mode.

-- The plan is fixed at invitation: the scheme's stages the person can be reached in.
-- (stage, stage_attempts, reached) is where they are; next_attempt_due_at stays the timer of
-- email and post attempts (claimed FOR UPDATE SKIP LOCKED). A phone stage moves the timer to
-- the call task.
ALTER TABLE {schema}.invitations
    ADD COLUMN plan jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN stage int,
    ADD COLUMN stage_attempts int NOT NULL DEFAULT 0,
    ADD COLUMN mode text CHECK (mode IN ('email', 'post', 'phone')),
    ADD COLUMN reached boolean NOT NULL DEFAULT false,
    ADD COLUMN email_retries int NOT NULL DEFAULT 0,
    ADD COLUMN token_hash text,
    ADD COLUMN phone_first boolean NOT NULL DEFAULT false,
    ADD COLUMN opted_out_at timestamptz,
    DROP CONSTRAINT invitations_status_check,
    ADD CONSTRAINT invitations_status_check
        CHECK (status IN ('pending', 'sent', 'responded', 'undeliverable', 'opted_out', 'done'));
-- Invitations made before plans existed: email, as before.
UPDATE {schema}.invitations SET mode = 'email', stage = 0 WHERE next_attempt_due_at IS NOT NULL;
CREATE INDEX invitations_mode_due ON {schema}.invitations (mode, next_attempt_due_at)
    WHERE next_attempt_due_at IS NOT NULL;
CREATE UNIQUE INDEX invitations_token_hash ON {schema}.invitations (token_hash) WHERE token_hash IS NOT NULL;

-- One row per attempt made (email sent or bounced, letter printed or returned, call made):
-- the methodological accounting per person and mode. Message-ID / letter id / task id.
CREATE TABLE {schema}.approaches (
    approach_id bigserial PRIMARY KEY,
    invitation_id uuid NOT NULL REFERENCES {schema}.invitations ON DELETE CASCADE,
    mode text NOT NULL CHECK (mode IN ('email', 'post', 'phone')),
    attempt int NOT NULL,
    outcome text NOT NULL,
    reference text NOT NULL DEFAULT '',
    made_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX approaches_invitation ON {schema}.approaches (invitation_id);

-- A wave of letters for the mail house: one PDF and one manifest CSV.
CREATE TABLE {schema}.letter_waves (
    wave_id bigserial PRIMARY KEY,
    letters int NOT NULL,
    pdf_path text NOT NULL,
    manifest_path text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {schema}.letters (
    letter_id uuid PRIMARY KEY,
    invitation_id uuid NOT NULL REFERENCES {schema}.invitations ON DELETE CASCADE,
    wave_id bigint NOT NULL REFERENCES {schema}.letter_waves,
    attempt int NOT NULL,
    short_code text NOT NULL,
    returned_at timestamptz,
    return_reason text,
    UNIQUE (invitation_id, attempt)
);
CREATE INDEX letters_short_code ON {schema}.letters (short_code);

-- A call task: one person for the callcentre, with its own timer (due_at) and attempts.
CREATE TABLE {schema}.call_tasks (
    task_id uuid PRIMARY KEY,
    invitation_id uuid NOT NULL UNIQUE REFERENCES {schema}.invitations ON DELETE CASCADE,
    study_id text NOT NULL,
    provider_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('option', 'inburgering')),
    state text NOT NULL DEFAULT 'open'
        CHECK (state IN ('open', 'completed', 'closed', 'exhausted', 'cancelled')),
    attempts int NOT NULL DEFAULT 0,
    max_attempts int NOT NULL,
    interval_seconds double precision NOT NULL,
    due_at timestamptz NOT NULL,
    appointment_at timestamptz,
    dayparts jsonb NOT NULL DEFAULT '{}',  -- failed attempts per part of the day
    agent_id text,  -- the agent the task is handed to until leased_until
    leased_until timestamptz,
    last_disposition text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX call_tasks_due ON {schema}.call_tasks (due_at) WHERE state = 'open';
CREATE INDEX call_tasks_provider ON {schema}.call_tasks (study_id, provider_id, kind, state);
