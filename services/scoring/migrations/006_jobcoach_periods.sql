-- Scoring, issue 7: the jobcoach period (jobcoachperiode) of each invitation that has one (UWV
-- jobcoach), as the pseudonymous key invitations.issued carries (a keyed hash, never the
-- provider's reference). The werknemer and the werkgever of one period share the key; the
-- snapshot pairs their grades per period (services/scoring/domain.py: pair_periods).
CREATE TABLE {schema}.jobcoach_periods (
    invitation_id uuid PRIMARY KEY,
    study_id text NOT NULL,
    provider_id text NOT NULL,
    period text NOT NULL
);
CREATE INDEX jobcoach_periods_provider ON {schema}.jobcoach_periods (study_id, provider_id);
