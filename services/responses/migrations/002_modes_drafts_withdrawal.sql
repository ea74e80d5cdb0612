-- Phone and paper next to the web, partial saves, and withdrawal (AVG).

-- The short code printed on letters and paper forms; shared.tokens.short_code is its twin.
CREATE FUNCTION {schema}.short_code(invitation_id uuid) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT string_agg(
        substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substring(bits FROM i * 5 + 1 FOR 5)::bit(5)::int + 1, 1),
        '' ORDER BY i)
    FROM (SELECT ('x' || encode(substring(sha256('short:'::bytea || uuid_send(invitation_id)) FROM 1 FOR 7),
                                'hex'))::bit(56) AS bits) AS digest,
         generate_series(0, 9) AS i
$$;

ALTER TABLE {schema}.invitations
    ADD COLUMN short_code text GENERATED ALWAYS AS ({schema}.short_code(invitation_id)) STORED,
    -- Set when the respondent withdrew: the link is closed and nothing can be submitted again.
    ADD COLUMN withdrawn_at timestamptz;
CREATE INDEX invitations_short_code ON {schema}.invitations (short_code);

-- interviewer_id: the callcentre's opaque code for the interviewer (never a name), phone only.
-- event_id: the responses.submitted event, so a withdrawal can scrub its answers from the outbox.
-- answers IS NULL once withdrawn; the row stays so that the invitation stays answered.
ALTER TABLE {schema}.responses
    ADD COLUMN interviewer_id text,
    ADD COLUMN event_id uuid,
    ADD COLUMN withdrawn_at timestamptz,
    ALTER COLUMN answers DROP NOT NULL,
    ADD CONSTRAINT responses_phone_has_interviewer CHECK ((mode = 'phone') = (interviewer_id IS NOT NULL)),
    ADD CONSTRAINT responses_answers_until_withdrawn CHECK ((answers IS NULL) = (withdrawn_at IS NOT NULL));

-- Partial saves of the web questionnaire: the valid answers so far and the page to resume at.
-- Deleted with the final response and on withdrawal.
CREATE TABLE {schema}.drafts (
    invitation_id uuid PRIMARY KEY REFERENCES {schema}.invitations,
    answers jsonb NOT NULL,
    page int NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
