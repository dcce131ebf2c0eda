import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { buildResourceServer } from '../../examples/resource-server/app.ts'
import { generateSigningKey, type GeneratedKey } from '../../src/keys/generate-key.ts'
import { signAccessTokenSync } from '../../src/tokens/sign-access-token.ts'
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.ts'

const ISSUER = 'https://auth.example.test'
const AUDIENCE = 'orders-api'

function token(key: GeneratedKey, overrides: { issuer?: string; audience?: string; now?: number; ttl?: number; scope?: string; kid?: string } = {}): string {
  return signAccessTokenSync(
    {
      issuer: overrides.issuer ?? ISSUER,
      audience: overrides.audience ?? AUDIENCE,
      subject: 'user-1',
      sessionId: 'session-1',
      scope: overrides.scope ?? 'user',
      now: overrides.now ?? Math.floor(Date.now() / 1000),
      ttl: overrides.ttl ?? 600,
    },
    { kid: overrides.kid ?? key.kid, privateKey: key.privateKey },
  ).token
}

describe('the verifier plugin in another Fastify app', () => {
  let k1: GeneratedKey
  let k2: GeneratedKey
  let jwks: JwksServer
  let app: FastifyInstance
  let base: string

  beforeAll(async () => {
    ;[k1, k2] = await Promise.all([generateSigningKey(), generateSigningKey()])
  })

  async function start(options: { refreshIntervalMs?: number; unknownKidCooldownMs?: number; fetchTimeoutMs?: number } = {}) {
    app = await buildResourceServer({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: jwks.url, refreshIntervalMs: 60_000, unknownKidCooldownMs: 60_000, fetchTimeoutMs: 300, maxJwksBytes: 16 * 1024, ...options })
    await app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  }
  const get = (path: string, bearerToken?: string) => fetch(`${base}${path}`, { headers: bearerToken ? { authorization: `Bearer ${bearerToken}` } : {} })

  beforeEach(async () => {
    jwks = await startJwksServer([k1])
  })
  afterEach(async () => {
    await app?.close()
    await jwks.close()
  })

  it('accepts a valid token, serves public routes without one, and refuses like Latchkey does', async () => {
    await start()
    const ok = await get('/orders', token(k1))
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ owner: 'user-1', orders: [] })
    expect((await get('/health')).status).toBe(200)

    const missing = await get('/orders')
    expect(missing.status).toBe(401)
    expect(missing.headers.get('content-type')).toBe('application/problem+json; charset=utf-8')
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="api"')
    expect(await missing.json()).toMatchObject({ status: 401, code: 'missing_token' })

    const expired = await get('/orders', token(k1, { now: Math.floor(Date.now() / 1000) - 700 }))
    expect(expired.status).toBe(401)
    expect(((await expired.json()) as { code: string }).code).toBe('token_expired')
    expect(expired.headers.get('www-authenticate')).toContain('error="invalid_token"')
    const foreignAudience = await get('/orders', token(k1, { audience: 'someone-else' }))
    // Which audience was expected and which was found, in the problem and in the challenge.
    expect(((await foreignAudience.json()) as { detail: string }).detail).toBe('audience someone-else is not accepted; expected orders-api')
    expect(foreignAudience.headers.get('www-authenticate')).toContain('error_description="audience someone-else is not accepted; expected orders-api"')
    const foreignIssuer = await get('/orders', token(k1, { issuer: 'http://127.0.0.1:3911' }))
    expect(((await foreignIssuer.json()) as { detail: string }).detail).toBe(`issuer http://127.0.0.1:3911 is not accepted; expected ${ISSUER}`)

    const scoped = await get('/reports', token(k1))
    expect(scoped.status).toBe(403)
    expect(scoped.headers.get('www-authenticate')).toContain('error="insufficient_scope"')
    expect((await get('/reports', token(k1, { scope: 'user admin' }))).status).toBe(200)
  })

  it('accepts a token signed by a key published after it started, with one fetch', async () => {
    await start()
    expect(jwks.fetches).toBe(1)
    jwks.keys = [k1, k2]
    const res = await get('/orders', token(k2))
    expect(res.status).toBe(200)
    expect(jwks.fetches).toBe(2)
    expect((await get('/orders', token(k2))).status).toBe(200)
    expect(jwks.fetches).toBe(2)
  })

  it('a flood of unknown kids causes at most one JWKS fetch per cooldown', async () => {
    await start({ unknownKidCooldownMs: 1000 })
    const flood = () => Promise.all(Array.from({ length: 40 }, (_, i) => get('/orders', token(k1, { kid: `junk-${Math.random()}-${i}` }))))
    const started = Date.now()
    const first = await flood()
    expect(first.every((r) => r.status === 401)).toBe(true)
    expect(jwks.fetches).toBe(2)
    await flood()
    if (Date.now() - started < 1000) expect(jwks.fetches).toBe(2)
    await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - started)) + 50))
    await flood()
    await flood()
    // The cooldown has passed once, so one more fetch happened; a slow, loaded machine may have let
    // more windows pass during the floods, but never more than one fetch per window.
    expect(jwks.fetches).toBeGreaterThanOrEqual(3)
    expect(jwks.fetches).toBeLessThanOrEqual(2 + Math.floor((Date.now() - started) / 1000))
    const settled = jwks.fetches
    // Known keys never wait for or cause a fetch, even during the flood.
    expect((await get('/orders', token(k1))).status).toBe(200)
    expect(jwks.fetches).toBe(settled)
  })

  it.each(['error', 'malformed', 'huge', 'slow', 'trickle'] as const)('keeps serving with the last good keys when the JWKS endpoint is %s', async (behaviour) => {
    await start({ refreshIntervalMs: 100, unknownKidCooldownMs: 0 })
    jwks.behaviour = behaviour
    const fetchesBefore = jwks.fetches
    const ok = await app.latchkeyKeys.refresh('test')
    expect(ok).toBe(false)
    expect(jwks.fetches).toBeGreaterThan(fetchesBefore)
    expect([...app.latchkeyKeys.keys.keys()]).toEqual([k1.kid])
    expect((await get('/orders', token(k1))).status).toBe(200)
    // An unknown kid waits at most for the fetch timeout, then gets a 401 — never a 500 or a hang.
    const started = Date.now()
    const unknown = await get('/orders', token(k2))
    expect(unknown.status).toBe(401)
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it('drops a key the JWKS no longer lists at its next refresh', async () => {
    jwks.keys = [k1, k2]
    await start({ refreshIntervalMs: 200 })
    expect((await get('/orders', token(k2))).status).toBe(200)
    jwks.keys = [k1]
    const deadline = Date.now() + 3000
    while (app.latchkeyKeys.keys.has(k2.kid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    const res = await get('/orders', token(k2))
    expect(res.status).toBe(401)
    expect(((await res.json()) as { detail: string }).detail).toBe('unknown key id')
  })

  it('starts without keys when the JWKS is down, and picks them up on the first token once it is back', async () => {
    jwks.behaviour = 'error'
    await start({ unknownKidCooldownMs: 0 })
    expect(app.latchkeyKeys.keys.size).toBe(0)
    expect((await get('/orders', token(k1))).status).toBe(401)
    jwks.behaviour = 'ok'
    expect((await get('/orders', token(k1))).status).toBe(200)
  })
})

describe('the JWKS URL', () => {
  it('must be https, except on loopback or when explicitly allowed', async () => {
    const options = { issuer: 'https://auth.example.com', audience: 'latchkey', fetch: (async () => new Response('{"keys":[]}')) as typeof fetch }
    await expect(buildResourceServer({ ...options, jwksUrl: 'http://auth.example.com/.well-known/jwks.json' })).rejects.toThrow(/jwksUrl must be https/)
    await expect(buildResourceServer({ ...options, jwksUrl: 'not a url' })).rejects.toThrow(/is not a URL/)
    for (const jwksUrl of ['https://auth.example.com/.well-known/jwks.json', 'http://127.0.0.1:3000/.well-known/jwks.json']) {
      const app = await buildResourceServer({ ...options, jwksUrl })
      await app.close()
    }
    const insecure = await buildResourceServer({ ...options, jwksUrl: 'http://auth.internal/.well-known/jwks.json', allowInsecureJwksUrl: true })
    await insecure.close()
  })
})
