-- A probe service for testing the shared delivery mechanisms: it records what it handled.
CREATE TABLE {schema}.handled (
    event_id uuid NOT NULL,
    invitation_id uuid NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now()
);
