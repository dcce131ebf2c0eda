import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, PASSWORD, registerUser, type TestApp } from '../helpers/app.ts'
import { createDpopClient } from '../helpers/dpop.ts'
import { checkResponse, encodeAny, fuzzRequest, hostileString, mutatedToken, nestedJson, type FuzzRequest } from '../helpers/fuzz.ts'
import { scaled, soakReport } from '../helpers/soak.ts'

const RUNS = scaled(200, 5000)

/** A header a real client could not even put on the wire: the request never happens. */
const unsendable = (err: unknown) => /ERR_INVALID_CHAR|ERR_HTTP_INVALID_HEADER|Invalid character|ERR_INVALID_ARG/.test(String((err as { code?: string }).code ?? err))

describe('fuzzing every registered route', () => {
  let t: TestApp
  let access: string
  let routes: Array<{ method: string; url: string; public: boolean; pattern: RegExp }>
  let tried = 0
  const statuses: Record<number, number> = {}

  beforeAll(async () => {
    t = await createTestApp({ env: { LOG_LEVEL: 'silent', RATE_LIMIT_ENABLED: 'false' } })
    access = (await registerUser(t)).access_token
    // Enumerated, not listed: a route another change adds is fuzzed without touching this file.
    routes = t.app
      .registeredRoutes()
      .map((r) => ({ ...r, pattern: new RegExp(`^${r.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+')}/?$`) }))
  })
  afterAll(async () => {
    soakReport('fuzz', { inputsTried: tried, routes: routes.length, statuses })
    await t.close()
  })

  async function send(req: FuzzRequest): Promise<LightMyRequestResponse | null> {
    tried++
    try {
      return await t.app.inject({ method: req.method as 'GET', url: req.url, headers: req.headers, ...(req.payload === undefined ? {} : { payload: req.payload }) })
    } catch (err) {
      if (unsendable(err)) return null
      throw err
    }
  }

  it('enumerates the routes it fuzzes', () => {
    expect(routes.length).toBeGreaterThanOrEqual(8)
    expect(routes.some((r) => !r.public)).toBe(true)
    // The mail flows (issue 17) among them.
    expect(routes.map((r) => `${r.method} ${r.url}`)).toEqual(expect.arrayContaining([
      'POST /auth/email/verify', 'POST /auth/password/forgot', 'POST /auth/password/reset', 'POST /me/email/verify/resend', 'PUT /me/email',
      // and the second factor (issue 18).
      'POST /me/mfa/totp', 'POST /me/mfa/totp/confirm', 'DELETE /me/mfa/totp', 'POST /auth/login/mfa', 'POST /auth/step-up',
    ]))
  })

  it('random requests never get a 5xx, every error is a problem with a known code, and no protected route answers 2xx without the valid token', async () => {
    const authorization = fc.option(
      fc.oneof(
        fc.constant(`Bearer ${access}`),
        mutatedToken(access).map((m) => `Bearer ${m}`),
        hostileString,
        hostileString.map((s) => `Bearer ${s}`),
        fc.constantFrom('Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', `bearer ${access}`, `Token ${access}`, `Bearer ${access}, Bearer ${access}`),
      ),
      { nil: undefined },
    )
    await fc.assert(
      fc.asyncProperty(fuzzRequest(routes, authorization), async (req) => {
        const res = await send(req)
        if (!res) return
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1
        const verdict = checkResponse(req.method, res)
        expect(verdict.why, `${req.method} ${req.url.slice(0, 120)}`).toBeUndefined()
        const path = req.url.split('?')[0]!
        const route = routes.find((r) => r.method === req.method && r.pattern.test(path))
        if (res.statusCode < 300 && route && !route.public && req.method !== 'OPTIONS') {
          expect(req.headers.authorization?.trim().replace(/^bearer +/i, 'Bearer '), `${req.method} ${path} answered ${res.statusCode}`).toBe(`Bearer ${access}`)
        }
      }),
      { numRuns: RUNS },
    )
  })

  it('a mutated access token never opens a protected route', async () => {
    const targets = routes.filter((r) => !r.public && (r.method === 'GET' || r.method === 'DELETE'))
    expect(targets.length).toBeGreaterThan(0)
    await fc.assert(
      fc.asyncProperty(mutatedToken(access), fc.constantFrom(...targets), async (token, route) => {
        const url = route.url.replace(/:[A-Za-z0-9_]+/g, '00000000-0000-4000-8000-000000000000')
        tried++
        let res: LightMyRequestResponse
        try {
          res = await t.inject({ method: route.method as 'GET', url, headers: bearer(token) })
        } catch (err) {
          if (unsendable(err)) return
          throw err
        }
        expect(res.statusCode, `${route.method} ${route.url} with ${token.slice(-12)}`).toBe(401)
        expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="latchkey"/)
      }),
      { numRuns: RUNS },
    )
    expect((await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(access) })).statusCode).toBe(200)
  })

  it('a mutated refresh token never rotates, and logging out with one revokes nothing', async () => {
    const { refresh_token } = await registerUser(t)
    await fc.assert(
      fc.asyncProperty(mutatedToken(refresh_token), async (token) => {
        tried += 2
        const refreshed = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: token } })
        expect([400, 401], `refresh with ${JSON.stringify(token.slice(-12))}`).toContain(refreshed.statusCode)
        const out = await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: token } })
        expect([204, 400]).toContain(out.statusCode)
      }),
      { numRuns: RUNS },
    )
    // The real token was neither rotated nor revoked by any of that.
    expect((await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token } })).statusCode).toBe(200)
  })

  it('a mutated DPoP proof never opens a protected route, and a bound token never works as Bearer', async () => {
    const client = createDpopClient('ES256')
    const htu = (path: string) => `${t.config.publicUrl}${path}`
    const now = () => Math.floor(t.clock.now() / 1000)
    const login = await t.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: (await registerUser(t)).email, password: PASSWORD },
      headers: { dpop: client.proof({ htm: 'POST', htu: htu('/auth/login'), iat: now() }) },
    })
    const token = login.json().access_token as string
    const base = client.proof({ htm: 'GET', htu: htu('/me/claims'), iat: now(), accessToken: token })
    // Spent first: a mutant that decodes to the same proof (base64url's spare bits) is then a replay.
    expect((await t.inject({ method: 'GET', url: '/me/claims', headers: { authorization: `DPoP ${token}`, dpop: base } })).statusCode).toBe(200)
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutatedToken(base), hostileString), fc.constantFrom('DPoP', 'Bearer', 'dpop'), async (proof, scheme) => {
        tried++
        let res: LightMyRequestResponse
        try {
          res = await t.inject({ method: 'GET', url: '/me/claims', headers: { authorization: `${scheme} ${token}`, dpop: proof } })
        } catch (err) {
          if (unsendable(err)) return
          throw err
        }
        expect(res.statusCode, `${scheme} with proof ${proof.slice(-16)} → ${res.body}`).toBe(401)
        expect(['invalid_dpop_proof', 'invalid_token']).toContain(res.json().code)
        expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="latchkey".*, DPoP realm="latchkey"/)
      }),
      { numRuns: RUNS },
    )
    const fresh = client.proof({ htm: 'GET', htu: htu('/me/claims'), iat: now(), accessToken: token })
    expect((await t.inject({ method: 'GET', url: '/me/claims', headers: { authorization: `DPoP ${token}`, dpop: fresh } })).statusCode).toBe(200)
  })

  it('a mutated DPoP proof at a token endpoint is a 400 invalid_dpop_proof and never rotates a bound session', async () => {
    const client = createDpopClient('EdDSA')
    const htu = `${t.config.publicUrl}/auth/refresh`
    const now = () => Math.floor(t.clock.now() / 1000)
    const signIn = await t.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: (await registerUser(t)).email, password: PASSWORD },
      headers: { dpop: client.proof({ htm: 'POST', htu: `${t.config.publicUrl}/auth/login`, iat: now() }) },
    })
    const { refresh_token } = signIn.json() as { refresh_token: string }
    // The base proof spent by a good refresh first: its exact mutants are then replays.
    const base = client.proof({ htm: 'POST', htu, iat: now() })
    const first = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token }, headers: { dpop: base } })
    expect(first.statusCode, first.body).toBe(200)
    const current = first.json().refresh_token as string
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutatedToken(base), hostileString), async (proof) => {
        tried++
        let res: LightMyRequestResponse
        try {
          res = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: current }, headers: { dpop: proof } })
        } catch (err) {
          if (unsendable(err)) return
          throw err
        }
        // RFC 9449 §5: a token endpoint's refusal, a 400 with no challenge; nothing was spent.
        expect(res.statusCode, `proof ${proof.slice(-16)} → ${res.body}`).toBe(400)
        expect(res.json().code).toBe('invalid_dpop_proof')
        expect(res.headers['www-authenticate']).toBeUndefined()
      }),
      { numRuns: RUNS },
    )
    const fresh = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: current }, headers: { dpop: client.proof({ htm: 'POST', htu, iat: now() }) } })
    expect(fresh.statusCode, fresh.body).toBe(200)
  })

  it('a mutated mail-link token never verifies or resets anything, and each refusal has its own code', async () => {
    const { email } = await registerUser(t)
    await t.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email } })
    const linkOf = async (template: string) => {
      await expect.poll(async () => (await t.store.outbox.list({ now: 0, limit: 500 })).some((m) => m.recipient === email && m.template === template)).toBe(true)
      const row = (await t.store.outbox.list({ now: 0, limit: 500 })).find((m) => m.recipient === email && m.template === template)!
      return new URL(row.data.link!).searchParams.get('token')!
    }
    const verifyToken = await linkOf('verify_email')
    const resetToken = await linkOf('reset_password')
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutatedToken(verifyToken), mutatedToken(resetToken)), async (token) => {
        tried += 2
        const verified = await t.inject({ method: 'POST', url: '/auth/email/verify', payload: { token } })
        const reset = await t.inject({ method: 'POST', url: '/auth/password/reset', payload: { token, password: 'a much longer and rarer passphrase' } })
        for (const res of [verified, reset]) {
          expect(res.statusCode, `with ${JSON.stringify(token.slice(-12))}`).toBe(400)
          expect(['validation_failed', 'link_token_invalid']).toContain(res.json().code)
        }
      }),
      { numRuns: RUNS },
    )
    // Swapped purposes are recognised, and neither real token was spent by any of that.
    expect((await t.inject({ method: 'POST', url: '/auth/email/verify', payload: { token: resetToken } })).json().code).toBe('link_token_wrong_purpose')
    expect((await t.inject({ method: 'POST', url: '/auth/email/verify', payload: { token: verifyToken } })).statusCode).toBe(200)
    expect((await t.inject({ method: 'POST', url: '/auth/password/reset', payload: { token: resetToken, password: 'a much longer and rarer passphrase' } })).statusCode).toBe(204)
  })

  it(`JSON nested deeper than JSON_MAX_DEPTH (${32}) is a 400 before any handler sees it`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3000 }), fc.constantFrom('array' as const, 'object' as const), async (depth, kind) => {
        tried++
        const payload = nestedJson(depth, kind)
        const res = await t.inject({ method: 'POST', url: '/auth/login', payload, headers: { 'content-type': 'application/json' } })
        if (payload.length > t.config.bodyLimit) {
          expect(res.statusCode).toBe(413)
          return
        }
        expect(res.statusCode).toBe(400)
        expect(res.json().code).toBe('validation_failed')
        if (depth > t.config.limits.jsonMaxDepth) expect(res.json().detail).toMatch(/nested deeper than 32/)
        else expect(res.json().detail).not.toMatch(/nested/)
      }),
      { numRuns: RUNS },
    )
  })

  it('the random requests reach the routes rather than bouncing off one error', () => {
    // Guards the fuzzer itself: a generator that only produced 404s would prove nothing.
    expect(Object.keys(statuses).length, JSON.stringify(statuses)).toBeGreaterThanOrEqual(5)
    expect(Object.entries(statuses).filter(([s]) => Number(s) < 300).length).toBeGreaterThan(0)
  })

  it('the limits still let a real sign-in through', async () => {
    const { email } = await registerUser(t)
    const res = await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD } })
    expect(res.statusCode).toBe(200)
  })
})

describe('router edge cases on parameterised routes', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({
      env: { LOG_LEVEL: 'silent' },
      // Latchkey's own parameterised routes arrive with other changes; this one stands in for them.
      routes: (app) => app.get('/fuzz-probe/:id', async (request) => ({ id: (request.params as { id: string }).id })),
    })
  })
  afterAll(() => t.close())

  it('undecodable and over-long path parameters are problems with security headers, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constantFrom('%zz', '%', '%E0%A4%A', 'a%00b', 'x'.repeat(5000)), hostileString.map(encodeAny)), async (id) => {
        const res = await t.app.inject({ method: 'GET', url: `/fuzz-probe/${id}` })
        expect(checkResponse('GET', res).why).toBeUndefined()
      }),
      { numRuns: RUNS },
    )
    const bad = await t.app.inject({ method: 'GET', url: '/fuzz-probe/%zz' })
    expect(bad.statusCode).toBe(400)
    expect(bad.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'")
  })
})
