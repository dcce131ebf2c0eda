import { createHash } from 'node:crypto'
import { isoCBOR } from '@simplewebauthn/server/helpers'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../../src/errors.ts'
import { bearer, createTestApp, registerUser, type TestApp } from '../helpers/app.ts'
import { scaled } from '../helpers/soak.ts'
import { createSoftwarePasskey } from '../helpers/webauthn.ts'

const RUNS = scaled(150, 3000)
// Reproducible in the ordinary run (the coverage check at the end cannot then flake); fresh inputs every soak.
const SEED = scaled<number | undefined>(20261206, undefined)
const runs = { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) }
const ORIGIN = 'https://auth.example.com'
const b64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url')

/**
 * Hostile WebAuthn responses past the JSON schema: valid-looking envelopes around random bytes,
 * random CBOR-ish attestation objects, truncated authenticator data, odd clientDataJSON. Every one
 * must be refused with a documented problem code, never a 5xx.
 */
describe('fuzzing the passkey ceremonies', () => {
  let t: TestApp
  let access: string
  let userId: string
  const passkey = createSoftwarePasskey()
  const codes = new Set<string>()

  beforeAll(async () => {
    t = await createTestApp({ env: { PUBLIC_URL: ORIGIN, LOG_LEVEL: 'silent', RATE_LIMIT_ENABLED: 'false' } })
    const user = await registerUser(t)
    access = user.access_token
    userId = (await t.store.findUserByEmail(user.email))!.id
    const options = (await t.app.inject({ method: 'POST', url: '/me/passkeys/register/options', payload: {}, headers: bearer(access) })).json()
    const res = await t.app.inject({ method: 'POST', url: '/me/passkeys/register/verify', payload: { response: passkey.register({ challenge: options.challenge, origin: ORIGIN, rpId: 'auth.example.com', userId }) }, headers: bearer(access) })
    expect(res.statusCode).toBe(201)
  })
  afterAll(() => t.close())

  // Mostly well-formed client data, so that most inputs get past it to the checks behind.
  const weighted = <T>(good: T, ...bad: fc.Arbitrary<T>[]) => fc.oneof({ arbitrary: fc.constant(good), weight: 8 }, ...bad.map((arbitrary) => ({ arbitrary, weight: 1 })))
  const clientData = fc.oneof(
    { arbitrary: fc.uint8Array({ maxLength: 300 }).map(b64), weight: 1 },
    {
      arbitrary: fc.record({
        type: weighted('webauthn.get', fc.constantFrom('webauthn.create', 'x')),
        challenge: weighted('CHALLENGE', fc.string()),
        origin: weighted(ORIGIN, fc.constantFrom('https://evil.test', '')),
      }),
      weight: 9,
    },
  )
  const bytes = fc.uint8Array({ minLength: 1, maxLength: 400 }).map(b64)
  const rpIdHash = createHash('sha256').update('auth.example.com').digest()
  // Authenticator data that names this RP (or not), then random flags, counter and attested data.
  // Flags mostly UP (+UV), or AT for attestations; then a counter and random attested data.
  const authData = fc
    .tuple(
      weighted(true, fc.constant(false)),
      fc.oneof({ arbitrary: fc.constantFrom(0x01, 0x05, 0x45), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 }),
      fc.oneof({ arbitrary: fc.uint8Array({ minLength: 4, maxLength: 4 }), weight: 3 }, { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 1 }),
    )
    .map(([ours, flags, rest]) => Buffer.concat([ours ? rpIdHash : Buffer.alloc(32, 1), Buffer.from([flags]), rest]))
  // A real authenticator's data (a valid credential for this RP) under an attestation format whose statement is missing.
  const genuine = isoCBOR.decodeFirst<Map<string, Uint8Array>>(
    Buffer.from(createSoftwarePasskey().register({ challenge: 'x', origin: ORIGIN, rpId: 'auth.example.com', userId: 'x' }).response.attestationObject, 'base64url'),
  ).get('authData')!
  const attestation = fc.oneof(
    bytes,
    fc.constantFrom('packed', 'fido-u2f', 'tpm', 'apple', 'android-key').map((fmt) => b64(isoCBOR.encode(new Map<string, string | Map<string, string> | Uint8Array>([['fmt', fmt], ['attStmt', new Map<string, string>()], ['authData', genuine]])))),
    fc.tuple(fc.constantFrom('none', 'packed', 'fido-u2f', 'tpm', 'x'), authData).map(([fmt, data]) => b64(isoCBOR.encode(new Map<string, string | Map<string, string> | Uint8Array>([['fmt', fmt], ['attStmt', new Map<string, string>()], ['authData', data]])))),
  )

  function expectRefused(res: { statusCode: number; json(): { code: string } }) {
    expect(res.statusCode).toBeGreaterThanOrEqual(400)
    expect(res.statusCode).toBeLessThan(500)
    const { code } = res.json()
    expect(ERROR_CODES).toContain(code)
    codes.add(code)
  }

  it('refuses hostile assertions with a problem code, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(clientData, fc.oneof(bytes, authData.map(b64)), bytes, fc.boolean(), async (cd, authenticatorData, signature, knownCredential) => {
        const { challenge } = (await t.app.inject({ method: 'POST', url: '/auth/passkeys/login/options', payload: {} })).json()
        const clientDataJSON = typeof cd === 'string' ? cd : b64(JSON.stringify({ ...cd, challenge: cd.challenge === 'CHALLENGE' ? challenge : cd.challenge }))
        const id = knownCredential ? passkey.credentialId : b64('unknown')
        const response = { id, rawId: id, type: 'public-key', response: { clientDataJSON, authenticatorData, signature }, clientExtensionResults: {} }
        expectRefused(await t.app.inject({ method: 'POST', url: '/auth/passkeys/login/verify', payload: { response } }))
      }),
      runs,
    )
  }, 120_000)

  it('refuses hostile attestations with a problem code, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(clientData, attestation, async (cd, attestationObject) => {
        const { challenge } = (await t.app.inject({ method: 'POST', url: '/me/passkeys/register/options', payload: {}, headers: bearer(access) })).json()
        const clientDataJSON = typeof cd === 'string' ? cd : b64(JSON.stringify({ ...cd, type: cd.type === 'webauthn.get' ? 'webauthn.create' : cd.type, challenge: cd.challenge === 'CHALLENGE' ? challenge : cd.challenge }))
        const id = b64('new-credential')
        const response = { id, rawId: id, type: 'public-key', response: { clientDataJSON, attestationObject }, clientExtensionResults: {} }
        expectRefused(await t.app.inject({ method: 'POST', url: '/me/passkeys/register/verify', payload: { response }, headers: bearer(access) }))
      }),
      runs,
    )
    // The generators reach past the envelope: decoding, origin and challenge checks all answered.
    expect([...codes]).toEqual(
      expect.arrayContaining(['passkey_response_invalid', 'passkey_origin_mismatch', 'passkey_challenge_unknown', 'passkey_rp_id_mismatch', 'passkey_verification_failed', 'passkey_unknown_credential']),
    )
  }, 120_000)
})
