-- Scoring, issue 8: when each invitation was issued (its invitations.issued event's occurred_at),
-- so the fieldwork forecast knows how long each person has had to answer. NULL for invitations
-- kept before this migration: the forecast treats them as issued when first seen without a time.
ALTER TABLE {schema}.issued ADD COLUMN issued_at timestamptz;
