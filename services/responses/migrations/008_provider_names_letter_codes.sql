-- The provider's display name (from invitations.issued version 2), piped into the questions
-- that talk about it; NULL for invitations learnt from version-1 events.
ALTER TABLE {schema}.invitations ADD COLUMN provider_name text;
