import type { Redis } from 'ioredis'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { PASSWORD, createTestApp, uniqueEmail, type TestApp } from '../helpers/app.ts'
import { createDpopClient } from '../helpers/dpop.ts'
import { deleteRedisPrefix, productionRedisClient, testRedisUrl, uniqueRedisPrefix } from '../helpers/redis.ts'

if (!testRedisUrl) {
  console.warn('Redis DPoP replay suite SKIPPED: TEST_REDIS_URL is not set')
  describe.skip('DPoP replay across instances (set TEST_REDIS_URL to run)', () => {
    it('refuses on one instance a proof another instance accepted', () => {})
  })
} else {
  const url = testRedisUrl
  const prefix = uniqueRedisPrefix()
  afterAll(() => deleteRedisPrefix(url, prefix))

  describe('DPoP replay across instances sharing Redis', () => {
    const apps: TestApp[] = []
    const clients: Redis[] = []
    afterEach(async () => {
      for (const a of apps.splice(0)) await a.app.close()
      for (const c of clients.splice(0)) c.disconnect()
    })

    it('a proof accepted by one instance is refused by the other, at sign-in and at a protected route', async () => {
      const instance = async (shared?: TestApp) => {
        const { redis } = await productionRedisClient(url, prefix)
        clients.push(redis)
        const t = await createTestApp({ deps: { redis }, ...(shared ? { store: shared.store, keys: shared.keys } : {}) })
        apps.push(t)
        return t
      }
      const a = await instance()
      const b = await instance(a)
      const email = uniqueEmail()
      expect((await a.inject({ method: 'POST', url: '/auth/register', payload: { email, password: PASSWORD } })).statusCode).toBe(201)
      const client = createDpopClient('ES256')
      const now = Math.floor(a.clock.now() / 1000)
      const loginProof = client.proof({ htm: 'POST', htu: `${a.config.publicUrl}/auth/login`, iat: now })
      const login = await a.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD }, headers: { dpop: loginProof } })
      expect(login.statusCode, login.body).toBe(200)
      const replayedLogin = await b.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD }, headers: { dpop: loginProof } })
      // A token endpoint answers a refused proof with a 400 and no challenge (RFC 9449 §5).
      expect(replayedLogin.statusCode).toBe(400)
      expect(replayedLogin.json()).toMatchObject({ code: 'invalid_dpop_proof', detail: expect.stringMatching(/used before/) })
      expect(replayedLogin.headers['www-authenticate']).toBeUndefined()

      const token = login.json().access_token as string
      const proof = client.proof({ htm: 'GET', htu: `${a.config.publicUrl}/me/claims`, iat: now, accessToken: token })
      const headers = { authorization: `DPoP ${token}`, dpop: proof }
      expect((await b.inject({ method: 'GET', url: '/me/claims', headers })).statusCode).toBe(200)
      const replayed = await a.inject({ method: 'GET', url: '/me/claims', headers })
      expect(replayed.statusCode).toBe(401)
      expect(replayed.json().code).toBe('invalid_dpop_proof')
      // A fresh proof of the same key still works on either instance.
      const fresh = client.proof({ htm: 'GET', htu: `${a.config.publicUrl}/me/claims`, iat: now, accessToken: token })
      expect((await a.inject({ method: 'GET', url: '/me/claims', headers: { ...headers, dpop: fresh } })).statusCode).toBe(200)
    })

    it('every instance accepts the server nonce another instance handed out (DPOP_NONCE=true)', async () => {
      const env = { DPOP_NONCE: 'true', DPOP_NONCE_LIFETIME: '60' }
      const { redis: ra } = await productionRedisClient(url, prefix)
      const { redis: rb } = await productionRedisClient(url, prefix)
      clients.push(ra, rb)
      const a = await createTestApp({ env, deps: { redis: ra } })
      apps.push(a)
      const b = await createTestApp({ env, deps: { redis: rb }, store: a.store, keys: a.keys })
      apps.push(b)
      const email = uniqueEmail()
      await a.inject({ method: 'POST', url: '/auth/register', payload: { email, password: PASSWORD } })
      const client = createDpopClient('EdDSA')
      const proof = (nonce?: string) => client.proof({ htm: 'POST', htu: `${a.config.publicUrl}/auth/login`, iat: Math.floor(a.clock.now() / 1000), ...(nonce ? { nonce } : {}) })
      const refused = await a.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD }, headers: { dpop: proof() } })
      expect(refused.statusCode).toBe(400)
      expect(refused.json().code).toBe('use_dpop_nonce')
      const nonce = String(refused.headers['dpop-nonce'])
      const onB = await b.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD }, headers: { dpop: proof(nonce) } })
      expect(onB.statusCode, onB.body).toBe(200)
      expect(onB.json().token_type).toBe('DPoP')
    })
  })
}
