-- Whether the callcentre may interview the person (invitations.issued's phone_allowed): NULL for
-- invitations issued before the invitations service said so, which are not refused.
ALTER TABLE {schema}.invitations ADD COLUMN phone_allowed boolean;
