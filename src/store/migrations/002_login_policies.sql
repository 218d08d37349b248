-- Login policies: per app, and one default (scope 'default'). The adaptive policy is named;
-- policies themselves come from policies/*.yaml (and, later, the admin console).
CREATE TABLE login_policies (
  scope TEXT PRIMARY KEY, -- 'default' or an app ID
  policy_name TEXT NOT NULL,
  mode TEXT NOT NULL CHECK (mode IN ('enforce', 'report-only')),
  first_factors_json TEXT NOT NULL DEFAULT '["password"]',
  updated_at INTEGER NOT NULL
);

-- An app's login policy goes with the app.
CREATE TRIGGER apps_delete_login_policy AFTER DELETE ON apps BEGIN
  DELETE FROM login_policies WHERE scope = OLD.id;
END;
