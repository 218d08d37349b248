-- Foundation: users, apps, login transactions, SSO sessions, audit.
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE COLLATE NOCASE,
  email TEXT NOT NULL UNIQUE COLLATE NOCASE,
  first_name TEXT NOT NULL DEFAULT '',
  last_name TEXT NOT NULL DEFAULT '',
  groups_json TEXT NOT NULL DEFAULT '[]',
  is_admin INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  password_hash TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE apps (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  entity_id TEXT NOT NULL UNIQUE,
  acs_json TEXT NOT NULL,
  slo_url TEXT,
  slo_binding TEXT,
  nameid_format TEXT NOT NULL,
  attributes_json TEXT NOT NULL DEFAULT '[]',
  sign_assertion INTEGER NOT NULL DEFAULT 1,
  sign_response INTEGER NOT NULL DEFAULT 0,
  want_requests_signed INTEGER NOT NULL DEFAULT 0,
  cert_pem TEXT,
  builtin TEXT,
  created_at INTEGER NOT NULL
);

CREATE TABLE transactions (
  id TEXT PRIMARY KEY,
  binding_hash TEXT NOT NULL,
  app_id TEXT REFERENCES apps(id) ON DELETE CASCADE, -- null: sign-in to Gatehouse itself
  request_id TEXT,
  relay_state TEXT,
  acs_url TEXT,
  state TEXT NOT NULL,
  user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
  client_ip TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  completed_at INTEGER
);
CREATE INDEX transactions_expiry ON transactions(expires_at);

-- AuthnRequest IDs seen per app, so a captured request cannot start a second sign-in.
CREATE TABLE seen_requests (
  app_id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (app_id, request_id)
);

-- Consecutive failed sign-ins per account key (the normalised login, so unknown names are throttled alike).
CREATE TABLE account_failures (
  account_key TEXT PRIMARY KEY,
  consecutive INTEGER NOT NULL,
  last_failure_at INTEGER NOT NULL
);

CREATE TABLE sessions (
  id_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  auth_method TEXT NOT NULL,
  auth_time INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  ended_at INTEGER
);

CREATE TABLE session_apps (
  session_hash TEXT NOT NULL REFERENCES sessions(id_hash) ON DELETE CASCADE,
  app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
  session_index TEXT NOT NULL UNIQUE,
  name_id TEXT NOT NULL,
  name_id_format TEXT NOT NULL,
  signed_in_at INTEGER NOT NULL,
  PRIMARY KEY (session_hash, app_id)
);

-- A front-channel single logout walks the session's apps one redirect at a time.
CREATE TABLE logout_chains (
  id TEXT PRIMARY KEY,
  pending_json TEXT NOT NULL,
  current_request_id TEXT,
  current_app_id TEXT,
  initiator_app_id TEXT,
  initiator_request_id TEXT,
  relay_state TEXT,
  expires_at INTEGER NOT NULL
);

-- Request IDs a SAML SP inside Gatehouse (the demo app) has issued: node-saml's cacheProvider.
CREATE TABLE saml_request_cache (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE audit_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  type TEXT NOT NULL,
  outcome TEXT NOT NULL,
  user_id TEXT,
  username TEXT,
  app_id TEXT,
  ip TEXT,
  transaction_id TEXT,
  reason TEXT,
  detail_json TEXT
);
CREATE INDEX audit_by_user ON audit_events(user_id, id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
