import { createPublicKey, sign } from 'node:crypto'
import { importJwks, ProblemError, SIGNING_ALGORITHMS, verifyAccessToken, type SigningAlgorithm, type VerificationKey } from '@latchkey/verifier'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { generateSigningKey, type GeneratedKey } from '../../src/keys/generate-key.ts'
import { createKeySet } from '../../src/keys/key-set.ts'
import { signAccessToken, signAccessTokenSync } from '../../src/tokens/sign-access-token.ts'
import { recordOf } from '../helpers/keys.ts'

const NOW = 1_800_000_000
const policy = { issuer: 'https://auth.example.com', audience: 'api', clockTolerance: 30 }
const input = { issuer: policy.issuer, audience: 'api', subject: 'user-1', sessionId: 'session-1', scope: 'user', now: NOW, ttl: 600 }
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

function outcome(token: string, keys: ReadonlyMap<string, VerificationKey>): string {
  try {
    verifyAccessToken(token, keys, policy, NOW)
    return 'accepted'
  } catch (err) {
    return err instanceof ProblemError ? `${err.code}: ${err.message}` : String(err)
  }
}

describe('signing algorithms, each bound to its key', () => {
  const generated = new Map<SigningAlgorithm, GeneratedKey>()
  beforeAll(async () => {
    for (const alg of SIGNING_ALGORITHMS) generated.set(alg, await generateSigningKey(alg))
  })
  const keyOf = (alg: SigningAlgorithm) => generated.get(alg)!
  const keySet = () => createKeySet(SIGNING_ALGORITHMS.map((alg, i) => recordOf(keyOf(alg), i === 0 ? 'current' : 'next')))

  it.each(SIGNING_ALGORITHMS)('%s: Latchkey signs, publishes the key with its alg, and verifies; jose agrees', async (alg) => {
    const key = keyOf(alg)
    const { token } = await signAccessToken(input, key)
    expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())).toEqual({ alg, typ: 'at+jwt', kid: key.kid })
    expect(outcome(token, keySet().verificationKeys)).toBe('accepted')
    // The same token through an independent implementation, from the published JWKS.
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(keySet().jwks), { issuer: policy.issuer, audience: 'api', algorithms: [alg], currentDate: new Date(NOW * 1000) })
    expect(protectedHeader.alg).toBe(alg)
    expect(payload.sub).toBe('user-1')
    expect(token.length).toBeLessThan(1024)
  })

  it('publishes each key in its own JWK form: RSA n/e, EC P-256 x/y, OKP Ed25519 x', () => {
    const byAlg = Object.fromEntries(keySet().jwks.keys.map((k) => [k.alg, k]))
    expect(byAlg.RS256).toMatchObject({ kty: 'RSA', use: 'sig', e: 'AQAB' })
    expect(byAlg.PS256).toMatchObject({ kty: 'RSA', use: 'sig' })
    expect(byAlg.ES256).toMatchObject({ kty: 'EC', crv: 'P-256', use: 'sig' })
    expect(byAlg.ES256!.y).toBeTypeOf('string')
    expect(byAlg.EdDSA).toMatchObject({ kty: 'OKP', crv: 'Ed25519', use: 'sig' })
    for (const jwk of keySet().jwks.keys) expect(jwk).not.toHaveProperty('d')
  })

  it('a token is accepted only with the algorithm bound to the key it names, never the one its header asks for', () => {
    const rsa = keyOf('RS256')
    const keys = keySet().verificationKeys
    const claims = b64({ iss: policy.issuer, sub: 'u', aud: 'api', exp: NOW + 600, iat: NOW, nbf: NOW, jti: 'j', sid: 's', scope: 'admin' })
    // PS256 signed with the RS256 key's private half: a valid RSA-PSS signature, but not this key's algorithm.
    const psHeader = b64({ alg: 'PS256', typ: 'at+jwt', kid: rsa.kid })
    const psSignature = signAccessTokenSync(input, { kid: rsa.kid, alg: 'PS256', privateKey: rsa.privateKey }).token.split('.')[2]
    expect(outcome(`${psHeader}.${claims}.${psSignature}`, keys)).toBe('invalid_token: algorithm must be RS256 for this key')
    // ES256 header naming the EdDSA key, and the reverse.
    const es = keyOf('ES256')
    const ed = keyOf('EdDSA')
    const edToken = signAccessTokenSync(input, ed).token.split('.')
    expect(outcome(`${b64({ alg: 'ES256', typ: 'at+jwt', kid: ed.kid })}.${edToken[1]}.${edToken[2]}`, keys)).toBe('invalid_token: algorithm must be EdDSA for this key')
    const esToken = signAccessTokenSync(input, es).token.split('.')
    expect(outcome(`${b64({ alg: 'EdDSA', typ: 'at+jwt', kid: es.kid })}.${esToken[1]}.${esToken[2]}`, keys)).toBe('invalid_token: algorithm must be ES256 for this key')
  })

  it('refuses an ES256 signature in DER form (JWS wants raw r‖s) and a signature of the wrong size, before any crypto', () => {
    const es = keyOf('ES256')
    const [h, p] = signAccessTokenSync(input, es).token.split('.') as [string, string]
    const der = sign('sha256', Buffer.from(`${h}.${p}`), es.privateKey).toString('base64url')
    expect(outcome(`${h}.${p}.${der}`, keySet().verificationKeys)).toBe('invalid_token: signature has the wrong length')
    const ed = keyOf('EdDSA')
    const [eh, ep, es2] = signAccessTokenSync(input, ed).token.split('.') as [string, string, string]
    const flipped = Buffer.from(es2, 'base64url')
    flipped[0]! ^= 1
    expect(outcome(`${eh}.${ep}.${flipped.toString('base64url')}`, keySet().verificationKeys)).toBe('invalid_token: signature is invalid')
  })

  it('EdDSA and ES256 tokens are smaller than RS256 ones', () => {
    const size = (alg: SigningAlgorithm) => signAccessTokenSync(input, keyOf(alg)).token.length
    expect(size('EdDSA')).toBeLessThan(size('RS256') - 200)
    expect(size('ES256')).toBeLessThan(size('RS256') - 200)
  })

  it('a resource server imports every algorithm from a JWKS, bound as published, and skips keys it cannot bind', () => {
    const published = keySet().jwks.keys as unknown as Array<Record<string, unknown>>
    const imported = importJwks(
      [
        ...published,
        { kty: 'EC', kid: 'p384', crv: 'P-384', x: 'AAAA', y: 'AAAA' },
        { kty: 'OKP', kid: 'x25519', crv: 'X25519', x: 'AAAA' },
        { ...published.find((k) => k.alg === 'ES256'), kid: 'es-as-rsa', alg: 'RS256' },
        { ...published.find((k) => k.alg === 'RS256'), kid: 'enc', use: 'enc' },
      ],
      new Map(),
    )
    expect(new Map([...imported].map(([kid, k]) => [kid, k.key.alg]))).toEqual(new Map(SIGNING_ALGORITHMS.map((alg) => [keyOf(alg).kid, alg])))
    const ed = imported.get(keyOf('EdDSA').kid)!.key
    expect(ed.key.equals(createPublicKey(keyOf('EdDSA').privateKey))).toBe(true)
  })
})
