import { sign } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildResourceServer } from '../../examples/resource-server/app.ts'
import { createFixedClock } from '../../src/clock.ts'
import { generateSigningKey, type GeneratedKey } from '../../src/keys/generate-key.ts'
import { signAccessTokenSync } from '../../src/tokens/sign-access-token.ts'
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.ts'

const ISSUER = 'https://auth.example.test'
const AUDIENCE = 'orders-api'
const T0 = Date.parse('2026-01-01T00:00:00Z')
const NOW = T0 / 1000

describe('the resource-server example: step-up on POST /payouts (RFC 9470)', () => {
  let key: GeneratedKey
  let jwks: JwksServer
  let app: FastifyInstance
  let base: string
  const clock = createFixedClock(T0)

  beforeAll(async () => {
    key = await generateSigningKey()
    jwks = await startJwksServer([key])
    app = await buildResourceServer({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: jwks.url, clock })
    await app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    await app?.close()
    await jwks?.close()
  })

  function token(assurance: { amr?: string[]; acr?: string; authTime?: number }, issuedAt = NOW): string {
    return signAccessTokenSync(
      { issuer: ISSUER, audience: AUDIENCE, subject: 'user-1', sessionId: 'session-1', scope: 'user', now: issuedAt, ttl: 600, ...assurance },
      { kid: key.kid, privateKey: key.privateKey },
    ).token
  }
  const payout = (t: string) => fetch(`${base}/payouts`, { method: 'POST', headers: { authorization: `Bearer ${t}` } })

  it('accepts a token from a two-factor sign-in within max_age, at the very edge too', async () => {
    const fresh = await payout(token({ amr: ['pwd', 'otp'], acr: 'aal2', authTime: NOW }))
    expect(fresh.status).toBe(200)
    expect(await fresh.json()).toEqual({ owner: 'user-1', acr: 'aal2', status: 'queued' })
    // auth_time exactly 300 s ago (a refreshed token of that sign-in) still passes; 301 s does not.
    expect((await payout(token({ amr: ['pwd', 'otp'], acr: 'aal2', authTime: NOW - 300 }))).status).toBe(200)
    expect((await payout(token({ amr: ['pwd', 'otp'], acr: 'aal2', authTime: NOW - 301 }))).status).toBe(401)
    // A stronger level than asked passes.
    expect((await payout(token({ amr: ['hwk', 'mfa'], acr: 'aal3', authTime: NOW }))).status).toBe(200)
  })

  it('refuses a one-factor token with the exact RFC 9470 challenge and a problem code', async () => {
    const res = await payout(token({ amr: ['pwd'], acr: 'aal1', authTime: NOW }))
    expect(res.status).toBe(401)
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer realm="api", error="insufficient_user_authentication", error_description="this action requires a sign-in at level aal2: authenticate again with a second factor", acr_values="aal2", max_age=300',
    )
    expect(await res.json()).toMatchObject({ status: 401, code: 'insufficient_user_authentication' })
  })

  it('refuses a two-factor sign-in that is too old, with the same challenge parameters', async () => {
    const res = await payout(token({ amr: ['pwd', 'otp'], acr: 'aal2', authTime: NOW - 3600 }))
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer realm="api", error="insufficient_user_authentication", error_description="this action requires a sign-in within the last 300 seconds: authenticate again", acr_values="aal2", max_age=300',
    )
    expect(((await res.json()) as { code: string }).code).toBe('insufficient_user_authentication')
  })

  it('refuses a token without assurance claims, and leaves routes without step-up alone', async () => {
    const plain = token({})
    const res = await payout(plain)
    expect(res.status).toBe(401)
    expect(((await res.json()) as { code: string }).code).toBe('insufficient_user_authentication')
    const orders = await fetch(`${base}/orders`, { headers: { authorization: `Bearer ${plain}` } })
    expect(orders.status).toBe(200)
  })

  it('refuses malformed assurance claims as an invalid token, not a step-up', async () => {
    for (const bad of [{ amr: 'pwd' }, { acr: 2 }, { auth_time: 'yesterday' }, { auth_time: NOW + 3600 }]) {
      const claims = { iss: ISSUER, sub: 'user-1', aud: AUDIENCE, exp: NOW + 600, iat: NOW, nbf: NOW, jti: 'j', sid: 's', scope: 'user', ...bad }
      const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'at+jwt', kid: key.kid })).toString('base64url')
      const body = Buffer.from(JSON.stringify(claims)).toString('base64url')
      const sig = sign('sha256', Buffer.from(`${header}.${body}`), key.privateKey).toString('base64url')
      const res = await payout(`${header}.${body}.${sig}`)
      expect(res.status, JSON.stringify(bad)).toBe(401)
      expect(((await res.json()) as { code: string }).code).toBe('invalid_token')
    }
  })
})
