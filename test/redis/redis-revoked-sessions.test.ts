import type { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRedisRevokedSessionSet } from '../../src/accounts/redis-revoked-sessions.ts'
import { revocationTtlSeconds } from '../../src/accounts/revoked-sessions.ts'
import { waitForRedis } from '../../src/redis-client.ts'
import { bearer, createTestApp, registerUser, type TestApp } from '../helpers/app.ts'
import { connectTestRedis, deleteRedisPrefix, productionRedisClient, testRedisUrl, uniqueRedisPrefix, viaPort } from '../helpers/redis.ts'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts'

if (!testRedisUrl) {
  console.warn('Redis revoked-session suite SKIPPED: TEST_REDIS_URL is not set')
  describe.skip('Redis revoked-session set (set TEST_REDIS_URL to run)', () => {
    it('shares revocations between instances and fails closed when Redis is down', () => {})
  })
} else {
  const url = testRedisUrl
  const prefixes: string[] = []
  const freshPrefix = () => {
    const p = uniqueRedisPrefix()
    prefixes.push(p)
    return p
  }
  afterAll(async () => {
    for (const p of prefixes) await deleteRedisPrefix(url, p)
  })

  // A revocation-checked route, as /me/sessions and friends will be.
  const sensitiveRoute = (app: TestApp['app']) =>
    app.get('/test/sensitive', { config: { revocationCheck: true } }, async (request) => ({ sid: request.auth!.sid }))

  describe('Redis revoked-session set', () => {
    let redis: Redis
    let prefix: string
    beforeAll(async () => {
      prefix = freshPrefix()
      redis = await connectTestRedis(url, prefix)
    })
    afterAll(() => redis?.quit())

    it('remembers a revoked session until no access token of it can still be valid', async () => {
      const set = createRedisRevokedSessionSet({ redis, ttlSeconds: revocationTtlSeconds(30) })
      await set.add(['s1', 's2'])
      expect(await set.isRevoked('s1')).toBe(true)
      expect(await set.isRevoked('s2')).toBe(true)
      expect(await set.isRevoked('s3')).toBe(false)
      const ttl = await redis.ttl('revoked-session:s1')
      expect(ttl).toBeGreaterThan(3600)
      expect(ttl).toBeLessThanOrEqual(3630)
    })
  })

  describe('revocation-checked routes on the Redis set', () => {
    let t: TestApp | undefined
    let redis: Redis | undefined
    let proxy: TcpProxy | undefined
    afterEach(async () => {
      await t?.close()
      redis?.disconnect()
      await proxy?.close()
      t = redis = proxy = undefined
    })

    async function appOnRedis(redisUrl: string, env: Record<string, string> = {}) {
      const client = await productionRedisClient(redisUrl, freshPrefix())
      redis = client.redis
      t = await createTestApp({ env, deps: { redis: client.redis }, routes: sensitiveRoute })
      return { t, logs: client.logs }
    }

    it('refuses a logged-out session at once, while stateless routes still accept its token', async () => {
      const { t } = await appOnRedis(url)
      const user = await registerUser(t)
      expect((await t.app.inject({ method: 'GET', url: '/test/sensitive', headers: bearer(user.access_token) })).statusCode).toBe(200)

      expect((await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: user.refresh_token } })).statusCode).toBe(204)

      const refused = await t.app.inject({ method: 'GET', url: '/test/sensitive', headers: bearer(user.access_token) })
      expect(refused.statusCode).toBe(401)
      expect(refused.json().code).toBe('session_revoked')
      expect(refused.headers['www-authenticate']).toMatch(/error="invalid_token"/)
      expect((await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(user.access_token) })).statusCode).toBe(200)
    })

    it('refuses a session revoked by refresh-token reuse detection', async () => {
      const { t } = await appOnRedis(url, { REFRESH_GRACE_PERIOD: '0' })
      const user = await registerUser(t)
      const rotated = (await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.refresh_token } })).json()
      t.clock.advance(1000)
      const replay = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.refresh_token } })
      expect(replay.json().code).toBe('refresh_token_reused')
      const refused = await t.app.inject({ method: 'GET', url: '/test/sensitive', headers: bearer(rotated.access_token) })
      expect(refused.json().code).toBe('session_revoked')
    })

    it('fails closed with 503 while Redis is down, reports it in readiness, and recovers by itself', async () => {
      const target = new URL(url)
      proxy = await startTcpProxy(target.hostname, Number(target.port || 6379))
      const { t, logs } = await appOnRedis(viaPort(url, proxy.port))
      const user = await registerUser(t)

      await proxy.cut()

      const down = await t.app.inject({ method: 'GET', url: '/test/sensitive', headers: bearer(user.access_token) })
      expect(down.statusCode).toBe(503)
      expect(down.json().code).toBe('service_unavailable')
      expect(down.headers['retry-after']).toMatch(/^[0-9]+$/)
      const ready = await t.inject({ method: 'GET', url: '/health/ready' })
      expect(ready.statusCode).toBe(503)
      expect(ready.json().checks).toEqual({ store: 'ok', redis: 'unavailable' })
      // The store revokes, but the set cannot learn of it: the client is told to retry.
      const logout = await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: user.refresh_token } })
      expect(logout.statusCode).toBe(503)
      expect(logs.some((l) => l.includes('redis unavailable'))).toBe(true)

      await proxy.restore()
      expect(await waitForRedis(redis!, 5000)).toBe(true)

      // The retried logout publishes the revocation the first attempt could not.
      expect((await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: user.refresh_token } })).statusCode).toBe(204)
      const refused = await t.app.inject({ method: 'GET', url: '/test/sensitive', headers: bearer(user.access_token) })
      expect(refused.json().code).toBe('session_revoked')
      expect((await t.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200)
    })
  })
}
