import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildResourceServer } from '../../examples/resource-server/app.ts'
import { systemClock } from '../../src/clock.ts'
import type { GeneratedKey } from '../../src/keys/generate-key.ts'
import { loadKeySet, readManifest } from '../../src/keys/key-files.ts'
import { KeyRing } from '../../src/keys/key-ring.ts'
import { startKeyWatcher, type KeyWatcher } from '../../src/keys/key-watcher.ts'
import { createTestApp, PASSWORD, uniqueEmail, type TestApp } from '../helpers/app.ts'
import { runLatchkey } from '../helpers/cli.ts'
import { assertMatchesContract } from '../helpers/contract.ts'
import { generateSigningKey, tempDir, writeKeyDir } from '../helpers/key-dir.ts'

/**
 * The "done when", over real HTTP: a live Latchkey whose KeyRing is fed by the watcher over
 * a temp KEYS_DIR, the example resource server verifying against its JWKS, clients refreshing and
 * calling both continuously, and the real CLI rotating twice and retiring the oldest key.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const kidOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(20)
  }
  return Date.now() - started
}

describe('key rotation under load, end to end', () => {
  const env = { JWKS_MAX_AGE: '1', KEYS_RELOAD_INTERVAL: '1', ACCESS_TOKEN_TTL: '60', CLOCK_TOLERANCE: '5', KEYS_DIR: '',
    // Continuous refreshes from one address would (rightly) trip the per-IP limit: this test is about keys.
    RATE_LIMIT_ENABLED: 'false' }
  let dir: Awaited<ReturnType<typeof tempDir>>
  let a: GeneratedKey
  let b: GeneratedKey
  let t: TestApp
  let watcher: KeyWatcher
  let resource: FastifyInstance
  let latchkeyUrl: string
  let resourceUrl: string

  beforeAll(async () => {
    dir = await tempDir('rotation')
    env.KEYS_DIR = dir.path
    ;[a, b] = await Promise.all([generateSigningKey(), generateSigningKey()])
    await writeKeyDir(dir.path, [[a, 'current'], [b, 'next']])
    const keys = new KeyRing(await loadKeySet(dir.path))
    t = await createTestApp({ env, keys, deps: { clock: systemClock } })
    watcher = startKeyWatcher({ dir: dir.path, ring: keys, logger: t.app.log, intervalMs: 1000, debounceMs: 50 })
    await t.app.listen({ port: 0, host: '127.0.0.1' })
    latchkeyUrl = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`
    resource = await buildResourceServer({
      issuer: t.config.issuer,
      audience: t.config.audience,
      jwksUrl: `${latchkeyUrl}/.well-known/jwks.json`,
      refreshIntervalMs: 1000,
      unknownKidCooldownMs: 1000,
    })
    await resource.listen({ port: 0, host: '127.0.0.1' })
    resourceUrl = `http://127.0.0.1:${(resource.server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    watcher?.close()
    await resource?.close()
    await t?.close()
    await dir?.remove()
  })

  /** A request to Latchkey over HTTP, checked against openapi.yaml. */
  async function latchkey(method: string, path: string, options: { token?: string; body?: unknown } = {}) {
    const res = await fetch(`${latchkeyUrl}${path}`, {
      method,
      headers: { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...(options.body ? { 'content-type': 'application/json' } : {}) },
      body: options.body ? JSON.stringify(options.body) : undefined,
    })
    const body = await res.text()
    assertMatchesContract({ method, url: path, status: res.status, headers: Object.fromEntries(res.headers), body })
    return { status: res.status, headers: res.headers, json: () => JSON.parse(body) as Record<string, string> }
  }
  const orders = (token: string) => fetch(`${resourceUrl}/orders`, { headers: { authorization: `Bearer ${token}` } })
  const cli = (args: string[], laterBySeconds?: number) => runLatchkey(args, { env, laterBySeconds })

  it('two rotations, the second from RS256 to EdDSA, and a retirement cost valid tokens nothing; the retired key is refused everywhere', async () => {
    const sessions = await Promise.all([1, 2, 3, 4].map(() => latchkey('POST', '/auth/register', { body: { email: uniqueEmail(), password: PASSWORD } })))
    for (const s of sessions) expect(s.status).toBe(201)
    const tokenSignedByA = sessions[0]!.json().access_token!
    expect(kidOf(tokenSignedByA)).toBe(a.kid)
    expect((await orders(tokenSignedByA)).status).toBe(200)

    const failures: string[] = []
    const acceptedByResource = new Map<string, number>()
    let requests = 0
    let stop = false
    const clients = sessions.map(async (session) => {
      let refreshToken = session.json().refresh_token!
      while (!stop) {
        const refreshed = await latchkey('POST', '/auth/refresh', { body: { refresh_token: refreshToken } })
        requests++
        if (refreshed.status !== 200) {
          failures.push(`refresh → ${refreshed.status} ${JSON.stringify(refreshed.json())}`)
          return
        }
        refreshToken = refreshed.json().refresh_token!
        const access = refreshed.json().access_token!
        const claims = await latchkey('GET', '/me/claims', { token: access })
        const served = await orders(access)
        requests += 2
        if (claims.status !== 200) failures.push(`/me/claims (kid ${kidOf(access)}) → ${claims.status} ${JSON.stringify(claims.json())}`)
        if (served.status !== 200) failures.push(`resource /orders (kid ${kidOf(access)}) → ${served.status} ${await served.text()}`)
        else acceptedByResource.set(kidOf(access), (acceptedByResource.get(kidOf(access)) ?? 0) + 1)
      }
    })

    await sleep(300)
    // Rotation 1: b (next for JWKS_MAX_AGE + KEYS_RELOAD_INTERVAL = 2 s) starts signing.
    const createdB = Date.parse((await readManifest(dir.path))!.keys[1]!.createdAt)
    await sleep(Math.max(0, createdB + 2100 - Date.now()))
    // The new next key c is EdDSA: rotation 2 changes the signing algorithm under load.
    const first = await cli(['keys', 'rotate', '--alg', 'EdDSA'])
    expect(first.code, first.stderr).toBe(0)
    await until('server signs with b', () => t.keys.current.signing?.kid === b.kid, 4000)
    const nextEntry = (await readManifest(dir.path))!.keys.find((k) => k.state === 'next')!
    expect(nextEntry.alg).toBe('EdDSA')
    const c = nextEntry.kid

    // Rotation 2: c, published by rotation 1 — after the resource server started — starts signing.
    await sleep(2100)
    const second = await cli(['keys', 'rotate'])
    expect(second.code, second.stderr).toBe(0)
    await until('server signs with c', () => t.keys.current.signing?.kid === c, 4000)
    await sleep(300)

    // Retire a, as an operator would once its tokens had expired: run the CLI "70 s later"
    // (a stopped signing at rotation 1; KEYS_RELOAD_INTERVAL 1 + ACCESS_TOKEN_TTL 60 + CLOCK_TOLERANCE 5).
    const tooEarly = await cli(['keys', 'retire', a.kid])
    expect(tooEarly.code).toBe(1)
    const retired = await cli(['keys', 'retire', a.kid], 70)
    expect(retired.code, retired.stderr).toBe(0)

    // Latchkey: refused as soon as the watcher swaps the key set (file watch, at worst the 1 s reload).
    await until('Latchkey refuses a', async () => (await latchkey('GET', '/me/claims', { token: tokenSignedByA })).status === 401, 4000)
    const refused = await latchkey('GET', '/me/claims', { token: tokenSignedByA })
    expect(refused.json()).toMatchObject({ code: 'invalid_token', detail: 'unknown key id' })
    // The resource server: at its next JWKS refresh (refreshIntervalMs 1 s).
    await until('resource server refuses a', async () => (await orders(tokenSignedByA)).status === 401, 4000)

    await sleep(500)
    stop = true
    await Promise.all(clients)

    expect(failures).toEqual([])
    expect(requests).toBeGreaterThan(30)
    expect(acceptedByResource.get(c) ?? 0).toBeGreaterThan(0)
    const jwks = await latchkey('GET', '/.well-known/jwks.json')
    expect(jwks.headers.get('cache-control')).toBe('public, max-age=1')
    const publishedKeys = (jwks.json() as unknown as { keys: Array<{ kid: string; alg: string; kty: string; crv?: string }> }).keys
    expect(publishedKeys.find((k) => k.kid === c)).toMatchObject({ alg: 'EdDSA', kty: 'OKP', crv: 'Ed25519' })
    expect(publishedKeys.find((k) => k.kid === b.kid)).toMatchObject({ alg: 'RS256', kty: 'RSA' })
    const published = publishedKeys.map((k) => k.kid)
    expect(published).not.toContain(a.kid)
    expect(published).toEqual(expect.arrayContaining([b.kid, c]))
    expect(published).toHaveLength(3)
  })
})
