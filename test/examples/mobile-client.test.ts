import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDpopSigner, generateDpopKey, memoryDpopKeyStore, type DpopKeyPair, type ProofTarget } from '@latchkey/client'
import { startInstance, type Instance } from '../helpers/instance.ts'

const run = promisify(execFile)
const createDpopKey = generateDpopKey
const dpopProof = (key: DpopKeyPair, target: ProofTarget) => createDpopSigner(memoryDpopKeyStore(key)).proof(target)

/** examples/mobile: a Node client with a non-extractable WebCrypto key, against a real server requiring DPoP nonces. */
describe('the mobile-style DPoP client', () => {
  let dir: string
  let server: Instance
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-mobile-'))
    server = await startInstance('mobile', { DATABASE_URL: 'sqlite::memory:', KEYS_DIR: join(dir, 'keys'), LOG_LEVEL: 'warn', DPOP: 'required', DPOP_NONCE: 'true' })
  })
  afterAll(async () => {
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('signs in with DPoP, calls /me, refreshes, calls it again and signs out', async () => {
    const email = 'mobile@example.com'
    const password = 'correct horse battery staple'
    // DPOP=required: even registering needs a proof (and, with nonces, the server's nonce).
    const key = await createDpopKey()
    const first = await server.fetch('/auth/register', { method: 'POST', body: { email, password }, headers: { dpop: await dpopProof(key, { htm: 'POST', htu: `${server.url}/auth/register` }) } })
    // A token endpoint asks for the nonce with a 400 (RFC 9449 §8), not a resource's 401 challenge.
    expect(first.status).toBe(400)
    expect((first.json() as { code: string }).code).toBe('use_dpop_nonce')
    expect(first.headers.get('www-authenticate')).toBeNull()
    const nonce = first.headers.get('dpop-nonce')!
    const registered = await server.fetch('/auth/register', { method: 'POST', body: { email, password }, headers: { dpop: await dpopProof(key, { htm: 'POST', htu: `${server.url}/auth/register`, nonce }) } })
    expect(registered.status).toBe(201)

    const { stdout } = await run(process.execPath, ['--disable-warning=ExperimentalWarning', 'examples/mobile/client.ts', server.url, email, password])
    const steps = stdout.trim().split('\n').map((line) => JSON.parse(line) as { step: string; status: number; token_type?: string })
    expect(steps).toEqual([
      { step: 'login', status: 200, token_type: 'DPoP' },
      { step: 'me', status: 200 },
      { step: 'refresh', status: 200, token_type: 'DPoP' },
      { step: 'me again', status: 200 },
      { step: 'logout', status: 204 },
    ])
  })

  it("keeps the private key inside WebCrypto: it cannot be exported, and the proof's key is the token's", async () => {
    const key = await createDpopKey()
    await expect(crypto.subtle.exportKey('jwk', key.privateKey)).rejects.toThrow()
    const email = 'mobile-2@example.com'
    const password = 'correct horse battery staple'
    const htu = `${server.url}/auth/register`
    const nonce = (await server.fetch('/auth/register', { method: 'POST', body: { email, password }, headers: { dpop: await dpopProof(key, { htm: 'POST', htu }) } })).headers.get('dpop-nonce')!
    const res = await server.fetch('/auth/register', { method: 'POST', body: { email, password }, headers: { dpop: await dpopProof(key, { htm: 'POST', htu, nonce }) } })
    const token = (res.json() as { access_token: string }).access_token
    const header = JSON.parse(Buffer.from((await dpopProof(key, { htm: 'GET', htu })).split('.')[0]!, 'base64url').toString()) as { jwk: Record<string, string> }
    const jwk = header.jwk
    const jkt = createHash('sha256').update(`{"crv":"${jwk.crv}","kty":"${jwk.kty}","x":"${jwk.x}","y":"${jwk.y}"}`).digest('base64url')
    expect(decodeJwt(token).cnf).toEqual({ jkt })
    // Sent as Bearer, the stolen token is useless.
    expect((await server.fetch('/me', { headers: { authorization: `Bearer ${token}` } })).status).toBe(401)
  })
})
