-- Scoring, issue 6: each unit row keeps the version it replaced, so the batch that changed it
-- knows from which state it went to which (RETURNING previous_version, version). The service
-- then keeps the new tally in memory (the one it remembered at the previous version plus the
-- batch's change, exactly what the row holds) and its next snapshot need not read the unit's
-- answer and grade counts back. NULL: the row was inserted (nothing was counted before).
ALTER TABLE {schema}.units ADD COLUMN previous_version uuid;
