-- Challenges and devices: the user's factors, one-time codes, devices, and a transaction's challenge.
ALTER TABLE users ADD COLUMN alt_email TEXT; -- set only once confirmed by a code sent to it
ALTER TABLE users ADD COLUMN alt_email_verified_at INTEGER;

CREATE TABLE totp_factors (
  user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  secret_sealed TEXT NOT NULL, -- AES-256-GCM, bound to the user (crypto/secret-box.ts)
  last_step INTEGER, -- the last accepted time step: each code is accepted once
  confirmed_at INTEGER, -- null while the enrolment waits for its first code
  created_at INTEGER NOT NULL
);

CREATE TABLE kba_answers (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  slot INTEGER NOT NULL CHECK (slot BETWEEN 0 AND 2),
  question TEXT NOT NULL,
  answer_hash TEXT NOT NULL, -- argon2id of the normalised answer
  PRIMARY KEY (user_id, slot)
);

-- The two questions drawn for an account, kept until answered right: starting another sign-in
-- never draws an easier pair.
CREATE TABLE kba_pending (
  user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  slots_json TEXT NOT NULL
);

-- One-time codes sent by email, for one purpose: a login transaction or confirming an address.
CREATE TABLE email_codes (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  purpose TEXT NOT NULL,
  address TEXT NOT NULL,
  ip TEXT NOT NULL, -- who asked for it: sends are limited per IP too
  code_hash TEXT NOT NULL, -- HMAC-SHA256 under the server secret
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER
);
CREATE INDEX email_codes_by_user ON email_codes(user_id, created_at);
CREATE INDEX email_codes_by_ip ON email_codes(ip, created_at);

CREATE TABLE devices (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash TEXT NOT NULL UNIQUE,
  previous_token_hash TEXT, -- the value before the last rotation: presented again, it betrays a copied cookie
  browser TEXT,
  os TEXT,
  mobile INTEGER,
  first_seen_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  last_ip TEXT NOT NULL,
  trusted_until INTEGER,
  revoked_at INTEGER
);
CREATE INDEX devices_by_user ON devices(user_id);

-- The challenge step of a login transaction: offered methods, the chosen one, the KBA questions
-- asked (fixed until answered), and the methods passed in this sign-in.
ALTER TABLE transactions ADD COLUMN challenge_json TEXT;
ALTER TABLE transactions ADD COLUMN passed_json TEXT NOT NULL DEFAULT '[]';
-- A re-authentication before a sensitive change: it asks for the account's strongest factor.
ALTER TABLE transactions ADD COLUMN step_up INTEGER NOT NULL DEFAULT 0;
