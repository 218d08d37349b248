-- An email code is reserved (counted against the send limits) before it is mailed, and usable
-- only once the mail went out: parallel requests cannot all pass the limits before any is stored.
ALTER TABLE email_codes ADD COLUMN sent_at INTEGER;
UPDATE email_codes SET sent_at = created_at;
