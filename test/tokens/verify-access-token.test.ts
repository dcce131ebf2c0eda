import { describe, expect, it } from 'vitest'
import { ProblemError } from '@latchkey/verifier'
import { signAccessTokenSync } from '../../src/tokens/sign-access-token.ts'
import { verifyAccessToken, type VerificationKey } from '@latchkey/verifier'
import { sharedTestKey } from '../helpers/keys.ts'
import { forgeRs256 } from '../helpers/tokens.ts'

const NOW = 1_800_000_000
const policy = { issuer: 'https://issuer.test', audience: 'api', clockTolerance: 30 }
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

async function setup() {
  const key = await sharedTestKey()
  const token = signAccessTokenSync({ issuer: policy.issuer, audience: 'api', subject: 'u', sessionId: 's', scope: 'user', now: NOW, ttl: 600 }, key).token
  const keys = new Map([[key.kid, { key: key.publicKey, alg: key.alg }]])
  const verify = (t: string) => {
    try {
      verifyAccessToken(t, keys, policy, NOW)
      return 'accepted'
    } catch (err) {
      return err instanceof ProblemError ? `${err.code}: ${err.message}` : String(err)
    }
  }
  return { token, verify }
}

/** The same bytes, spelled with a different last character (unused low bits set). */
function nonCanonical(segment: string): string {
  const last = ALPHABET.indexOf(segment.at(-1)!)
  const spare = segment.length % 4 === 2 ? 0x0f : 0x03
  return segment.slice(0, -1) + ALPHABET[last | spare]
}

describe('base64url canonicality in verifyAccessToken', () => {
  it('accepts the canonical token', async () => {
    const { token, verify } = await setup()
    expect(verify(token)).toBe('accepted')
  })

  it('refuses a signature or payload whose last character carries non-zero unused bits', async () => {
    const { token, verify } = await setup()
    const [h, p, s] = token.split('.') as [string, string, string]
    expect(s.length % 4).not.toBe(0)
    expect(Buffer.from(nonCanonical(s), 'base64url')).toEqual(Buffer.from(s, 'base64url'))
    expect(verify(`${h}.${p}.${nonCanonical(s)}`)).toMatch(/^invalid_token: signature is not canonical/)
    if (p.length % 4 !== 0) expect(verify(`${h}.${nonCanonical(p)}.${s}`)).toMatch(/^invalid_token: payload is not canonical/)
  })

  it('refuses padding and foreign characters', async () => {
    const { token, verify } = await setup()
    expect(verify(`${token}=`)).toMatch(/^invalid_token/)
    expect(verify(token.replace('.', '.+'))).toMatch(/^invalid_token/)
  })
})

describe('the header of a verified token, remembered', () => {
  it('still checks every other spelling of it, and still looks its kid up in the keys in force', async () => {
    const key = await sharedTestKey()
    const token = signAccessTokenSync({ issuer: policy.issuer, audience: 'api', subject: 'u', sessionId: 's', scope: 'user', now: NOW, ttl: 600 }, key).token
    const [h, p, s] = token.split('.') as [string, string, string]
    const keys = new Map([[key.kid, { key: key.publicKey, alg: key.alg }]])
    const codeOf = (t: string, k: ReadonlyMap<string, VerificationKey> = keys) => {
      try {
        verifyAccessToken(t, k, policy, NOW)
        return 'accepted'
      } catch (err) {
        return err instanceof ProblemError ? `${err.code}: ${err.message}` : String(err)
      }
    }
    expect(codeOf(token)).toBe('accepted') // its header segment is now remembered
    expect(codeOf(token)).toBe('accepted')
    // The key leaves the set: the remembered header does not keep its tokens alive.
    expect(codeOf(token, new Map())).toBe('invalid_token: unknown key id')
    // The same header bytes spelled otherwise, or another header, get every check.
    if (h.length % 4 !== 0) expect(codeOf(`${nonCanonical(h)}.${p}.${s}`)).toMatch(/^invalid_token: header is not canonical/)
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>
    const respelled = (extra: Record<string, unknown>) => Buffer.from(JSON.stringify({ ...header, ...extra })).toString('base64url')
    expect(codeOf(`${respelled({ alg: 'none' })}.${p}.${s}`)).toBe('invalid_token: algorithm must be one of RS256, PS256, ES256, EdDSA')
    expect(codeOf(`${respelled({ jku: 'https://evil.test/jwks' })}.${p}.${s}`)).toBe('invalid_token: the header has a parameter that is not accepted')
    // A forged payload under the remembered header is refused by the signature check.
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), scope: 'user admin' })).toString('base64url')
    expect(codeOf(`${h}.${forged}.${s}`)).toBe('invalid_token: signature is invalid')
  })
})

describe('client_id (RFC 9068 §2.2) in verifyAccessToken', () => {
  it('passes a string client_id through to the claims and refuses any other form', async () => {
    const key = await sharedTestKey()
    const keys = new Map([[key.kid, { key: key.publicKey, alg: key.alg }]])
    const base = { issuer: policy.issuer, audience: 'api', subject: 'u', sessionId: 's', scope: 'user', now: NOW, ttl: 600 }
    const named = signAccessTokenSync({ ...base, clientId: 'ios-app' }, key).token
    expect(verifyAccessToken(named, keys, policy, NOW).client_id).toBe('ios-app')
    expect(verifyAccessToken(signAccessTokenSync(base, key).token, keys, policy, NOW)).not.toHaveProperty('client_id')
    const header = { alg: 'RS256', typ: 'at+jwt', kid: key.kid }
    const claims = { iss: policy.issuer, sub: 'u', aud: 'api', exp: NOW + 600, iat: NOW, nbf: NOW, jti: 'j', sid: 's', scope: 'user' }
    for (const client_id of [42, '', ['ios-app'], null]) {
      expect(() => verifyAccessToken(forgeRs256(header, { ...claims, client_id }, key.privateKey), keys, policy, NOW)).toThrow(/client_id claim is not a string/)
    }
  })
})
