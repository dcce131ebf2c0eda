import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docBlock, runBlock } from '../helpers/doc-blocks.ts'
import { tempDir } from '../helpers/key-dir.ts'
import { postJson, startServer, type ServerProcess } from '../helpers/server-process.ts'

const THIS = 'test/docs/doc-examples.test.ts'

/** The guides' examples (getting started, API, mobile) run verbatim against one live server. */
describe('guide examples', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let server: ServerProcess
  let env: Record<string, string>

  beforeAll(async () => {
    dir = await tempDir('doc-examples')
    env = { KEYS_DIR: join(dir.path, 'keys'), DATABASE_URL: `sqlite:${join(dir.path, 'latchkey.db')}` }
    server = await startServer({ ...env, RATE_LIMIT_ENABLED: 'false' })
  }, 30_000)

  afterAll(async () => {
    server?.child.kill('SIGTERM')
    await server?.exited
    dir?.remove()
  })

  it('getting started: register, then read the claims', () => {
    const res = runBlock(docBlock('docs/getting-started.md', 'ACCESS=$(curl -s -X POST http://127.0.0.1:3000/auth/register', THIS), { url: server.url })
    expect(res.status, res.stderr).toBe(0)
    expect(res.stdout).toMatch(/^[0-9a-f-]{36}\nuser\n$/)
  })

  it('getting started: the first admin lists the users', () => {
    const res = runBlock(docBlock('docs/getting-started.md', 'printf %s "$ADMIN_PASSWORD" | npx latchkey users create', THIS), {
      url: server.url,
      env: { ...env, ADMIN_PASSWORD: 'a long admin passphrase 42' },
    })
    expect(res.status, res.stderr).toBe(0)
    expect(res.stdout).toMatch(/^admin@example\.com$/m)
    expect(res.stdout).toMatch(/^grace@example\.com$/m)
  })

  it('API: discovery names the key set, which lists the signing key', () => {
    const res = runBlock(docBlock('docs/api.md', 'curl -s http://127.0.0.1:3000/.well-known/oauth-authorization-server', THIS), { url: server.url })
    expect(res.status, res.stderr).toBe(0)
    const [jwksUri, ...kids] = res.stdout.trim().split('\n')
    expect(jwksUri).toBe(`${server.url}/.well-known/jwks.json`)
    expect(kids.length).toBeGreaterThanOrEqual(1)
    for (const kid of kids) expect(kid).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('mobile: a lost refresh response is retried for the same successor; the session list names the app', async () => {
    expect((await postJson(`${server.url}/auth/register`, { email: 'mobile@example.com', password: 'correct horse battery staple' }))?.status).toBe(201)
    const res = runBlock(docBlock('docs/mobile.md', 'TOKENS=$(curl -s -X POST http://127.0.0.1:3000/auth/login', THIS), { url: server.url })
    expect(res.status, res.stderr).toBe(0)
    expect(res.stdout).toContain('same successor')
    expect(res.stdout).toContain('{"user_agent":"ExampleApp/1.0 (iOS 18)","current":true}')
  })
})
