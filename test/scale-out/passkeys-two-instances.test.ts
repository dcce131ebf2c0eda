import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, PASSWORD, uniqueEmail } from '../helpers/app.ts'
import { startInstance, type Instance } from '../helpers/instance.ts'
import { createSoftwarePasskey } from '../helpers/webauthn.ts'

const databaseUrl = process.env.TEST_DATABASE_URL

if (!databaseUrl) {
  console.warn('Passkey two-instance suite SKIPPED: it needs TEST_DATABASE_URL')
  describe.skip('passkeys across two instances (set TEST_DATABASE_URL to run)', () => {
    it('verifies on one instance the options issued by the other', () => {})
  })
} else {
  const schema = `latchkey_passkeys_${randomBytes(6).toString('hex')}`
  const keysDir = mkdtempSync(join(tmpdir(), 'latchkey-keys-'))
  // Behind one balancer every instance is reached at one address: one origin and RP id for all.
  const PUBLIC_URL = 'https://auth.example.test'
  const ceremony = { origin: PUBLIC_URL, rpId: 'auth.example.test' }
  const env = {
    DATABASE_URL: databaseUrl,
    DATABASE_SCHEMA: schema,
    KEYS_DIR: keysDir,
    PUBLIC_URL,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_LOGIN_PER_IP: '10000',
    RATE_LIMIT_LOGIN_PER_ACCOUNT: '10000',
    ARGON2_MEMORY_KIB: '8192',
    ARGON2_TIME_COST: '1',
  }

  describe('passkeys across two instances sharing PostgreSQL', () => {
    let a: Instance
    let b: Instance

    beforeAll(async () => {
      // A first: it migrates the schema and writes the shared dev key that B then loads.
      a = await startInstance('A', env)
      b = await startInstance('B', env)
    }, 60_000)

    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()])
      const admin = new pg.Client({ connectionString: databaseUrl })
      await admin.connect()
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      await admin.end()
      rmSync(keysDir, { recursive: true, force: true })
    })

    async function loginOptions(on: Instance, email?: string) {
      const res = await on.fetch('/auth/passkeys/login/options', { method: 'POST', body: email === undefined ? {} : { email } })
      expect(res.status).toBe(200)
      return res.json() as { challenge: string; allowCredentials: Array<{ id: string }> }
    }

    it('registers with options from A on B, signs in with options from B on A, and refuses the replay on B', async () => {
      const email = uniqueEmail()
      const registered = await a.fetch('/auth/register', { method: 'POST', body: { email, password: PASSWORD } })
      expect(registered.status).toBe(201)
      const { access_token } = registered.json() as { access_token: string }

      const options = (await a.fetch('/me/passkeys/register/options', { method: 'POST', body: {}, headers: bearer(access_token) })).json() as { challenge: string; user: { id: string } }
      const passkey = createSoftwarePasskey()
      const userId = Buffer.from(options.user.id, 'base64url').toString()
      const created = await b.fetch('/me/passkeys/register/verify', { method: 'POST', body: { response: passkey.register({ ...ceremony, challenge: options.challenge, userId }) }, headers: bearer(access_token) })
      expect(created.status).toBe(201)

      const { challenge, allowCredentials } = await loginOptions(b, email)
      expect(allowCredentials.map((c) => c.id)).toEqual([passkey.credentialId])
      const response = passkey.assert({ ...ceremony, challenge })
      const signedIn = await a.fetch('/auth/passkeys/login/verify', { method: 'POST', body: { response } })
      expect(signedIn.status).toBe(200)
      const tokens = signedIn.json() as { access_token: string }
      expect(((await b.fetch('/me', { headers: bearer(tokens.access_token) })).json() as { email: string }).email).toBe(email)

      const replayed = await b.fetch('/auth/passkeys/login/verify', { method: 'POST', body: { response } })
      expect({ status: replayed.status, code: (replayed.json() as { code: string }).code }).toEqual({ status: 400, code: 'passkey_challenge_used' })
    })

    it('lets exactly one of two instances accept one assertion sent to both at once', async () => {
      const email = uniqueEmail()
      const { access_token } = (await b.fetch('/auth/register', { method: 'POST', body: { email, password: PASSWORD } })).json() as { access_token: string }
      const options = (await b.fetch('/me/passkeys/register/options', { method: 'POST', body: {}, headers: bearer(access_token) })).json() as { challenge: string; user: { id: string } }
      const passkey = createSoftwarePasskey()
      const userId = Buffer.from(options.user.id, 'base64url').toString()
      expect((await a.fetch('/me/passkeys/register/verify', { method: 'POST', body: { response: passkey.register({ ...ceremony, challenge: options.challenge, userId }) }, headers: bearer(access_token) })).status).toBe(201)

      for (let round = 0; round < 5; round++) {
        const { challenge } = await loginOptions(round % 2 ? a : b)
        const response = passkey.assert({ ...ceremony, challenge })
        const results = await Promise.all([a, b].map((on) => on.fetch('/auth/passkeys/login/verify', { method: 'POST', body: { response } })))
        expect(results.map((r) => r.status).sort()).toEqual([200, 400])
        const refused = results.find((r) => r.status === 400)!
        expect((refused.json() as { code: string }).code).toBe('passkey_challenge_used')
      }
    })
  })
}
