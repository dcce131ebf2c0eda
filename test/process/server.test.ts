import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { getPriority, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkpointedRows } from '../helpers/checkpointed-rows.ts'
import { startServer } from '../helpers/server-process.ts'

const root = new URL('../..', import.meta.url).pathname
const serverArgs = ['--disable-warning=ExperimentalWarning', 'bin/latchkey-server.js']

describe('the server process (npm start)', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-server-'))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('starts with no key, generates a 0600 dev key with a warning, serves, and stops cleanly on SIGTERM', async () => {
    const keysDir = join(dir, 'keys')
    const server = await startServer({ KEYS_DIR: keysDir, DATABASE_URL: `sqlite:${join(dir, 'data', 'db.sqlite')}` })
    const { url } = server
    const out = () => server.output()
    expect(out()).toMatch(/"level":40.*generated a development key/)
    const pem = readdirSync(keysDir).find((f) => f.endsWith('.pem'))!
    expect(statSync(join(keysDir, pem)).mode & 0o777).toBe(0o600)

    const ready = await fetch(`${url}/health/ready`)
    expect(ready.status).toBe(200)
    const jwks = (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }
    expect(`${jwks.keys[0]!.kid}.pem`).toBe(pem)

    server.child.kill('SIGTERM')
    expect((await server.exited).code).toBe(0)
    expect(out()).toContain('stopped')
  })

  // Nice values are per thread on Linux only; elsewhere the server leaves them alone (and says so).
  it.runIf(process.platform === 'linux')('runs libuv\'s thread pool (argon2, signing) at nice 19 below the event loop, unless THREAD_POOL_NICE=0, with room beside the hashes', async () => {
    const niceOf = (pid: number) => {
      const threads = readdirSync(`/proc/${pid}/task`).map((tid) => ({
        name: readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(),
        // Field 19 of stat is the nice value; the fields after the ")" of the name start at field 3.
        nice: Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]),
      }))
      return { pool: threads.filter((t) => t.name === 'libuv-worker').map((t) => t.nice), main: threads.find((t) => t.name === 'MainThread')?.nice }
    }
    const env = { KEYS_DIR: join(dir, 'keys-nice'), DATABASE_URL: 'sqlite::memory:' }
    const ours = getPriority() // the nice value the servers inherit from this test run
    const lowered = await startServer({ ...env, ARGON2_CONCURRENCY: '6' })
    const plain = await startServer({ ...env, THREAD_POOL_NICE: '0' })
    try {
      const low = niceOf(lowered.child.pid!)
      const same = niceOf(plain.child.pid!)
      // Six hashes at once leave two pool threads for signatures and file I/O (unless the size is set).
      expect(low.pool).toHaveLength(Number(process.env.UV_THREADPOOL_SIZE ?? 8))
      expect(low).toEqual({ pool: low.pool.map(() => 19), main: ours })
      expect(same.pool.length).toBeGreaterThan(0)
      expect(same).toEqual({ pool: same.pool.map(() => ours), main: ours })
    } finally {
      lowered.child.kill('SIGTERM')
      plain.child.kill('SIGTERM')
      await Promise.all([lowered.exited, plain.exited])
    }
  })

  it('keeps the compile cache with the dependencies, or where NODE_COMPILE_CACHE says, and none when disabled', async () => {
    const cacheDir = join(dir, 'compile-cache')
    const env = { KEYS_DIR: join(dir, 'keys-cache'), DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'debug' }
    // Node reports its own subdirectory, one per Node version and V8 flags.
    const cacheIn = (out: string) => JSON.parse(/"directory":(null|"[^"]*").*"msg":"module compile cache/.exec(out)?.[1] ?? '"missing"') as string | null
    const byDefault = await startServer(env)
    const moved = await startServer({ ...env, NODE_COMPILE_CACHE: cacheDir })
    const disabled = await startServer({ ...env, NODE_COMPILE_CACHE: join(dir, 'unused-cache'), NODE_DISABLE_COMPILE_CACHE: '1' })
    try {
      expect(dirname(cacheIn(byDefault.output()) ?? '')).toBe(join(root, 'node_modules/.cache/latchkey-compile'))
      expect(dirname(cacheIn(moved.output()) ?? '')).toBe(cacheDir)
      // Written as soon as the modules loaded, not only at a clean exit: an entry per module.
      const entries = readdirSync(cacheDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
      expect(entries.length).toBeGreaterThan(50)
      expect(cacheIn(disabled.output())).toBeNull()
      expect(() => readdirSync(join(dir, 'unused-cache'))).toThrow(/ENOENT/)
    } finally {
      for (const s of [byDefault, moved, disabled]) s.child.kill('SIGTERM')
      await Promise.all([byDefault.exited, moved.exited, disabled.exited])
    }
  })

  it.runIf(process.platform === 'linux')('checkpoints the SQLite WAL on a thread of its own, started by the first write', async () => {
    const dbPath = join(dir, 'wal', 'db.sqlite')
    const server = await startServer({ KEYS_DIR: join(dir, 'keys-wal'), DATABASE_URL: `sqlite:${dbPath}` })
    const threads = () => readdirSync(`/proc/${server.child.pid}/task`).map((tid) => readFileSync(`/proc/${server.child.pid}/task/${tid}/comm`, 'utf8').trim())
    try {
      expect(threads()).not.toContain('WorkerThread')
      const registered = await fetch(`${server.url}/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'wal@example.com', password: 'correct horse battery staple' }),
      })
      expect(registered.status).toBe(201)
      expect(threads()).toContain('WorkerThread')
      let users = 0
      for (let i = 0; i < 100 && users !== 1; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20))
        users = checkpointedRows(dbPath, 'users', dirname(dbPath))
      }
      // Inline, SQLite would checkpoint only past 1,000 WAL pages: one registration is a handful.
      expect(users).toBe(1)
    } finally {
      server.child.kill('SIGTERM')
    }
    expect((await server.exited).code).toBe(0)
    expect(server.output()).not.toContain('checkpoint failed')
  })

  it('starts with V8\'s young generation at its initial size, not grown for loading the modules', async () => {
    const server = await startServer({ KEYS_DIR: join(dir, 'keys-memory'), DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'debug' })
    try {
      const line = /\{[^\n]*"msg":"memory at start"[^\n]*\}/.exec(server.output())?.[0]
      const { youngGenerationMb, rssMb } = JSON.parse(line ?? '{}') as { youngGenerationMb?: number; rssMb?: number }
      // Two 1 MB semi-spaces; without bin/latchkey-server.js holding it, start-up grows it to 32 MB.
      expect(youngGenerationMb).toBeLessThanOrEqual(2)
      expect(rssMb).toBeGreaterThan(0)
    } finally {
      server.child.kill('SIGTERM')
      await server.exited
    }
  })

  it('with PORT=0 the issuer is the address it listens on: tokens, metadata and the keys agree', async () => {
    const server = await startServer({ KEYS_DIR: join(dir, 'k-port'), DATABASE_URL: 'sqlite::memory:' })
    try {
      const metadata = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as { issuer: string; jwks_uri: string }
      expect(metadata.issuer).toBe(server.url)
      expect((await fetch(metadata.jwks_uri)).status).toBe(200)
      const registered = await fetch(`${server.url}/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'port@example.com', password: 'correct horse battery staple' }),
      })
      const { access_token } = (await registered.json()) as { access_token: string }
      const claims = JSON.parse(Buffer.from(access_token.split('.')[1]!, 'base64url').toString('utf8')) as { iss: string }
      expect(claims.iss).toBe(server.url)
    } finally {
      server.child.kill('SIGTERM')
      await server.exited
    }
  })

  it('a METRICS_PORT already in use stops the start with a message naming the metrics listener', async () => {
    const { createServer } = await import('node:net')
    const occupier = createServer()
    await new Promise<void>((resolve) => occupier.listen(0, '127.0.0.1', resolve))
    const busyPort = (occupier.address() as { port: number }).port
    try {
      const res = spawnSync(process.execPath, serverArgs, {
        cwd: root,
        env: { ...process.env, PORT: '0', METRICS_PORT: String(busyPort), DATABASE_URL: 'sqlite::memory:', KEYS_DIR: join(dir, 'k-metrics') },
        encoding: 'utf8',
        timeout: 20_000,
      })
      expect(res.status).toBe(1)
      expect(res.stderr).toContain(`metrics listener (METRICS_HOST=127.0.0.1, METRICS_PORT=${busyPort}) could not listen: the address is already in use`)
    } finally {
      occupier.close()
    }
  })

  it('refuses to start on an invalid variable, naming it', () => {
    const res = spawnSync(process.execPath, serverArgs, {
      cwd: root,
      env: { ...process.env, PORT: 'not-a-port', KEYS_DIR: join(dir, 'k2') },
      encoding: 'utf8',
      timeout: 15_000,
    })
    expect(res.status).toBe(1)
    expect(res.stderr).toContain('PORT="not-a-port": must be a port number')
  })
})
