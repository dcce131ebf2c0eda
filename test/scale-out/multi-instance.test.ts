import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, PASSWORD, uniqueEmail } from '../helpers/app.ts'
import { startInstance, type Instance } from '../helpers/instance.ts'
import { deleteRedisPrefix, productionRedisClient } from '../helpers/redis.ts'

const databaseUrl = process.env.TEST_DATABASE_URL
const redisUrl = process.env.TEST_REDIS_URL

if (!databaseUrl || !redisUrl) {
  console.warn('Multi-instance suite SKIPPED: it needs both TEST_DATABASE_URL and TEST_REDIS_URL')
  describe.skip('two instances on shared PostgreSQL and Redis (set TEST_DATABASE_URL and TEST_REDIS_URL to run)', () => {
    it('shares sessions, revocations and rate limits between instances', () => {})
  })
} else {
  const GRACE_SECONDS = 5
  const schema = `latchkey_multi_${randomBytes(6).toString('hex')}`
  const prefix = `latchkey-test:${randomBytes(6).toString('hex')}:`
  const keysDir = mkdtempSync(join(tmpdir(), 'latchkey-keys-'))
  const env = {
    DATABASE_URL: databaseUrl,
    DATABASE_SCHEMA: schema,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    KEYS_DIR: keysDir,
    // Behind one balancer every instance is reached at one address: one issuer for all.
    PUBLIC_URL: 'https://auth.example.test',
    LOG_LEVEL: 'warn',
    REFRESH_GRACE_PERIOD: String(GRACE_SECONDS),
    RATE_LIMIT_LOGIN_PER_ACCOUNT: '4',
    // Every request comes from 127.0.0.1, and the concurrency test sends 50 refreshes of one token.
    RATE_LIMIT_LOGIN_PER_IP: '10000',
    RATE_LIMIT_REGISTER_PER_IP: '10000',
    RATE_LIMIT_REFRESH_PER_IP: '10000',
    RATE_LIMIT_REFRESH_PER_TOKEN: '10000',
    ARGON2_MEMORY_KIB: '8192',
    ARGON2_TIME_COST: '1',
  }

  interface Tokens { access_token: string; refresh_token: string }
  const sidOf = (accessToken: string) =>
    (JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid

  describe('two instances on shared PostgreSQL and Redis', () => {
    let a: Instance
    let b: Instance
    let admin: pg.Client

    beforeAll(async () => {
      // A first: it migrates the schema and writes the shared dev key that B then loads.
      a = await startInstance('A', env)
      b = await startInstance('B', env)
      admin = new pg.Client({ connectionString: databaseUrl })
      await admin.connect()
    }, 60_000)

    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()])
      await admin?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      await admin?.end()
      await deleteRedisPrefix(redisUrl, prefix)
      rmSync(keysDir, { recursive: true, force: true })
    })

    async function register(on: Instance): Promise<Tokens & { email: string }> {
      const email = uniqueEmail()
      const res = await on.fetch('/auth/register', { method: 'POST', body: { email, password: PASSWORD } })
      expect(res.status).toBe(201)
      return { email, ...(res.json() as Tokens) }
    }
    const refresh = (on: Instance, token: string) => on.fetch('/auth/refresh', { method: 'POST', body: { refresh_token: token } })

    it('B accepts an access token issued by A, on stateless and store-backed routes', async () => {
      const user = await register(a)
      expect((await b.fetch('/me/claims', { headers: bearer(user.access_token) })).status).toBe(200)
      const me = await b.fetch('/me', { headers: bearer(user.access_token) })
      expect(me.status).toBe(200)
      expect(me.json()).toMatchObject({ email: user.email })
    })

    it('a refresh token rotated on A and replayed on B after the grace window is reuse, and revokes the session', async () => {
      const user = await register(a)
      const rotated = await refresh(a, user.refresh_token)
      expect(rotated.status).toBe(200)
      await new Promise((r) => setTimeout(r, GRACE_SECONDS * 1000 + 500))

      const replay = await refresh(b, user.refresh_token)
      expect(replay.status).toBe(401)
      expect(replay.json()).toMatchObject({ code: 'refresh_token_reused' })
      // The whole session is gone, including the token A handed out.
      const successor = await refresh(a, (rotated.json() as Tokens).refresh_token)
      expect(successor.json()).toMatchObject({ code: 'session_revoked' })
    }, 20_000)

    it('a logout on A makes B refuse the session on a revocation-checked route at once', async () => {
      const user = await register(b)
      const sessions = () => b.fetch('/me/sessions', { headers: bearer(user.access_token) })
      expect((await sessions()).status).toBe(200)

      expect((await a.fetch('/auth/logout', { method: 'POST', body: { refresh_token: user.refresh_token } })).status).toBe(204)

      const refused = await sessions()
      expect(refused.status).toBe(401)
      expect(refused.json()).toMatchObject({ code: 'session_revoked' })
      // The revocation reached B through Redis, not through B's own store lookups.
      const { redis } = await productionRedisClient(redisUrl, prefix)
      try {
        expect(await redis.exists(`revoked-session:${sidOf(user.access_token)}`)).toBe(1)
      } finally {
        redis.disconnect()
      }
      // Ordinary routes stay stateless: the token still verifies on B until it expires.
      expect((await b.fetch('/me/claims', { headers: bearer(user.access_token) })).status).toBe(200)
    })

    it('counts login attempts for one account across both instances', async () => {
      const user = await register(a)
      const attempt = (on: Instance) => on.fetch('/auth/login', { method: 'POST', body: { email: user.email, password: 'wrong password, again' } })
      for (const on of [a, b, a, b]) expect((await attempt(on)).status).toBe(401)
      // Each instance has seen two attempts; the shared count of four is spent.
      const limited = await attempt(a)
      expect(limited.status).toBe(429)
      expect(limited.json()).toMatchObject({ code: 'rate_limited' })
      expect(limited.headers.get('retry-after')).toMatch(/^[0-9]+$/)
      expect((await b.fetch('/auth/login', { method: 'POST', body: { email: user.email, password: PASSWORD } })).status).toBe(429)
    })

    it('50 concurrent refreshes of one token split across A and B yield exactly one new token', async () => {
      const user = await register(a)
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => refresh(i % 2 ? b : a, user.refresh_token)))
      expect(results.map((r) => r.status)).toEqual(Array(50).fill(200))
      const successors = new Set(results.map((r) => (r.json() as Tokens).refresh_token))
      expect(successors.size).toBe(1)
      const { rows } = await admin.query(`SELECT count(*)::int AS n FROM ${schema}.refresh_tokens WHERE session_id = $1`, [sidOf(user.access_token)])
      expect(rows[0].n).toBe(2)
      // And the one successor works.
      expect((await refresh(b, [...successors][0]!)).status).toBe(200)
    })
  })
}
