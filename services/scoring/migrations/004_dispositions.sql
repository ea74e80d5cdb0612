-- Scoring, issue 6: AAPOR final dispositions. Per invitation the best class its approaches gave
-- (invitations.approached, invitations.opted_out, invitations.undeliverable) and the class of its
-- counted questionnaire (I usable, P not usable; NULL when none counts, or it was withdrawn).
-- The final disposition is the better of the two (services/scoring/domain.py); the units count
-- the approached invitations without a counted questionnaire per class (I and P are usable and
-- partial). Ids and codes only.
CREATE TABLE {schema}.dispositions (
    invitation_id uuid PRIMARY KEY,
    study_id text NOT NULL,
    provider_id text NOT NULL,
    service_code text NOT NULL,
    respondent_type text NOT NULL,
    approach text,
    answered text
);
CREATE INDEX dispositions_provider ON {schema}.dispositions (study_id, provider_id);

ALTER TABLE {schema}.units
    ADD COLUMN refusal int NOT NULL DEFAULT 0,
    ADD COLUMN non_contact int NOT NULL DEFAULT 0,
    ADD COLUMN other int NOT NULL DEFAULT 0,
    ADD COLUMN unknown_household int NOT NULL DEFAULT 0,
    ADD COLUMN unknown_other int NOT NULL DEFAULT 0;

-- Invitations found undeliverable before this migration: AAPOR 3.30 (UO), unless a questionnaire
-- counts for them.
INSERT INTO {schema}.dispositions
    (invitation_id, study_id, provider_id, service_code, respondent_type, approach, answered)
SELECT i.invitation_id, i.study_id, i.provider_id, i.service_code, i.respondent_type, 'UO',
       CASE WHEN r.withdrawn_at IS NULL AND r.usable THEN 'I'
            WHEN r.withdrawn_at IS NULL AND NOT r.usable THEN 'P' END
FROM {schema}.issued i LEFT JOIN {schema}.responses r USING (invitation_id)
WHERE i.undeliverable;

WITH counted AS (
    SELECT study_id, p.provider_id, service_code, respondent_type, count(*) AS n
    FROM {schema}.dispositions d
    CROSS JOIN LATERAL (VALUES (d.provider_id), ('')) AS p (provider_id)
    WHERE d.answered IS NULL
    GROUP BY 1, 2, 3, 4
)
UPDATE {schema}.units u SET unknown_other = c.n, version = gen_random_uuid()
FROM counted c
WHERE (u.study_id, u.provider_id, u.service_code, u.respondent_type)
    = (c.study_id, c.provider_id, c.service_code, c.respondent_type);
