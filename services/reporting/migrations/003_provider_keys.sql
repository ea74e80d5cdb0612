-- Providers' own API keys, as SHA-256 hashes from invitations.provider_registered: a provider
-- reads its own reports and responds to its own draft with the key the bureau gave it.
CREATE TABLE {schema}.provider_keys (
    provider_id text PRIMARY KEY,
    api_key_hash text NOT NULL UNIQUE,
    registered_at timestamptz NOT NULL DEFAULT now()
);
