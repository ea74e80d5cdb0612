-- Scoring, issue 7: where the clients come from (Blik op Werk summary page, "Cliënten afkomstig
-- uit de volgende provincie(s)"). The province (provincie) of each invitation that has one, as
-- invitations.issued carries it (never the postcode), and per provider and respondent type how
-- many were invited from each province: counted as invitations come, recomputed from the first.
CREATE TABLE {schema}.invitation_provinces (
    invitation_id uuid PRIMARY KEY,
    study_id text NOT NULL,
    provider_id text NOT NULL,
    respondent_type text NOT NULL,
    province text NOT NULL
);
CREATE INDEX invitation_provinces_study ON {schema}.invitation_provinces (study_id);

CREATE TABLE {schema}.province_counts (
    study_id text NOT NULL,
    provider_id text NOT NULL,
    respondent_type text NOT NULL,
    province text NOT NULL,
    invited int NOT NULL,
    PRIMARY KEY (study_id, provider_id, respondent_type, province)
);
