-- The request an audit event happened in: the X-Request-ID on that request's log lines, so a log
-- line leads to its audit events and back. No index: looked up by hand, rarely, not on a hot path.
ALTER TABLE audit_events ADD COLUMN request_id TEXT;
