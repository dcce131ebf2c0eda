import { decodeJwt } from 'jose'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BARE_CHALLENGE, DPOP_CHALLENGE, PASSWORD, bearer, createTestApp, uniqueEmail, type TestApp } from '../helpers/app.ts'
import { createDpopClient, thumbprintOf, type DpopClient, type ProofClaims } from '../helpers/dpop.ts'

/**
 * RFC 9449 end to end: sign-in and refresh with a proof issue DPoP-bound tokens, protected routes
 * check every claim of §4.3 with proofs built here, and each failure has one code and its challenge.
 */

interface Tokens {
  access_token: string
  refresh_token: string
  token_type: string
}

const seconds = (t: TestApp) => Math.floor(t.clock.now() / 1000)

function proofFor(t: TestApp, client: DpopClient, method: string, path: string, extra: Partial<ProofClaims> = {}, header: Record<string, unknown> = {}): string {
  return client.proof({ htm: method, htu: `${t.config.publicUrl}${path}`, iat: seconds(t), ...extra }, header)
}

async function signIn(t: TestApp, client: DpopClient | undefined, email: string, headers: Record<string, string> = {}) {
  return t.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email, password: PASSWORD },
    headers: { ...headers, ...(client ? { dpop: proofFor(t, client, 'POST', '/auth/login') } : {}) },
  })
}

async function registered(t: TestApp): Promise<string> {
  const email = uniqueEmail()
  const res = await t.inject({ method: 'POST', url: '/auth/register', payload: { email, password: PASSWORD } })
  expect(res.statusCode).toBe(201)
  return email
}

async function boundSession(t: TestApp, client: DpopClient): Promise<Tokens & { email: string }> {
  const email = await registered(t)
  const res = await signIn(t, client, email)
  expect(res.statusCode, res.body).toBe(200)
  return { email, ...(res.json() as Tokens) }
}

const claimsWith = (t: TestApp, token: string, proof: string | undefined, scheme = 'DPoP') =>
  t.inject({ method: 'GET', url: '/me/claims', headers: { authorization: `${scheme} ${token}`, ...(proof === undefined ? {} : { dpop: proof }) } })

function expectProofRefused(res: { statusCode: number; json(): unknown; headers: Record<string, unknown> }, detail: RegExp) {
  expect(res.statusCode).toBe(401)
  const body = res.json() as { code: string; detail: string }
  expect(body.code).toBe('invalid_dpop_proof')
  expect(body.detail).toMatch(detail)
  // RFC 9449 §7.1: the error goes with the DPoP challenge; the Bearer one stays bare.
  expect(res.headers['www-authenticate']).toBe(`Bearer realm="latchkey", DPoP realm="latchkey", error="invalid_dpop_proof", error_description="${body.detail}", algs="RS256 PS256 ES256 EdDSA"`)
}

/**
 * A refusal at a token endpoint (RFC 9449 §5, §8): an RFC 6749 §5.2 error response, a 400 with the
 * same code, and no WWW-Authenticate — the request presented no access token to challenge.
 */
function expectTokenEndpointRefused(res: { statusCode: number; json(): unknown; headers: Record<string, unknown> }, detail: RegExp, code = 'invalid_dpop_proof') {
  expect(res.statusCode).toBe(400)
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
  const body = res.json() as { code: string; detail: string; status: number }
  expect(body).toMatchObject({ code, status: 400 })
  expect(body.detail).toMatch(detail)
  expect(res.headers['www-authenticate']).toBeUndefined()
}

describe('DPoP: issuing bound tokens and checking proofs', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp()
  })
  afterEach(() => t.close())

  it.each(['ES256', 'EdDSA', 'RS256', 'PS256'] as const)('a sign-in with a %s proof gets DPoP tokens bound to that key, usable with a proof', async (alg) => {
    const client = createDpopClient(alg)
    const session = await boundSession(t, client)
    expect(session.token_type).toBe('DPoP')
    expect(decodeJwt(session.access_token).cnf).toEqual({ jkt: thumbprintOf(client) })
    const res = await claimsWith(t, session.access_token, proofFor(t, client, 'GET', '/me/claims', { accessToken: session.access_token }))
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json().cnf).toEqual({ jkt: thumbprintOf(client) })
  })

  it('registration with a proof binds the first session too; without one the tokens stay Bearer', async () => {
    const client = createDpopClient()
    const bound = await t.inject({ method: 'POST', url: '/auth/register', payload: { email: uniqueEmail(), password: PASSWORD }, headers: { dpop: proofFor(t, client, 'POST', '/auth/register') } })
    expect(bound.statusCode).toBe(201)
    expect(bound.json().token_type).toBe('DPoP')
    expect(decodeJwt(bound.json().access_token).cnf).toEqual({ jkt: thumbprintOf(client) })
    const plain = await t.inject({ method: 'POST', url: '/auth/register', payload: { email: uniqueEmail(), password: PASSWORD } })
    expect(plain.json().token_type).toBe('Bearer')
    expect(decodeJwt(plain.json().access_token).cnf).toBeUndefined()
  })

  it('refuses a proof for another method, another URL, or without the access token hash', async () => {
    const client = createDpopClient()
    const { access_token } = await boundSession(t, client)
    expectProofRefused(await claimsWith(t, access_token, proofFor(t, client, 'POST', '/me/claims', { accessToken: access_token })), /htm/)
    expectProofRefused(await claimsWith(t, access_token, proofFor(t, client, 'GET', '/me', { accessToken: access_token })), /htu/)
    expectProofRefused(await claimsWith(t, access_token, client.proof({ htm: 'GET', htu: 'https://evil.example/me/claims', iat: seconds(t), accessToken: access_token })), /htu/)
    expectProofRefused(await claimsWith(t, access_token, proofFor(t, client, 'GET', '/me/claims')), /ath/)
    expectProofRefused(await claimsWith(t, access_token, proofFor(t, client, 'GET', '/me/claims', { ath: 'A'.repeat(43) })), /ath/)
    // htu is compared without query and fragment (RFC 9449 §4.3 item 9).
    const ok = await claimsWith(t, access_token, proofFor(t, client, 'GET', '/me/claims?x=1#frag', { accessToken: access_token }))
    expect(ok.statusCode, ok.body).toBe(200)
  })

  it('refuses proofs that are too old or from the future, beyond the clock tolerance', async () => {
    const client = createDpopClient()
    const { access_token } = await boundSession(t, client)
    const maxAge = t.config.dpop.proofMaxAge
    const tolerance = t.config.clockTolerance
    expectProofRefused(await claimsWith(t, access_token, proofFor(t, client, 'GET', '/me/claims', { accessToken: access_token, iat: seconds(t) - maxAge - tolerance - 1 })), /iat|old/)
    expectProofRefused(await claimsWith(t, access_token, proofFor(t, client, 'GET', '/me/claims', { accessToken: access_token, iat: seconds(t) + tolerance + 1 })), /iat|future/)
    const edge = await claimsWith(t, access_token, proofFor(t, client, 'GET', '/me/claims', { accessToken: access_token, iat: seconds(t) - maxAge }))
    expect(edge.statusCode, edge.body).toBe(200)
  })

  it('accepts each proof once: a replayed jti is refused', async () => {
    const client = createDpopClient()
    const { access_token } = await boundSession(t, client)
    const proof = proofFor(t, client, 'GET', '/me/claims', { accessToken: access_token })
    expect((await claimsWith(t, access_token, proof)).statusCode).toBe(200)
    expectProofRefused(await claimsWith(t, access_token, proof), /used before/)
    // A sign-in proof is single-use as well.
    const email = await registered(t)
    const loginProof = proofFor(t, client, 'POST', '/auth/login')
    expect((await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD }, headers: { dpop: loginProof } })).statusCode).toBe(200)
    expectTokenEndpointRefused(await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD }, headers: { dpop: loginProof } }), /used before/)
  })

  it('refuses a proof signed by another key than the one the token is bound to', async () => {
    const client = createDpopClient()
    const thief = createDpopClient()
    const { access_token } = await boundSession(t, client)
    expectProofRefused(await claimsWith(t, access_token, proofFor(t, thief, 'GET', '/me/claims', { accessToken: access_token })), /not the key/)
  })

  it('refuses malformed and hostile proofs with invalid_dpop_proof, never a 500', async () => {
    const client = createDpopClient()
    const { access_token } = await boundSession(t, client)
    const good = proofFor(t, client, 'GET', '/me/claims', { accessToken: access_token })
    const [h, p, s] = good.split('.') as [string, string, string]
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>
    const hostile = [
      '',
      'not-a-jwt',
      `${h}.${p}`,
      `${h}.${p}.${s.slice(0, -4)}AAAA`, // bad signature
      `${b64({ ...header, typ: 'JWT' })}.${p}.${s}`,
      `${b64({ ...header, alg: 'none' })}.${p}.`,
      `${b64({ ...header, alg: 'HS256' })}.${p}.${s}`,
      `${b64({ ...header, jwk: { ...(header.jwk as object), d: 'private' } })}.${p}.${s}`,
      `${b64({ ...header, jwk: undefined })}.${p}.${s}`,
      `${h}.${b64({ htm: 'GET' })}.${s}`,
      `${h}.${Buffer.from('{not json').toString('base64url')}.${s}`,
      proofFor(t, client, 'GET', '/me/claims', { accessToken: access_token }, { typ: 'dpop+jwt', alg: 'ES384' }),
      proofFor(t, client, 'GET', '/me/claims', { accessToken: access_token, jti: '' }),
      proofFor(t, client, 'GET', '/me/claims', { accessToken: access_token, iat: 'yesterday' as unknown as number }),
    ]
    for (const proof of hostile) {
      const res = await claimsWith(t, access_token, proof)
      expect(res.statusCode, proof).toBe(401)
      expect(res.json().code, proof).toBe('invalid_dpop_proof')
    }
    const twoProofs = await t.inject({ method: 'GET', url: '/me/claims', headers: { authorization: `DPoP ${access_token}`, dpop: [good, good] as unknown as string } })
    expect(twoProofs.statusCode).toBe(401)
    expect(twoProofs.json().code).toBe('invalid_dpop_proof')
  })

  it('a bound token sent as Bearer, or without a proof, is refused; an unbound one sent as DPoP too', async () => {
    const client = createDpopClient()
    const { access_token } = await boundSession(t, client)
    const asBearer = await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(access_token) })
    expect(asBearer.statusCode).toBe(401)
    expect(asBearer.json().code).toBe('invalid_token')
    expect(asBearer.headers['www-authenticate']).toBe(`Bearer realm="latchkey", error="invalid_token", error_description="${asBearer.json().detail}", ${DPOP_CHALLENGE}`)
    expectProofRefused(await claimsWith(t, access_token, undefined), /DPoP proof/)

    const plain = (await signIn(t, undefined, await registered(t))).json() as Tokens
    const asDpop = await claimsWith(t, plain.access_token, proofFor(t, client, 'GET', '/me/claims', { accessToken: plain.access_token }))
    expect(asDpop.statusCode).toBe(401)
    expect(asDpop.json().code).toBe('invalid_token')
    expect(asDpop.headers['www-authenticate']).toBe(`Bearer realm="latchkey", DPoP realm="latchkey", error="invalid_token", error_description="${asDpop.json().detail}", algs="RS256 PS256 ES256 EdDSA"`)
  })

  it('a request without any token gets the bare Bearer and DPoP challenges', async () => {
    const res = await t.inject({ method: 'GET', url: '/me/claims' })
    expect(res.statusCode).toBe(401)
    expect(res.headers['www-authenticate']).toBe(BARE_CHALLENGE)
  })

  it('two Authorization headers, or a token in the query as well, are a 400 invalid_request', async () => {
    const client = createDpopClient()
    const { access_token } = await boundSession(t, client)
    const proof = proofFor(t, client, 'GET', '/me/claims', { accessToken: access_token })
    const twice = await t.inject({ method: 'GET', url: '/me/claims', // light-my-request sends an array as repeated headers; its types only admit strings.
      headers: { authorization: [`DPoP ${access_token}`, `DPoP ${access_token}`] as unknown as string, dpop: proof } })
    expect(twice.statusCode).toBe(400)
    expect(twice.json().code).toBe('invalid_request')
    const query = await t.inject({ method: 'GET', url: `/me/claims?access_token=${access_token}`, headers: { authorization: `DPoP ${access_token}`, dpop: proof } })
    expect(query.statusCode).toBe(400)
    expect(query.json().code).toBe('invalid_request')
  })

  describe('refresh of a bound session', () => {
    const refresh = (t: TestApp, refresh_token: string, proof?: string, headers: Record<string, string> = {}) =>
      t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token }, headers: { ...headers, ...(proof ? { dpop: proof } : {}) } })

    it('rotates with a proof of the same key and keeps the binding', async () => {
      const client = createDpopClient()
      const session = await boundSession(t, client)
      const res = await refresh(t, session.refresh_token, proofFor(t, client, 'POST', '/auth/refresh'))
      expect(res.statusCode, res.body).toBe(200)
      expect(res.json().token_type).toBe('DPoP')
      expect(decodeJwt(res.json().access_token).cnf).toEqual({ jkt: thumbprintOf(client) })
    })

    it('refuses another key or no proof without spending the token, and audits it', async () => {
      const client = createDpopClient()
      const thief = createDpopClient()
      const session = await boundSession(t, client)
      expectTokenEndpointRefused(await refresh(t, session.refresh_token, proofFor(t, thief, 'POST', '/auth/refresh')), /bound to another DPoP key/)
      expectTokenEndpointRefused(await refresh(t, session.refresh_token), /bound to a DPoP key/)
      // Nothing was rotated or revoked: the holder of the key refreshes as if nothing happened.
      const res = await refresh(t, session.refresh_token, proofFor(t, client, 'POST', '/auth/refresh'))
      expect(res.statusCode, res.body).toBe(200)
      const mismatches = await t.store.listAudit({ type: 'refresh_dpop_mismatch', limit: 50 })
      expect(mismatches.map((e) => e.details)).toEqual(expect.arrayContaining([{ proof: 'other_key' }, { proof: 'none' }]))
      expect(await t.store.listAudit({ type: 'refresh_reuse_detected', limit: 50 })).toEqual([])
    })

    it('a proof for another path is refused before the token is looked at', async () => {
      const client = createDpopClient()
      const session = await boundSession(t, client)
      expectTokenEndpointRefused(await refresh(t, session.refresh_token, proofFor(t, client, 'POST', '/auth/login')), /htu/)
      expect((await refresh(t, session.refresh_token, proofFor(t, client, 'POST', '/auth/refresh'))).statusCode).toBe(200)
    })

    it('an unbound session may be refreshed with a proof: the new access token is bound, the session is not', async () => {
      const client = createDpopClient()
      const plain = (await signIn(t, undefined, await registered(t))).json() as Tokens
      const res = await refresh(t, plain.refresh_token, proofFor(t, client, 'POST', '/auth/refresh'))
      expect(res.statusCode).toBe(200)
      expect(res.json().token_type).toBe('DPoP')
      const next = await refresh(t, res.json().refresh_token)
      expect(next.statusCode).toBe(200)
      expect(next.json().token_type).toBe('Bearer')
    })

    it('in cookie mode a wrong proof leaves the refresh cookie in place', async () => {
      const client = createDpopClient()
      const email = await registered(t)
      const origin = 'http://app.example'
      await t.close()
      t = await createTestApp({ env: { CORS_ORIGINS: origin } })
      await t.inject({ method: 'POST', url: '/auth/register', payload: { email, password: PASSWORD } })
      const login = await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD }, headers: { origin, 'x-latchkey-refresh': 'cookie', dpop: proofFor(t, client, 'POST', '/auth/login') } })
      expect(login.statusCode, login.body).toBe(200)
      const cookie = String(login.headers['set-cookie']).split(';')[0]!
      const wrong = await t.inject({ method: 'POST', url: '/auth/refresh', headers: { origin, 'x-latchkey-refresh': 'cookie', cookie, dpop: proofFor(t, createDpopClient(), 'POST', '/auth/refresh') } })
      expectTokenEndpointRefused(wrong, /bound to another DPoP key/)
      expect(wrong.headers['set-cookie']).toBeUndefined()
      const right = await t.inject({ method: 'POST', url: '/auth/refresh', headers: { origin, 'x-latchkey-refresh': 'cookie', cookie, dpop: proofFor(t, client, 'POST', '/auth/refresh') } })
      expect(right.statusCode, right.body).toBe(200)
    })
  })
})

describe('DPoP modes', () => {
  let t: TestApp | undefined
  afterEach(async () => {
    await t?.close()
    t = undefined
  })

  it('DPOP=required: sign-in needs a proof and bearer tokens are refused', async () => {
    const open = await createTestApp()
    const email = await registered(open)
    const bearerToken = ((await signIn(open, undefined, email)).json() as Tokens).access_token
    t = await createTestApp({ env: { DPOP: 'required' }, store: open.store, keys: open.keys })
    expectTokenEndpointRefused(await signIn(t, undefined, email), /requires DPoP/)
    const asBearer = await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(bearerToken) })
    expect(asBearer.statusCode).toBe(401)
    expect(asBearer.json().code).toBe('invalid_token')
    const client = createDpopClient()
    const bound = (await signIn(t, client, email)).json() as Tokens
    expect(bound.token_type).toBe('DPoP')
    expect((await claimsWith(t, bound.access_token, proofFor(t, client, 'GET', '/me/claims', { accessToken: bound.access_token }))).statusCode).toBe(200)
    await open.app.close()
  })

  it('DPOP=off: the DPoP header is ignored at sign-in, the DPoP scheme is refused, challenges are Bearer only', async () => {
    t = await createTestApp({ env: { DPOP: 'off' } })
    const client = createDpopClient()
    const email = await registered(t)
    const res = await signIn(t, client, email)
    expect(res.json().token_type).toBe('Bearer')
    expect(decodeJwt(res.json().access_token).cnf).toBeUndefined()
    const asDpop = await claimsWith(t, res.json().access_token, proofFor(t, client, 'GET', '/me/claims', { accessToken: res.json().access_token }))
    expect(asDpop.statusCode).toBe(401)
    expect(asDpop.headers['www-authenticate']).toBe('Bearer realm="latchkey"')
    expect((await t.inject({ method: 'GET', url: '/me/claims' })).headers['www-authenticate']).toBe('Bearer realm="latchkey"')
  })
})

describe('DPoP server nonces (DPOP_NONCE=true)', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp({ env: { DPOP_NONCE: 'true', DPOP_NONCE_LIFETIME: '60' } })
  })
  afterEach(() => t.close())

  /** At a protected route: a 401 with the `DPoP error="use_dpop_nonce"` challenge (RFC 9449 §9). */
  function expectNonceRequired(res: { statusCode: number; json(): unknown; headers: Record<string, unknown> }): string {
    expect(res.statusCode).toBe(401)
    const body = res.json() as { code: string; detail: string }
    expect(body.code).toBe('use_dpop_nonce')
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="latchkey", DPoP realm="latchkey", error="use_dpop_nonce", error_description="${body.detail}", algs="RS256 PS256 ES256 EdDSA"`)
    const nonce = res.headers['dpop-nonce']
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{16,}$/)
    return nonce as string
  }

  /** At a token endpoint: a 400 `use_dpop_nonce` with the nonce and no challenge (RFC 9449 §8). */
  function expectNonceRequiredAtTokenEndpoint(res: { statusCode: number; json(): unknown; headers: Record<string, unknown> }): string {
    expectTokenEndpointRefused(res, /nonce/, 'use_dpop_nonce')
    const nonce = res.headers['dpop-nonce']
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{16,}$/)
    return nonce as string
  }

  it('a proof without the nonce gets use_dpop_nonce and the nonce (400 at sign-in and refresh, 401 at a resource); the retry with it succeeds', async () => {
    const client = createDpopClient()
    const email = await registered(t)
    const first = await signIn(t, client, email)
    const nonce = expectNonceRequiredAtTokenEndpoint(first)
    const retry = await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD }, headers: { dpop: proofFor(t, client, 'POST', '/auth/login', { nonce }) } })
    expect(retry.statusCode, retry.body).toBe(200)
    const token = retry.json().access_token as string
    expectNonceRequired(await claimsWith(t, token, proofFor(t, client, 'GET', '/me/claims', { accessToken: token })))
    expectNonceRequired(await claimsWith(t, token, proofFor(t, client, 'GET', '/me/claims', { accessToken: token, nonce: 'made-up-by-the-client' })))
    expect((await claimsWith(t, token, proofFor(t, client, 'GET', '/me/claims', { accessToken: token, nonce }))).statusCode).toBe(200)
    const refresh = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: retry.json().refresh_token }, headers: { dpop: proofFor(t, client, 'POST', '/auth/refresh') } })
    expectNonceRequiredAtTokenEndpoint(refresh)
  })

  it('a nonce stays accepted for one more lifetime after the next one is issued, then is refused', async () => {
    const client = createDpopClient()
    const email = await registered(t)
    const nonce = expectNonceRequiredAtTokenEndpoint(await signIn(t, client, email))
    const login = (n: string) => t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD }, headers: { dpop: proofFor(t, client, 'POST', '/auth/login', { nonce: n }) } })
    t.clock.advance(60_000)
    expect((await login(nonce)).statusCode).toBe(200)
    t.clock.advance(60_000)
    const next = expectNonceRequiredAtTokenEndpoint(await login(nonce))
    expect(next).not.toBe(nonce)
    expect((await login(next)).statusCode).toBe(200)
  })
})
