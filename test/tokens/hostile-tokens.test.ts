import { generateKeyPairSync } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BARE_CHALLENGE, bearer, createTestApp, registerUser, T0, type TestApp } from '../helpers/app.ts'
import { sharedTestKey } from '../helpers/keys.ts'
import { b64, decodePayload, forgeHs256, forgeRs256 } from '../helpers/tokens.ts'

/**
 * DESIGN §4 and issue 2: every malformed or hostile access token is a 401 with an RFC 6750
 * challenge — never a 500, never accepted.
 */
describe('hostile access tokens on a protected route', () => {
  let t: TestApp
  let good: string
  let header: Record<string, unknown>
  let claims: Record<string, unknown>
  const now = T0 / 1000

  beforeAll(async () => {
    t = await createTestApp()
    good = (await registerUser(t)).access_token
    header = JSON.parse(Buffer.from(good.split('.')[0]!, 'base64url').toString())
    claims = decodePayload(good)
  })
  afterAll(() => t.close())

  async function expectRejected(token: string, description?: RegExp) {
    const res = await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(token) })
    expect(res.statusCode, `token ${token.slice(0, 80)} → ${res.body}`).toBe(401)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    const challenge = String(res.headers['www-authenticate'])
    expect(challenge).toMatch(/^Bearer realm="latchkey", error="invalid_token", error_description="[^"]+", DPoP realm="latchkey", algs="RS256 PS256 ES256 EdDSA"$/)
    if (description) expect(challenge).toMatch(description)
    expect(['invalid_token', 'token_expired']).toContain(res.json().code)
    return res
  }

  const rs = async (h: Record<string, unknown>, p: Record<string, unknown>) => forgeRs256(h, p, (await sharedTestKey()).privateKey)

  it('accepts the genuine token (the baseline the rest departs from)', async () => {
    const res = await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(good) })
    expect(res.statusCode).toBe(200)
  })

  it('refuses alg none in any casing, signed or not', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const unsigned = `${b64({ ...header, alg })}.${b64(claims)}.`
      await expectRejected(unsigned)
      await expectRejected(`${b64({ ...header, alg })}.${b64(claims)}.${good.split('.')[2]}`, /algorithm must be one of RS256, PS256, ES256, EdDSA/)
    }
  })

  it('refuses HS256 tokens signed with the public key as the secret', async () => {
    const key = await sharedTestKey()
    const pem = key.publicKey.export({ format: 'pem', type: 'spki' }) as string
    await expectRejected(forgeHs256({ ...header, alg: 'HS256' }, claims, pem), /algorithm must be one of RS256, PS256, ES256, EdDSA/)
    const der = key.publicKey.export({ format: 'der', type: 'spki' })
    await expectRejected(forgeHs256({ ...header, alg: 'HS256' }, claims, der))
  })

  it('refuses a token signed by a foreign key under the real kid', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    await expectRejected(forgeRs256(header, claims, privateKey), /signature is invalid/)
  })

  it('refuses a tampered payload and a tampered signature', async () => {
    const [h, , s] = good.split('.')
    await expectRejected(`${h}.${b64({ ...claims, scope: 'user admin' })}.${s}`, /signature is invalid/)
    const sig = Buffer.from(s!, 'base64url')
    sig[10] = (sig[10] ?? 0) ^ 1
    await expectRejected(`${h}.${good.split('.')[1]}.${sig.toString('base64url')}`, /signature is invalid/)
  })

  it('refuses an unknown kid and a missing kid', async () => {
    await expectRejected(await rs({ ...header, kid: 'x'.repeat(43) }, claims), /unknown key id/)
    const { kid: _kid, ...noKid } = header
    await expectRejected(await rs(noKid, claims), /kid is missing/)
  })

  it('refuses wrong iss, aud and typ', async () => {
    await expectRejected(await rs(header, { ...claims, iss: 'https://evil.example' }), /issuer/)
    await expectRejected(await rs(header, { ...claims, aud: 'someone-else' }), /audience/)
    await expectRejected(await rs({ ...header, typ: 'JWT' }, claims), /typ must be at\+jwt/)
    const { typ: _typ, ...noTyp } = header
    await expectRejected(await rs(noTyp, claims), /typ/)
  })

  it('refuses missing, non-numeric, absurd and past exp', async () => {
    const { exp: _exp, ...noExp } = claims
    await expectRejected(await rs(header, noExp), /exp claim/)
    await expectRejected(await rs(header, { ...claims, exp: String(now + 600) }), /exp claim/)
    await expectRejected(await rs(header, { ...claims, exp: 1e308 }), /exp claim/)
    await expectRejected(await rs(header, { ...claims, exp: -5 }), /exp claim/)
    await expectRejected(await rs(header, { ...claims, exp: now + 86400 * 365 }), /lifetime/)
    await expectRejected(await rs(header, { ...claims, exp: now + 4000 }), /lifetime/)
    const expired = await rs(header, { ...claims, iat: now - 700, nbf: now - 700, exp: now - 100 })
    const res = await expectRejected(expired, /token has expired/)
    expect(res.json().code).toBe('token_expired')
  })

  it('tolerates small clock skew but refuses future nbf and iat', async () => {
    const skewed = await rs(header, { ...claims, iat: now + 20, nbf: now + 20, exp: now + 620 })
    expect((await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(skewed) })).statusCode).toBe(200)
    await expectRejected(await rs(header, { ...claims, nbf: now + 120 }), /not yet valid/)
    await expectRejected(await rs(header, { ...claims, iat: now + 120, nbf: now, exp: now + 600 }), /issued in the future/)
  })

  it('refuses jku, jwk, x5u, x5c and crit headers even when the signature is good', async () => {
    for (const extra of [
      { jku: 'https://evil.example/jwks.json' },
      { jwk: { kty: 'RSA', n: 'AQAB', e: 'AQAB' } },
      { x5u: 'https://evil.example/cert.pem' },
      { x5c: ['MIIB'] },
      { crit: ['exp'] },
    ]) {
      await expectRejected(await rs({ ...header, ...extra }, claims), /parameter that is not accepted/)
    }
  })

  it('never echoes attacker-chosen bytes into the challenge (control characters, unicode)', async () => {
    for (const name of ['\u0001', '\u2028', 'é', 'x"y\\z', '\r\nSet-Cookie: a=b']) {
      const res = await expectRejected(`${b64({ ...header, [name]: 1 })}.${b64(claims)}.AAAA`)
      expect(String(res.headers['www-authenticate'])).toMatch(/^[\x20-\x7e]+$/)
      expect(res.headers['set-cookie']).toBeUndefined()
    }
  })

  it('refuses non-canonical base64url: padding, standard alphabet, altered trailing bits', async () => {
    const [h, p, s] = good.split('.') as [string, string, string]
    await expectRejected(`${h}=.${p}.${s}`)
    await expectRejected(`${h}.${p}.${Buffer.from(s, 'base64url').toString('base64')}`)
    // The header's last character carries unused bits: flipping them decodes to the same bytes.
    const last = h.at(-1)!
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const twin = alphabet[alphabet.indexOf(last) ^ 1]!
    if (h.length % 4 !== 0) {
      expect(Buffer.from(`${h.slice(0, -1)}${twin}`, 'base64url').equals(Buffer.from(h, 'base64url'))).toBe(true)
      await expectRejected(`${h.slice(0, -1)}${twin}.${p}.${s}`, /canonical/)
    }
  })

  it('refuses two, four and empty segments, and garbage', async () => {
    const [h, p, s] = good.split('.')
    await expectRejected(`${h}.${p}`, /three segments/)
    await expectRejected(`${h}.${p}.${s}.${s}`, /three segments/)
    await expectRejected(`..`)
    await expectRejected(`${b64('not json')}.${p}.${s}`, /header is not JSON/)
    await expectRejected(`${b64([1, 2])}.${p}.${s}`, /header is not a JSON object/)
  })

  it('refuses megabyte-sized tokens before any parsing', async () => {
    await expectRejected(`${good}${'A'.repeat(1024 * 1024)}`, /too large/)
    await expectRejected(await rs(header, { ...claims, pad: 'x'.repeat(8000) }), /too large/)
  })

  it('answers odd Authorization headers with 401 and a Bearer challenge', async () => {
    const cases: Array<[string, string, boolean]> = [
      [`Basic ${Buffer.from('a:b').toString('base64')}`, 'missing_token', false],
      [`Token ${good}`, 'missing_token', false],
      ['Bearer', 'invalid_token', true],
      ['Bearer ', 'invalid_token', true],
      [`Bearer ${good} extra`, 'invalid_token', true],
      [`Bearer "${good}"`, 'invalid_token', true],
      ['', 'missing_token', false],
    ]
    for (const [authorization, code, presented] of cases) {
      const res = await t.inject({ method: 'GET', url: '/me/claims', headers: { authorization } })
      expect(res.statusCode, authorization.slice(0, 20)).toBe(401)
      expect(res.json().code).toBe(code)
      const challenge = String(res.headers['www-authenticate'])
      expect(challenge.startsWith('Bearer realm="latchkey"')).toBe(true)
      expect(challenge.includes('error="invalid_token"')).toBe(presented)
    }
    // The scheme name is case-insensitive (RFC 7235), and spaces around the token are allowed.
    for (const authorization of [`bearer ${good}`, `BEARER ${good}`, `Bearer   ${good}`, `Bearer ${good}  `]) {
      expect((await t.inject({ method: 'GET', url: '/me/claims', headers: { authorization } })).statusCode, authorization.slice(0, 12)).toBe(200)
    }
    // A header in the plain form but not a b64token is refused as malformed, as the strict parse says.
    const res = await t.inject({ method: 'GET', url: '/me/claims', headers: { authorization: `Bearer ${good}"` } })
    expect(String(res.headers['www-authenticate'])).toContain('error_description="the bearer token is malformed"')
  })

  it('answers no token at all with the bare challenge', async () => {
    const res = await t.inject({ method: 'GET', url: '/me' })
    expect(res.statusCode).toBe(401)
    expect(res.json().code).toBe('missing_token')
    expect(res.headers['www-authenticate']).toBe(BARE_CHALLENGE)
  })

  it('stops accepting a token once its key leaves the key set', async () => {
    const ring = t.keys
    const before = ring.current
    ring.replace({ ...before, verificationKeys: new Map() })
    try {
      await expectRejected(good, /unknown key id/)
    } finally {
      ring.replace(before)
    }
  })
})
