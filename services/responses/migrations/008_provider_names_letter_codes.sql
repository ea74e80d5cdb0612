-- The provider's display name (from invitations.issued version 2), piped into the questions
-- that talk about it; NULL for invitations learnt from version-1 events.
ALTER TABLE {schema}.invitations ADD COLUMN provider_name text;

-- sha256 of the letter's personal code (typed in at /code), from invitations.issued version 2.
ALTER TABLE {schema}.invitations ADD COLUMN letter_code_hash text;
CREATE INDEX invitations_letter_code_hash ON {schema}.invitations (letter_code_hash);
