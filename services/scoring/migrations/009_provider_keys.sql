-- Scoring, issue 8: providers' own API keys, as SHA-256 hashes from invitations.provider_registered
-- (never the key itself), so a provider reads the fieldwork status of its own rows only.
CREATE TABLE {schema}.provider_keys (
    provider_id text PRIMARY KEY,
    api_key_hash text NOT NULL UNIQUE,
    registered_at timestamptz NOT NULL DEFAULT now()
);
