-- The portal's own rooms: its users (staff, never respondents), one-time sign-in links
-- (only their hash), sessions (only their hash), sign-in requests (for the rate limit)
-- and the audit log the bureau reads.

CREATE TABLE {schema}.users (
    user_id uuid PRIMARY KEY,
    email text NOT NULL,
    role text NOT NULL CHECK (role IN ('bureau', 'provider', 'interviewer')),
    provider_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    invited_by uuid REFERENCES {schema}.users (user_id),
    removed_at timestamptz,
    CHECK ((role = 'provider') = (provider_id IS NOT NULL))
);
-- One live account per address; a removed one may be invited again.
CREATE UNIQUE INDEX users_live_email ON {schema}.users (lower(email)) WHERE removed_at IS NULL;

CREATE TABLE {schema}.signin_links (
    token_hash text PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES {schema}.users (user_id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX signin_links_user ON {schema}.signin_links (user_id);

CREATE TABLE {schema}.sessions (
    session_hash text PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES {schema}.users (user_id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    ended_at timestamptz
);
CREATE INDEX sessions_user ON {schema}.sessions (user_id);

-- Who asked for a sign-in link, as hashes (of the address typed, of the client address).
CREATE TABLE {schema}.signin_requests (
    requested_at timestamptz NOT NULL DEFAULT now(),
    requester_hash text NOT NULL
);
CREATE INDEX signin_requests_recent ON {schema}.signin_requests (requester_hash, requested_at);

CREATE TABLE {schema}.audit_log (
    entry_id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    user_id uuid REFERENCES {schema}.users (user_id),
    action text NOT NULL,
    subject text NOT NULL DEFAULT '',
    details jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at ON {schema}.audit_log (at DESC);
