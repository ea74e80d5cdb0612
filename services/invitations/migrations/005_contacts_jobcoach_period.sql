-- UWV jobcoach (seed 001): a werknemer or werkgever fills in a form after each jobcoach period, so a
-- person may be delivered once per period. The period's reference is kept with the contact (it is
-- the provider's own reference: it stays in this schema; events carry its keyed hash).
ALTER TABLE {schema}.contacts ADD COLUMN jobcoach_period text NOT NULL DEFAULT '';
ALTER TABLE {schema}.contacts DROP CONSTRAINT contacts_study_id_provider_id_client_ref_key;
ALTER TABLE {schema}.contacts
    ADD CONSTRAINT contacts_once_per_period UNIQUE (study_id, provider_id, client_ref, jobcoach_period);
CREATE INDEX contacts_period ON {schema}.contacts (study_id, provider_id, jobcoach_period)
    WHERE jobcoach_period <> '';
