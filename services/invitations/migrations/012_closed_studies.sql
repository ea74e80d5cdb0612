-- Studies whose fieldwork closed (reports.fieldwork_closed): nobody of theirs is approached again
-- (no reminder, letter or call) and no delivery or extra wave is taken for them.
CREATE TABLE {schema}.closed_studies (
    study_id text PRIMARY KEY,
    closed_at timestamptz NOT NULL
);
