-- AuditLog.signedInFrom runs on every password attempt for a known user: "has this user started
-- a session from this IP before?". Through audit_by_user it read every audit row of the user, so
-- an account's attempts got slower as its history grew. Partial: only session.started rows, the
-- only ones it asks about, so the index stays a fraction of the table.
CREATE INDEX audit_sign_in_lookup ON audit_events(user_id, ip) WHERE type = 'session.started';
