import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, PASSWORD, registerUser, uniqueEmail, type TestApp } from '../helpers/app.ts'
import { createDpopClient, thumbprintOf, type DpopClient, type ProofClaims } from '../helpers/dpop.ts'
import { passwordStep, userWithTotp } from '../helpers/mfa.ts'
import { totpAt } from '../helpers/totp.ts'
import { createSoftwarePasskey } from '../helpers/webauthn.ts'

/**
 * RFC 9449 §5 and §8 at every route that issues tokens and takes a DPoP proof: a refused proof is an
 * RFC 6749 §5.2 error response — 400, the same problem `code`, `DPoP-Nonce` when a nonce is due, and
 * no WWW-Authenticate (no access token was presented) — while the protected routes keep their 401
 * with the `DPoP error="…"` challenge (§7.1, §9).
 */

const PUBLIC_URL = 'https://auth.example.com'
const SPA = 'https://app.example.com'
const RP_ID = 'example.com'
const ENV = {
  PUBLIC_URL,
  CORS_ORIGINS: SPA,
  WEBAUTHN_RP_ID: RP_ID,
  WEBAUTHN_ORIGINS: SPA,
  RATE_LIMIT_REGISTER_PER_IP: '10000',
  RATE_LIMIT_LOGIN_PER_IP: '10000',
}

type Response = Awaited<ReturnType<TestApp['inject']>>

const seconds = (t: TestApp) => Math.floor(t.clock.now() / 1000)
const proofFor = (t: TestApp, client: DpopClient, path: string, extra: Partial<ProofClaims> = {}) =>
  client.proof({ htm: 'POST', htu: `${PUBLIC_URL}${path}`, iat: seconds(t), ...extra })

function expectTokenEndpointRefusal(res: Response, code: 'invalid_dpop_proof' | 'use_dpop_nonce'): void {
  expect(res.statusCode, res.body).toBe(400)
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
  expect(res.json()).toMatchObject({ code, status: 400, type: `https://latchkey.dev/problems/${code.replaceAll('_', '-')}` })
  expect(res.headers['www-authenticate']).toBeUndefined()
  expect(res.headers['cache-control']).toBe('no-store')
}

/** One token request, ready but for its proof: `send` posts it with the given DPoP header. */
interface TokenRequest {
  path: string
  send(dpop?: string): Promise<Response>
}

/** Each token endpoint, prepared afresh so that every request is one the route would otherwise answer with tokens. */
const ENDPOINTS: Array<{ name: string; prepare(t: TestApp): Promise<TokenRequest> }> = [
  {
    name: 'POST /auth/register',
    prepare: async (t) => {
      const email = uniqueEmail()
      return { path: '/auth/register', send: (dpop) => post(t, '/auth/register', { email, password: PASSWORD }, dpop) }
    },
  },
  {
    name: 'POST /auth/login',
    prepare: async (t) => {
      const { email } = await registerUser(t)
      return { path: '/auth/login', send: (dpop) => post(t, '/auth/login', { email, password: PASSWORD }, dpop) }
    },
  },
  {
    name: 'POST /auth/refresh',
    prepare: async (t) => {
      const { refresh_token } = await registerUser(t)
      return { path: '/auth/refresh', send: (dpop) => post(t, '/auth/refresh', { refresh_token }, dpop) }
    },
  },
  {
    name: 'POST /auth/login/mfa',
    prepare: async (t) => {
      const user = await userWithTotp(t)
      const challenge = await passwordStep(t, user.email)
      // The next step's code: the enrolment spent the current one.
      t.clock.advance(30_000)
      const code = totpAt(user.secret, t.clock.now())
      return { path: '/auth/login/mfa', send: (dpop) => post(t, '/auth/login/mfa', { challenge, code }, dpop) }
    },
  },
  {
    name: 'POST /auth/passkeys/login/verify',
    prepare: async (t) => {
      const passkey = await registeredPasskey(t)
      const { challenge } = (await post(t, '/auth/passkeys/login/options', {})).json() as { challenge: string }
      const response = passkey.assert({ origin: SPA, rpId: RP_ID, challenge })
      return { path: '/auth/passkeys/login/verify', send: (dpop) => post(t, '/auth/passkeys/login/verify', { response }, dpop) }
    },
  },
  {
    name: 'POST /auth/passkeys/login/verify (second factor)',
    prepare: async (t) => {
      const user = await userWithTotp(t)
      const passkey = await registeredPasskey(t, user.access_token)
      const mfa_token = await passwordStep(t, user.email)
      const { challenge } = (await post(t, '/auth/passkeys/login/options', { mfa_token })).json() as { challenge: string }
      const response = passkey.assert({ origin: SPA, rpId: RP_ID, challenge })
      return { path: '/auth/passkeys/login/verify', send: (dpop) => post(t, '/auth/passkeys/login/verify', { response, mfa_token }, dpop) }
    },
  },
]

function post(t: TestApp, url: string, payload: object, dpop?: string, headers: Record<string, string> = {}): Promise<Response> {
  return t.inject({ method: 'POST', url, payload, headers: { ...headers, ...(dpop === undefined ? {} : { dpop }) } })
}

/** A new account with one software passkey (or one for the account of `accessToken`). */
async function registeredPasskey(t: TestApp, accessToken?: string) {
  const token = accessToken ?? (await registerUser(t)).access_token
  const passkey = createSoftwarePasskey()
  const options = (await post(t, '/me/passkeys/register/options', {}, undefined, bearer(token))).json() as { challenge: string; user: { id: string } }
  const userId = Buffer.from(options.user.id, 'base64url').toString()
  const res = await post(t, '/me/passkeys/register/verify', { response: passkey.register({ origin: SPA, rpId: RP_ID, challenge: options.challenge, userId }) }, undefined, bearer(token))
  expect(res.statusCode, res.body).toBe(201)
  return passkey
}

function expectBoundTo(res: Response, client: DpopClient): void {
  expect(res.statusCode, res.body).toBeLessThan(300)
  expect(res.json().token_type).toBe('DPoP')
  expect(decodeJwt(res.json().access_token as string).cnf).toEqual({ jkt: thumbprintOf(client) })
}

describe('DPoP refusals at the token endpoints (DPOP=allowed)', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ env: ENV })
  })
  afterAll(() => t.close())

  describe.each(ENDPOINTS)('$name', ({ prepare }) => {
    it('a bad proof is a 400 invalid_dpop_proof without a challenge; the route then answers a good one', async () => {
      const client = createDpopClient()
      const request = await prepare(t)
      // Wrong URL, wrong method, too old, a hostile one: each the same 400.
      expectTokenEndpointRefusal(await request.send(proofFor(t, client, '/auth/elsewhere')), 'invalid_dpop_proof')
      expectTokenEndpointRefusal(await request.send(client.proof({ htm: 'GET', htu: `${PUBLIC_URL}${request.path}`, iat: seconds(t) })), 'invalid_dpop_proof')
      expectTokenEndpointRefusal(await request.send(proofFor(t, client, request.path, { iat: seconds(t) - 3600 })), 'invalid_dpop_proof')
      expectTokenEndpointRefusal(await request.send('not-a-proof'), 'invalid_dpop_proof')
      // The refusals spent nothing: the same request with a good proof gets bound tokens.
      const proof = proofFor(t, client, request.path)
      expectBoundTo(await request.send(proof), client)
    })
  })

  it('a replayed sign-in proof is a 400 too', async () => {
    const client = createDpopClient()
    const first = await (ENDPOINTS[1]!.prepare(t))
    const proof = proofFor(t, client, first.path)
    expectBoundTo(await first.send(proof), client)
    const second = await (ENDPOINTS[1]!.prepare(t))
    expectTokenEndpointRefusal(await second.send(proof), 'invalid_dpop_proof')
  })

  it('a protected route keeps the 401 with the DPoP challenge for the same kind of proof', async () => {
    const client = createDpopClient()
    const request = await ENDPOINTS[1]!.prepare(t)
    const token = (await request.send(proofFor(t, client, request.path))).json().access_token as string
    const res = await t.inject({ method: 'GET', url: '/me/claims', headers: { authorization: `DPoP ${token}`, dpop: client.proof({ htm: 'GET', htu: `${PUBLIC_URL}/auth/elsewhere`, iat: seconds(t), accessToken: token }) } })
    expect(res.statusCode).toBe(401)
    expect(res.json().code).toBe('invalid_dpop_proof')
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="latchkey", DPoP realm="latchkey", error="invalid_dpop_proof", error_description="${res.json().detail}", algs="RS256 PS256 ES256 EdDSA"`)
  })
})

/** POST /auth/step-up issues tokens, but presents an access token: a protected route, whose proof goes with that token. */
async function boundStepUp(t: TestApp, client: DpopClient) {
  const email = uniqueEmail()
  const signUp = (nonce?: string) => post(t, '/auth/register', { email, password: PASSWORD }, proofFor(t, client, '/auth/register', nonce === undefined ? {} : { nonce }))
  let res = await signUp()
  if (res.statusCode === 400) res = await signUp(res.headers['dpop-nonce'] as string)
  expectBoundTo(res, client)
  const token = res.json().access_token as string
  return {
    token,
    send: (proof: string) => t.inject({ method: 'POST', url: '/auth/step-up', payload: { password: PASSWORD }, headers: { authorization: `DPoP ${token}`, dpop: proof } }),
  }
}

function expectResourceRefusal(res: Response, code: 'invalid_dpop_proof' | 'use_dpop_nonce'): void {
  expect(res.statusCode, res.body).toBe(401)
  expect(res.json().code).toBe(code)
  expect(res.headers['www-authenticate']).toBe(`Bearer realm="latchkey", DPoP realm="latchkey", error="${code}", error_description="${res.json().detail}", algs="RS256 PS256 ES256 EdDSA"`)
}

describe('POST /auth/step-up with a DPoP-bound token', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ env: ENV })
  })
  afterAll(() => t.close())

  it('one proof, for the access token, checked once: the new session is bound to the same key', async () => {
    const client = createDpopClient()
    const stepUp = await boundStepUp(t, client)
    const res = await stepUp.send(proofFor(t, client, '/auth/step-up', { accessToken: stepUp.token }))
    expectBoundTo(res, client)
    expect(decodeJwt(res.json().access_token as string).sid).not.toBe(decodeJwt(stepUp.token).sid)
  })

  it('a bad proof is a protected route\'s 401 with the DPoP challenge', async () => {
    const client = createDpopClient()
    const stepUp = await boundStepUp(t, client)
    expectResourceRefusal(await stepUp.send(proofFor(t, client, '/auth/elsewhere', { accessToken: stepUp.token })), 'invalid_dpop_proof')
    // Without ath (a proof as for a token endpoint) too.
    expectResourceRefusal(await stepUp.send(proofFor(t, client, '/auth/step-up')), 'invalid_dpop_proof')
    expectResourceRefusal(await stepUp.send(proofFor(t, createDpopClient(), '/auth/step-up', { accessToken: stepUp.token })), 'invalid_dpop_proof')
  })
})

describe('DPoP refusals at the token endpoints (DPOP=required)', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ env: { ...ENV, DPOP: 'required' } })
  })
  afterAll(() => t.close())

  // The proof is checked before anything else the route looks at: bodies the route would refuse later do.
  it.each([
    ['/auth/register', { email: 'nobody@example.com', password: PASSWORD }],
    ['/auth/login', { email: 'nobody@example.com', password: PASSWORD }],
    ['/auth/refresh', { refresh_token: `lkr_${'A'.repeat(43)}` }],
    ['/auth/login/mfa', { challenge: `lkt_${'A'.repeat(43)}`, code: '123456' }],
  ])('POST %s without a proof is a 400 invalid_dpop_proof', async (path, payload) => {
    const res = await post(t, path, payload)
    expectTokenEndpointRefusal(res, 'invalid_dpop_proof')
    expect(res.json().detail).toMatch(/requires DPoP/)
  })
})

describe('DPoP server nonces at the token endpoints (DPOP_NONCE=true)', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ env: { ...ENV, DPOP_NONCE: 'true', DPOP_NONCE_LIFETIME: '300' } })
  })
  afterAll(() => t.close())

  describe.each(ENDPOINTS)('$name', ({ prepare }) => {
    it('a proof without the nonce, or with a made-up one, is a 400 use_dpop_nonce with DPoP-Nonce; the retry with it gets bound tokens', async () => {
      const client = createDpopClient()
      const request = await prepare(t)
      const first = await request.send(proofFor(t, client, request.path))
      expectTokenEndpointRefusal(first, 'use_dpop_nonce')
      const nonce = first.headers['dpop-nonce'] as string
      expect(nonce).toMatch(/^[A-Za-z0-9_-]{16,}$/)
      const madeUp = await request.send(proofFor(t, client, request.path, { nonce: 'made-up-by-the-client' }))
      expectTokenEndpointRefusal(madeUp, 'use_dpop_nonce')
      expect(madeUp.headers['dpop-nonce']).toBe(nonce)
      expectBoundTo(await request.send(proofFor(t, client, request.path, { nonce })), client)
    })
  })

  it('POST /auth/step-up asks for the nonce as a protected route: 401 with the challenge and DPoP-Nonce', async () => {
    const client = createDpopClient()
    const stepUp = await boundStepUp(t, client)
    const first = await stepUp.send(proofFor(t, client, '/auth/step-up', { accessToken: stepUp.token }))
    expectResourceRefusal(first, 'use_dpop_nonce')
    const nonce = first.headers['dpop-nonce'] as string
    expectBoundTo(await stepUp.send(proofFor(t, client, '/auth/step-up', { accessToken: stepUp.token, nonce })), client)
  })

  it('a protected route keeps the 401 use_dpop_nonce with the challenge and DPoP-Nonce', async () => {
    const client = createDpopClient()
    const request = await ENDPOINTS[1]!.prepare(t)
    const nonce = (await request.send(proofFor(t, client, request.path))).headers['dpop-nonce'] as string
    const token = (await request.send(proofFor(t, client, request.path, { nonce }))).json().access_token as string
    const res = await t.inject({ method: 'GET', url: '/me/claims', headers: { authorization: `DPoP ${token}`, dpop: client.proof({ htm: 'GET', htu: `${PUBLIC_URL}/me/claims`, iat: seconds(t), accessToken: token }) } })
    expect(res.statusCode).toBe(401)
    expect(res.json().code).toBe('use_dpop_nonce')
    expect(res.headers['dpop-nonce']).toBe(nonce)
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="latchkey", DPoP realm="latchkey", error="use_dpop_nonce", error_description="${res.json().detail}", algs="RS256 PS256 ES256 EdDSA"`)
  })
})
