import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openStore } from '../../src/store/open-store.ts'
import { PASSWORD } from '../helpers/app.ts'
import { connectTestRedis, deleteRedisPrefix, testRedisUrl, uniqueRedisPrefix } from '../helpers/redis.ts'
import { runLatchkey, type CliRunOptions } from '../helpers/cli.ts'
import { tempDir } from '../helpers/key-dir.ts'

if (!testRedisUrl) console.warn('CLI Redis test SKIPPED: TEST_REDIS_URL is not set')

describe('latchkey users and migrate', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let env: Record<string, string>
  const run = (args: string[], options: CliRunOptions = {}) => runLatchkey(args, { ...options, env: { ...env, ...options.env } })

  beforeEach(async () => {
    dir = await tempDir('cli')
    env = { KEYS_DIR: join(dir.path, 'keys'), DATABASE_URL: `sqlite:${join(dir.path, 'data', 'latchkey.db')}`, ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '1' }
  })
  afterEach(() => dir.remove())

  it('creates users with the password from stdin or LATCHKEY_PASSWORD, applying the password policy', async () => {
    const admin = await run(['users', 'create', '--email', ' Admin@Example.com ', '--admin'], { stdin: `${PASSWORD}\n` })
    expect(admin.code, admin.stderr).toBe(0)
    expect(admin.stdout).toMatch(/created user [\w-]+ admin@example.com \(scope: user admin\)/)
    const user = await run(['users', 'create', '--email', 'user@example.com'], { env: { LATCHKEY_PASSWORD: PASSWORD } })
    expect(user.stdout).toContain('(scope: user)')

    const dup = await run(['users', 'create', '--email', 'ADMIN@example.com'], { stdin: PASSWORD })
    expect(dup.code).toBe(1)
    expect(dup.stderr).toContain('already exists')
    const weak = await run(['users', 'create', '--email', 'weak@example.com'], { stdin: 'password1234' })
    expect(weak.code).toBe(1)
    expect(weak.stderr).toContain('password is too common')
    const none = await run(['users', 'create', '--email', 'none@example.com'])
    expect(none.code).toBe(2)
    expect((await run(['users', 'create', '--email', 'not-an-email'], { stdin: PASSWORD })).code).toBe(2)

    const store = await openStore(env.DATABASE_URL!)
    try {
      expect((await store.findUserByEmail('admin@example.com'))?.scope).toBe('user admin')
      expect((await store.findUserByEmail('user@example.com'))?.scope).toBe('user')
      expect(await store.findUserByEmail('weak@example.com')).toBeNull()
    } finally {
      await store.close()
    }
  })

  it('disables a user and revokes all their sessions; an unknown email exits 1', async () => {
    await run(['users', 'create', '--email', 'victim@example.com'], { stdin: PASSWORD })
    const store = await openStore(env.DATABASE_URL!)
    try {
      const user = (await store.findUserByEmail('victim@example.com'))!
      const now = Date.now()
      const sessions = await Promise.all(
        [1, 2].map(() =>
          store.createSession({ id: randomUUID(), userId: user.id, createdAt: now, idleExpiresAt: now + 3_600_000, absoluteExpiresAt: now + 7_200_000, userAgent: null, ip: null, tokenHash: randomUUID() }),
        ),
      )
      const res = await run(['users', 'disable', '--email', 'VICTIM@example.com'])
      expect(res.code, res.stderr).toBe(0)
      expect(res.stdout).toBe('victim@example.com disabled; revoked 2 session(s)\n')
      expect((await store.findUserById(user.id))?.disabledAt).not.toBeNull()
      for (const s of sessions) expect((await store.findSession(s.id))?.revokedAt).not.toBeNull()
      expect((await store.listAudit({ limit: 5 })).map((e) => e.type)).toEqual(['account_disabled', 'session_revoked', 'session_revoked', 'register'])
    } finally {
      await store.close()
    }
    const unknown = await run(['users', 'disable', '--email', 'nobody@example.com'])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('no account with email nobody@example.com')
  })

  // With REDIS_URL the CLI publishes what it revokes, so every instance refuses those sessions at once.
  it.skipIf(!testRedisUrl)('users disable publishes the revoked sessions to the shared Redis set', async () => {
    const prefix = uniqueRedisPrefix()
    await run(['users', 'create', '--email', 'shared@example.com'], { stdin: PASSWORD })
    const store = await openStore(env.DATABASE_URL!)
    const redis = await connectTestRedis(testRedisUrl!, prefix)
    try {
      const user = (await store.findUserByEmail('shared@example.com'))!
      const now = Date.now()
      const s = await store.createSession({ id: randomUUID(), userId: user.id, createdAt: now, idleExpiresAt: now + 3_600_000, absoluteExpiresAt: now + 7_200_000, userAgent: null, ip: null, tokenHash: randomUUID() })
      const res = await run(['users', 'disable', '--email', 'shared@example.com'], { env: { REDIS_URL: testRedisUrl!, REDIS_KEY_PREFIX: prefix } })
      expect(res.code, res.stderr).toBe(0)
      expect(await redis.exists(`revoked-session:${s.id}`)).toBe(1)
    } finally {
      redis.disconnect()
      await store.close()
      await deleteRedisPrefix(testRedisUrl!, prefix)
    }
  })

  it('migrate applies the migrations once, then reports the store up to date', async () => {
    const first = await run(['migrate'])
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toMatch(/^applied \d+ migration\(s\)\n$/)
    const again = await run(['migrate'])
    expect(again.stdout).toBe('store is up to date: no migrations to apply\n')
    const bad = await run(['migrate'], { env: { DATABASE_URL: 'mysql://x' } })
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('DATABASE_URL')
  })
})
