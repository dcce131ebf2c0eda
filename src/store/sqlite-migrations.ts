/**
 * SQLite schema, one entry per version. Applied in order inside a transaction; PRAGMA user_version
 * records the last one applied. Never edit an applied entry: append a new one.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  // 1: users, sessions, refresh tokens, audit events
  `
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
  ) STRICT;

  CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL,
    absolute_expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    revoke_reason TEXT,
    user_agent TEXT,
    ip TEXT
  ) STRICT;
  CREATE INDEX sessions_user ON sessions(user_id, created_at);

  CREATE TABLE refresh_tokens (
    hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    created_at INTEGER NOT NULL,
    rotated_at INTEGER,
    child_hash TEXT,
    child_sealed TEXT
  ) STRICT;
  CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

  CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    at INTEGER NOT NULL,
    user_id TEXT,
    actor_id TEXT,
    session_id TEXT,
    ip TEXT,
    user_agent TEXT,
    request_id TEXT,
    details TEXT NOT NULL
  ) STRICT;
  CREATE INDEX audit_user ON audit_events(user_id, seq);
  CREATE INDEX audit_type ON audit_events(type, seq);
  `,
  // 2: email verification, single-use mail tokens, the mail outbox (issue 17)
  `
  ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;

  CREATE TABLE one_time_tokens (
    hash TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    email TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    consumed_at INTEGER
  ) STRICT;
  CREATE INDEX one_time_tokens_user ON one_time_tokens(user_id, purpose);
  CREATE INDEX one_time_tokens_expiry ON one_time_tokens(expires_at);

  CREATE TABLE outbox_messages (
    id TEXT PRIMARY KEY,
    template TEXT NOT NULL,
    recipient TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    sent_at INTEGER,
    claim_id TEXT
  ) STRICT;
  CREATE INDEX outbox_due ON outbox_messages(status, next_attempt_at);
  CREATE INDEX outbox_created ON outbox_messages(created_at);
  `,
  // 3: DPoP-bound sessions (issue 19)
  `
  ALTER TABLE sessions ADD COLUMN dpop_jkt TEXT;
  `,
  // 4: the assurance of the sign-in behind each session: amr (space-separated), acr, auth_time (issue 18)
  `
  ALTER TABLE sessions ADD COLUMN amr TEXT;
  ALTER TABLE sessions ADD COLUMN acr TEXT;
  ALTER TABLE sessions ADD COLUMN auth_time INTEGER;
  `,
  // 5: passkeys and WebAuthn challenges (issue 22)
  `
  CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    public_key TEXT NOT NULL,
    counter INTEGER NOT NULL,
    transports TEXT NOT NULL,
    backed_up INTEGER NOT NULL,
    device_type TEXT NOT NULL,
    aaguid TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    counter_regressed_at INTEGER
  ) STRICT;
  CREATE INDEX passkeys_user ON passkeys(user_id, created_at);

  CREATE TABLE webauthn_challenges (
    hash TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    user_id TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    consumed_at INTEGER
  ) STRICT;
  CREATE INDEX webauthn_challenges_expiry ON webauthn_challenges(expires_at);
  `,
  // 6: TOTP factors, recovery codes, MFA sign-in challenges (issue 18)
  `
  CREATE TABLE totp_factors (
    user_id TEXT PRIMARY KEY REFERENCES users(id),
    secret_sealed TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    confirmed_at INTEGER,
    last_used_step INTEGER
  ) STRICT;

  CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users(id),
    hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    used_at INTEGER,
    PRIMARY KEY (user_id, hash)
  ) STRICT;

  CREATE TABLE mfa_challenges (
    hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    consumed_at INTEGER,
    locked_at INTEGER
  ) STRICT;
  CREATE INDEX mfa_challenges_user ON mfa_challenges(user_id);
  CREATE INDEX mfa_challenges_expiry ON mfa_challenges(expires_at);
  `,
  // 7: server-side secrets made on first use, e.g. the key of passkey decoy credentials (issue 22)
  `
  CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT;
  `,
  // 8: imported users: an id from the system they came from, the digest of the hash imported (issue 21)
  `
  ALTER TABLE users ADD COLUMN external_id TEXT;
  ALTER TABLE users ADD COLUMN imported_hash_digest TEXT;
  CREATE INDEX users_external_id ON users(external_id) WHERE external_id IS NOT NULL;
  `,
  // 9: the known client a session was signed in by, for RFC 9068 client_id (issue 19)
  `
  ALTER TABLE sessions ADD COLUMN client_id TEXT;
  `,
  // 10: second-factor attempts per account across challenges, in a fixed window (MFA_ACCOUNT_MAX_FAILURES)
  `
  CREATE TABLE mfa_failures (
    user_id TEXT PRIMARY KEY REFERENCES users(id),
    window_start INTEGER NOT NULL,
    failures INTEGER NOT NULL
  ) STRICT;
  `,
  // 11: the known client a password sign-in named, kept on its MFA challenge for the session it completes into
  `
  ALTER TABLE mfa_challenges ADD COLUMN client_id TEXT;
  `,
]
