-- Every table that expires has an index for its purge (src/store/sweep.ts), and every hot-path
-- lookup an index of its own: nothing a request or the sweeper does scans a whole table.

CREATE INDEX seen_requests_expiry ON seen_requests(expires_at);

-- Sessions end three ways: signed out, past the absolute lifetime, idle too long.
CREATE INDEX sessions_ended ON sessions(ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX sessions_expiry ON sessions(expires_at);
CREATE INDEX sessions_last_seen ON sessions(last_seen_at);

-- The latest code for a user and purpose, without sorting the user's codes; and the purge.
CREATE INDEX email_codes_latest ON email_codes(user_id, purpose, created_at);
CREATE INDEX email_codes_created ON email_codes(created_at);

CREATE INDEX account_failures_last ON account_failures(last_failure_at);

CREATE INDEX devices_revoked ON devices(revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX devices_last_seen ON devices(last_seen_at);

-- A LogoutResponse finds its chain by the request it answers.
CREATE INDEX logout_chains_by_request ON logout_chains(current_request_id);
CREATE INDEX logout_chains_expiry ON logout_chains(expires_at);

CREATE INDEX saml_request_cache_created ON saml_request_cache(created_at);

-- rate-limiter-flexible's table (RateLimiterSQLite creates it with IF NOT EXISTS, the same
-- columns); created here so that its purge has an index. `expire` is in ms since the epoch.
CREATE TABLE IF NOT EXISTS rate_limits (
  key TEXT PRIMARY KEY,
  points INTEGER NOT NULL DEFAULT 0,
  expire INTEGER
);
CREATE INDEX rate_limits_expiry ON rate_limits(expire);

-- Audit retention. The log stays append-only: a row can be deleted only when it is older than the
-- retention cutoff the sweep has recorded, and that cutoff only moves forward.
CREATE INDEX audit_by_time ON audit_events(at);
CREATE TABLE audit_retention (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  purged_before TEXT NOT NULL -- ISO 8601 UTC, compared as text like audit_events.at
);
INSERT INTO audit_retention (id, purged_before) VALUES (1, '');
CREATE TRIGGER audit_retention_forward BEFORE UPDATE ON audit_retention WHEN NEW.purged_before < OLD.purged_before BEGIN
  SELECT RAISE(ABORT, 'the audit retention cutoff only moves forward');
END;
CREATE TRIGGER audit_retention_kept BEFORE DELETE ON audit_retention BEGIN
  SELECT RAISE(ABORT, 'the audit retention cutoff only moves forward');
END;
DROP TRIGGER audit_no_delete;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_events
WHEN OLD.at >= (SELECT purged_before FROM audit_retention WHERE id = 1) BEGIN
  SELECT RAISE(ABORT, 'audit events are append-only: only the retention sweep removes events older than its cutoff');
END;
