import type { Redis } from 'ioredis'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createTestApp, uniqueEmail, type TestApp } from '../helpers/app.ts'
import { deleteRedisPrefix, productionRedisClient, testRedisUrl, uniqueRedisPrefix, viaPort } from '../helpers/redis.ts'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts'

if (!testRedisUrl) {
  console.warn('Redis rate-limit suite SKIPPED: TEST_REDIS_URL is not set')
  describe.skip('Redis rate limits (set TEST_REDIS_URL to run)', () => {
    it('shares counts between instances and falls back to per-process counts when Redis is down', () => {})
  })
} else {
  const url = testRedisUrl
  const prefixes: string[] = []
  afterAll(async () => {
    for (const p of prefixes) await deleteRedisPrefix(url, p)
  })

  describe('rate limits on Redis', () => {
    const apps: TestApp[] = []
    const clients: Redis[] = []
    let proxy: TcpProxy | undefined
    afterEach(async () => {
      for (const a of apps.splice(0)) await a.close()
      for (const c of clients.splice(0)) c.disconnect()
      await proxy?.close()
      proxy = undefined
    })

    async function instance(redisUrl: string, prefix: string, env: Record<string, string>) {
      const { redis, logs } = await productionRedisClient(redisUrl, prefix)
      clients.push(redis)
      const t = await createTestApp({ env, deps: { redis } })
      apps.push(t)
      return { t, logs }
    }

    const login = (t: TestApp, email: string) =>
      t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'not the password at all' } })

    it('counts login attempts for one account across instances', async () => {
      const prefix = uniqueRedisPrefix()
      prefixes.push(prefix)
      const env = { RATE_LIMIT_LOGIN_PER_ACCOUNT: '3' }
      const { t: a } = await instance(url, prefix, env)
      const { t: b } = await instance(url, prefix, env)
      const email = uniqueEmail()
      expect((await login(a, email)).statusCode).toBe(401)
      expect((await login(b, email)).statusCode).toBe(401)
      expect((await login(a, email)).statusCode).toBe(401)
      // B has seen one attempt itself, but the shared count is spent.
      const limited = await login(b, email)
      expect(limited.statusCode).toBe(429)
      expect(limited.headers['retry-after']).toMatch(/^[0-9]+$/)
    })

    it('counts forgot-password requests for one address across instances, over the mail window', async () => {
      const prefix = uniqueRedisPrefix()
      prefixes.push(prefix)
      const env = { RATE_LIMIT_MAIL_PER_ADDRESS: '3', RATE_LIMIT_MAIL_PER_IP: '100' }
      const { t: a } = await instance(url, prefix, env)
      const { t: b } = await instance(url, prefix, env)
      const email = uniqueEmail()
      const forgot = (t: TestApp, address: string) => t.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email: address } })
      expect((await forgot(a, email)).statusCode).toBe(202)
      expect((await forgot(b, email.toUpperCase())).statusCode).toBe(202)
      expect((await forgot(a, ` ${email}`)).statusCode).toBe(202)
      const limited = await forgot(b, email)
      expect(limited.statusCode).toBe(429)
      expect(limited.json().code).toBe('rate_limited')
      // The mail window (an hour by default), not the per-minute one of the other policies.
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(60)
      // Another address is not affected.
      expect((await forgot(b, uniqueEmail())).statusCode).toBe(202)
    })

    it('keeps limiting per process and logs an error while Redis is down', async () => {
      const prefix = uniqueRedisPrefix()
      prefixes.push(prefix)
      const target = new URL(url)
      proxy = await startTcpProxy(target.hostname, Number(target.port || 6379))
      const { t, logs } = await instance(viaPort(url, proxy.port), prefix, { RATE_LIMIT_LOGIN_PER_ACCOUNT: '2' })
      await proxy.cut()

      const email = uniqueEmail()
      expect((await login(t, email)).statusCode).toBe(401)
      expect((await login(t, email)).statusCode).toBe(401)
      expect((await login(t, email)).statusCode).toBe(429)
      expect(t.logs.some((l) => l.includes('rate limiting: Redis unavailable, counting per process'))).toBe(true)
      expect(logs.some((l) => l.includes('redis unavailable'))).toBe(true)
    })
  })
}
