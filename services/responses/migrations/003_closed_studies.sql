-- Studies whose fieldwork closed (reports.fieldwork_closed): their links and late paper or phone
-- answers are refused from then on.
CREATE TABLE {schema}.closed_studies (
    study_id text PRIMARY KEY,
    closed_at timestamptz NOT NULL
);
