import { createHash } from 'node:crypto'
import { createServer, type AddressInfo } from 'node:net'
import { createLatchkeyClient, LatchkeyError, memoryDpopKeyStore, MfaRequiredError, memoryStorage, type DpopKeyStore, type RefreshTokenStorage } from '@latchkey/client'
import { decodeJwt } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { createTestApp, PASSWORD, registerUser, uniqueEmail, type TestApp } from '../helpers/app.ts'
import { userWithTotp } from '../helpers/mfa.ts'
import { totpAt } from '../helpers/totp.ts'
import { createManualClock, injectFetch } from './harness.ts'

const BASE = 'http://latchkey.test'
const apps: TestApp[] = []
afterEach(async () => {
  for (const t of apps.splice(0)) await t.close()
})

const decodePart = (jws: string, i: number) => JSON.parse(Buffer.from(jws.split('.')[i]!, 'base64url').toString()) as Record<string, unknown>

/** RFC 7638 thumbprint of a proof's embedded EC key. */
function thumbprintOfProof(proof: string): string {
  const jwk = decodePart(proof, 0).jwk as Record<string, string>
  return createHash('sha256').update(`{"crv":"${jwk.crv}","kty":"${jwk.kty}","x":"${jwk.x}","y":"${jwk.y}"}`).digest('base64url')
}

async function setup(env: Record<string, string> = {}) {
  const t = await createTestApp({ env: { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'warn', PUBLIC_URL: BASE, DPOP: 'required', DPOP_NONCE: 'true', ...env } })
  apps.push(t)
  const http = injectFetch(t)
  const proofs: { url: string; proof: string }[] = []
  const fetch: typeof http.fetch = (input, init) => {
    const proof = new Headers(init?.headers).get('dpop')
    if (proof) proofs.push({ url: String(input), proof })
    return http.fetch(input, init)
  }
  // Proofs carry the time of the app's fixed clock.
  const clock = createManualClock(t, http.busy)
  const client = (keyStore: DpopKeyStore, storage: RefreshTokenStorage) => createLatchkeyClient({ baseUrl: BASE, mode: 'body', storage, fetch, clock, tabs: false, dpop: { keyStore } })
  const email = uniqueEmail()
  // Registration needs a proof too (DPOP=required): the client's own sign-up makes it.
  await createLatchkeyClient({ baseUrl: BASE, mode: 'body', storage: memoryStorage(), fetch, clock, tabs: false, dpop: true }).signUp(email, PASSWORD)
  proofs.length = 0
  http.calls.length = 0
  return { t, http, proofs, client, email }
}

describe('@latchkey/client with DPoP', () => {
  it('signs in with a proof, answers the server nonce by itself, and proves the key with ath on protected calls', async () => {
    const { http, proofs, client, email } = await setup()
    const keyStore = memoryDpopKeyStore()
    const c = client(keyStore, memoryStorage())
    const session = await c.signIn(email, PASSWORD)
    expect(session.tokenType).toBe('DPoP')
    expect((await c.me()).email).toBe(email)
    // One use_dpop_nonce answer at sign-in (a 400 there: a token endpoint, RFC 9449 §8); the nonce
    // is then kept for every later proof.
    expect(http.paths()).toEqual(['POST /auth/login 400', 'POST /auth/login 200', 'GET /me 200'])

    const key = await keyStore.load()
    expect(key?.privateKey.extractable).toBe(false)
    await expect(crypto.subtle.exportKey('jwk', key!.privateKey)).rejects.toThrow()

    const [, login, me] = proofs
    expect(decodePart(login!.proof, 0)).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256' } })
    expect(decodePart(login!.proof, 1)).toMatchObject({ htm: 'POST', htu: `${BASE}/auth/login` })
    expect(decodePart(login!.proof, 1).ath).toBeUndefined()
    expect(decodePart(me!.proof, 1)).toMatchObject({ htm: 'GET', htu: `${BASE}/me`, ath: createHash('sha256').update(session.accessToken).digest('base64url') })
    expect(decodePart(me!.proof, 1).nonce).toBe(decodePart(login!.proof, 1).nonce)
    expect(decodeJwt(session.accessToken).cnf).toEqual({ jkt: thumbprintOfProof(login!.proof) })
    c.close()
  })

  it('refresh keeps the binding; a restart with the kept key restores the session, another key cannot use it', async () => {
    const { t, client, email } = await setup()
    const keyStore = memoryDpopKeyStore()
    const storage = memoryStorage()
    const first = client(keyStore, storage)
    const signedIn = await first.signIn(email, PASSWORD)
    const refreshed = await first.refresh()
    expect(refreshed.tokenType).toBe('DPoP')
    expect(decodeJwt(refreshed.accessToken).cnf).toEqual(decodeJwt(signedIn.accessToken).cnf)
    first.close()

    // The app starts again: the key store (IndexedDB in a browser) still has the key.
    const again = client(keyStore, storage)
    expect(await again.restore()).toBe(true)
    expect(decodeJwt(again.session!.accessToken).cnf).toEqual(decodeJwt(signedIn.accessToken).cnf)
    expect((await again.me()).email).toBe(email)
    again.close()

    // The refresh token without the key: refused, and the session is not spent by the attempt.
    const thief = client(memoryDpopKeyStore(), { getItem: () => storage.getItem('latchkey.refresh_token'), setItem: () => {}, removeItem: () => {} })
    const err = await thief.refresh().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LatchkeyError)
    expect((err as LatchkeyError).code).toBe('invalid_dpop_proof')
    thief.close()
    // A stolen access token sent as Bearer is refused too.
    const res = await t.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${again.session!.accessToken}` } })
    expect(res.statusCode).toBe(401)
    const owner = client(keyStore, storage)
    expect(await owner.restore()).toBe(true)
    owner.close()
  })

  it('retries with a new nonce both where the server asks with a 401 (protected route) and with a 400 (token endpoint)', async () => {
    const { t, http, proofs, client, email } = await setup({ DPOP_NONCE_LIFETIME: '60' })
    const c = client(memoryDpopKeyStore(), memoryStorage())
    await c.signIn(email, PASSWORD)
    // Two lifetimes on, the kept nonce is no longer accepted anywhere.
    t.clock.advance(130_000)
    http.calls.length = 0
    proofs.length = 0
    expect((await c.me()).email).toBe(email)
    expect(http.paths()).toEqual(['GET /me 401', 'GET /me 200'])
    const [stale, fresh] = proofs
    expect(decodePart(fresh!.proof, 1).nonce).not.toBe(decodePart(stale!.proof, 1).nonce)

    // The access token expires (10 min) and the nonce goes stale again: the refresh is asked with a 400.
    t.clock.advance(11 * 60_000)
    http.calls.length = 0
    expect((await c.me()).email).toBe(email)
    expect(http.paths()).toEqual(['POST /auth/refresh 400', 'POST /auth/refresh 200', 'GET /me 200'])
    c.close()
  })

  it('after an expired access token it refreshes with a proof and repeats the call', async () => {
    const { t, http, client, email } = await setup({ DPOP_NONCE: 'false' })
    const c = client(memoryDpopKeyStore(), memoryStorage())
    await c.signIn(email, PASSWORD)
    t.clock.advance(11 * 60_000)
    http.calls.length = 0
    expect((await c.me()).email).toBe(email)
    expect(http.paths()).toEqual(['POST /auth/refresh 200', 'GET /me 200'])
    c.close()
  })

  it('with DPoP off on the server the tokens stay Bearer and calls work without proofs', async () => {
    const t = await createTestApp({ env: { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'warn', PUBLIC_URL: BASE, DPOP: 'off' } })
    apps.push(t)
    const http = injectFetch(t)
    const { email } = await registerUser(t)
    const c = createLatchkeyClient({ baseUrl: BASE, mode: 'body', storage: memoryStorage(), fetch: http.fetch, tabs: false, dpop: true })
    expect((await c.signIn(email, PASSWORD)).tokenType).toBe('Bearer')
    expect((await c.me()).email).toBe(email)
    c.close()
  })
})

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('@latchkey/client with DPoP over real HTTP', () => {
  it('signs in, calls a protected route with the global fetch and WebCrypto, and the stolen token is useless as Bearer', async () => {
    const port = await freePort()
    const baseUrl = `http://127.0.0.1:${port}`
    const t = await createTestApp({ env: { LOG_LEVEL: 'warn', PUBLIC_URL: baseUrl, DPOP: 'required', DPOP_NONCE: 'true' } })
    apps.push(t)
    await t.app.listen({ host: '127.0.0.1', port })
    const email = uniqueEmail()
    const c = createLatchkeyClient({ baseUrl, mode: 'body', storage: memoryStorage(), tabs: false, dpop: true, clock: createManualClock(t) })
    try {
      await c.signUp(email, PASSWORD)
      expect(c.session?.tokenType).toBe('DPoP')
      const res = await c.authFetch('/me/claims?x=1')
      expect(res.status).toBe(200)
      const claims = (await res.json()) as { cnf?: { jkt?: string } }
      expect(claims.cnf?.jkt).toMatch(/^[A-Za-z0-9_-]{43}$/)
      const stolen = await fetch(`${baseUrl}/me/claims`, { headers: { authorization: `Bearer ${c.session!.accessToken}` } })
      expect(stolen.status).toBe(401)
      expect(stolen.headers.get('www-authenticate')).toMatch(/DPoP/)
      await c.signOut()
      expect(c.session).toBeNull()
    } finally {
      c.close()
    }
  })
})

describe('@latchkey/client with a clientId', () => {
  it('names its client at sign-in and refresh: the tokens carry client_id, with DPoP too', async () => {
    const t = await createTestApp({ env: { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'warn', PUBLIC_URL: BASE, CLIENT_IDS: 'ios-app' } })
    apps.push(t)
    const http = injectFetch(t)
    const { email } = await registerUser(t)
    const c = createLatchkeyClient({ baseUrl: BASE, mode: 'body', storage: memoryStorage(), fetch: http.fetch, clock: createManualClock(t, http.busy), tabs: false, dpop: true, clientId: 'ios-app' })
    const session = await c.signIn(email, PASSWORD)
    expect(decodeJwt(session.accessToken)).toMatchObject({ client_id: 'ios-app', cnf: { jkt: expect.any(String) } })
    expect(decodeJwt((await c.refresh()).accessToken).client_id).toBe('ios-app')
    await c.signOut()
    const other = createLatchkeyClient({ baseUrl: BASE, mode: 'body', storage: memoryStorage(), fetch: http.fetch, tabs: false, clientId: 'android-app' })
    const err = await other.signIn(email, PASSWORD).catch((e: unknown) => e)
    expect((err as LatchkeyError).code).toBe('validation_failed')
    c.close()
    other.close()
  })

  it('names its client at the MFA step too: the two-factor session and its refreshes carry client_id', async () => {
    const t = await createTestApp({ env: { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'warn', PUBLIC_URL: BASE, CLIENT_IDS: 'ios-app', DPOP_NONCE: 'true' } })
    apps.push(t)
    const http = injectFetch(t)
    const user = await userWithTotp(t)
    t.clock.advance(30_000)
    const c = createLatchkeyClient({ baseUrl: BASE, mode: 'body', storage: memoryStorage(), fetch: http.fetch, clock: createManualClock(t, http.busy), tabs: false, dpop: true, clientId: 'ios-app' })
    const challenge = await c.signIn(user.email, PASSWORD).catch((e: unknown) => e)
    expect(challenge).toBeInstanceOf(MfaRequiredError)
    const session = await c.completeMfaSignIn((challenge as MfaRequiredError).mfaToken, { code: totpAt(user.secret, t.clock.now()) })
    expect(decodeJwt(session.accessToken)).toMatchObject({ client_id: 'ios-app', amr: ['pwd', 'otp'], cnf: { jkt: expect.any(String) } })
    expect(decodeJwt((await c.refresh()).accessToken).client_id).toBe('ios-app')
    // Step-up presents the DPoP-bound token with a proof for it (ath) and keeps client and key.
    t.clock.advance(30_000)
    const before = decodeJwt(c.session!.accessToken)
    const stepped = await c.stepUp({ code: totpAt(user.secret, t.clock.now()) })
    expect(decodeJwt(stepped.accessToken)).toMatchObject({ client_id: 'ios-app', cnf: before.cnf, amr: ['pwd', 'otp'] })
    expect(decodeJwt(stepped.accessToken).sid).not.toBe(before.sid)
    expect((await c.me()).email).toBe(user.email)
    c.close()
  })
})
