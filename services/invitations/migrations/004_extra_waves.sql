-- Extra waves: the bureau's one action for providers heading below the publication requirement,
-- one more reminder or a round of calls for their non-respondents. The key makes it idempotent:
-- the same request again finds its wave and approaches nobody.
CREATE TABLE {schema}.extra_waves (
    wave_key text PRIMARY KEY,
    study_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('reminder', 'phone')),
    providers text[] NOT NULL,
    result jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX extra_waves_study ON {schema}.extra_waves (study_id, created_at);
-- Who the wave approaches, in which mode and with which attempt number of that mode.
CREATE TABLE {schema}.extra_wave_members (
    wave_key text NOT NULL REFERENCES {schema}.extra_waves ON DELETE CASCADE,
    invitation_id uuid NOT NULL REFERENCES {schema}.invitations ON DELETE CASCADE,
    mode text NOT NULL CHECK (mode IN ('email', 'post', 'phone')),
    attempt int NOT NULL,
    PRIMARY KEY (wave_key, invitation_id)
);
CREATE INDEX extra_wave_members_invitation ON {schema}.extra_wave_members (invitation_id);
