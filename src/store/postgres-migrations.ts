import type { Pool } from 'pg'
import { inTransaction } from './pg-transaction.ts'

/**
 * PostgreSQL schema, one entry per version. Each runs in the migration transaction and is recorded
 * in schema_migrations. Never edit an applied entry: append a new one. Times are BIGINT epoch ms,
 * like SQLite's INTEGER columns, so both adapters hand the service layer the same numbers.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  // 1: users, sessions, refresh tokens, audit events
  `
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    -- byte order, whatever the database locale: the same listing and keyset pages as SQLite
    email TEXT COLLATE "C" NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT
  );

  CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoke_reason TEXT,
    user_agent TEXT,
    ip TEXT
  );
  CREATE INDEX sessions_user ON sessions(user_id, created_at);

  CREATE TABLE refresh_tokens (
    hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    created_at BIGINT NOT NULL,
    rotated_at BIGINT,
    child_hash TEXT,
    child_sealed TEXT
  );
  CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

  CREATE TABLE audit_events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type TEXT NOT NULL,
    at BIGINT NOT NULL,
    user_id TEXT,
    actor_id TEXT,
    session_id TEXT,
    ip TEXT,
    user_agent TEXT,
    request_id TEXT,
    details JSONB NOT NULL
  );
  CREATE INDEX audit_user ON audit_events(user_id, seq);
  CREATE INDEX audit_type ON audit_events(type, seq);
  `,
  // 2: email verification, single-use mail tokens, the mail outbox (issue 17)
  `
  ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT false;

  CREATE TABLE one_time_tokens (
    hash TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    email TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT
  );
  CREATE INDEX one_time_tokens_user ON one_time_tokens(user_id, purpose);
  CREATE INDEX one_time_tokens_expiry ON one_time_tokens(expires_at);

  CREATE TABLE outbox_messages (
    id TEXT PRIMARY KEY,
    template TEXT NOT NULL,
    recipient TEXT NOT NULL,
    data JSONB NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    sent_at BIGINT,
    claim_id TEXT
  );
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
  ALTER TABLE sessions ADD COLUMN auth_time BIGINT;
  `,
  // 5: passkeys and WebAuthn challenges (issue 22)
  `
  CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    public_key TEXT NOT NULL,
    counter BIGINT NOT NULL,
    transports TEXT NOT NULL,
    backed_up BOOLEAN NOT NULL,
    device_type TEXT NOT NULL,
    aaguid TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    counter_regressed_at BIGINT
  );
  CREATE INDEX passkeys_user ON passkeys(user_id, created_at);

  CREATE TABLE webauthn_challenges (
    hash TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    user_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT
  );
  CREATE INDEX webauthn_challenges_expiry ON webauthn_challenges(expires_at);
  `,
  // 6: TOTP factors, recovery codes, MFA sign-in challenges (issue 18)
  `
  CREATE TABLE totp_factors (
    user_id TEXT PRIMARY KEY REFERENCES users(id),
    secret_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    confirmed_at BIGINT,
    last_used_step BIGINT
  );

  CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users(id),
    hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, hash)
  );

  CREATE TABLE mfa_challenges (
    hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    failures INT NOT NULL DEFAULT 0,
    consumed_at BIGINT,
    locked_at BIGINT
  );
  CREATE INDEX mfa_challenges_user ON mfa_challenges(user_id);
  CREATE INDEX mfa_challenges_expiry ON mfa_challenges(expires_at);
  `,
  // 7: server-side secrets made on first use, e.g. the key of passkey decoy credentials (issue 22)
  `
  CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
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
    window_start BIGINT NOT NULL,
    failures INT NOT NULL
  );
  `,
  // 11: the known client a password sign-in named, kept on its MFA challenge for the session it completes into
  `
  ALTER TABLE mfa_challenges ADD COLUMN client_id TEXT;
  `,
]

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/** Throws unless `schema` is a plain lower-case identifier, so it can be spliced into SQL and startup options. */
export function assertSchemaName(schema: string): void {
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid PostgreSQL schema name: ${JSON.stringify(schema)}`)
}

/**
 * Applies pending migrations in one transaction; returns how many ran. Used at start and by
 * `latchkey migrate`. Instances starting together queue on a transaction-scoped advisory lock and
 * each re-reads schema_migrations after taking it, so every migration runs once. The lock key is
 * the same for every schema: migrations take milliseconds, and one key cannot be missed by two
 * callers that spell the same schema differently (explicitly vs. through the default search_path).
 * Without `schema`, tables go where the connection's search_path points.
 */
export async function migratePostgres(pool: Pool, schema?: string): Promise<number> {
  if (schema !== undefined) assertSchemaName(schema)
  return inTransaction(pool, 'BEGIN', async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('latchkey:migrate'))")
    if (schema !== undefined) {
      // Even IF NOT EXISTS races on the catalog's unique index, so schema creation waits for the lock too.
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
      await client.query(`SET LOCAL search_path TO ${schema}`)
    }
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, applied_at BIGINT NOT NULL)')
    const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations')
    const current = rows[0]?.version ?? 0
    for (let version = current + 1; version <= POSTGRES_MIGRATIONS.length; version++) {
      await client.query(POSTGRES_MIGRATIONS[version - 1] as string)
      await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [version, Date.now()])
    }
    return Math.max(0, POSTGRES_MIGRATIONS.length - current)
  })
}
