import { readdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runLatchkey } from '../helpers/cli.ts'
import { docBlock, runBlock } from '../helpers/doc-blocks.ts'
import { tempDir } from '../helpers/key-dir.ts'
import { postJson, startServer, type ServerProcess } from '../helpers/server-process.ts'

const THIS = 'test/docs/runbook.test.ts'
const OPS = 'docs/operations.md'
const PASSWORD = 'correct horse battery staple'
const pgUrl = process.env.TEST_DATABASE_URL
const redisUrl = process.env.TEST_REDIS_URL
if (!pgUrl) console.warn('runbook on PostgreSQL SKIPPED: TEST_DATABASE_URL is not set')
if (!redisUrl) console.warn('runbook with Redis SKIPPED: TEST_REDIS_URL is not set')

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

async function stop(server: ServerProcess | undefined) {
  if (!server || server.child.exitCode !== null) return
  server.child.kill('SIGTERM')
  await server.exited
}

const login = (server: ServerProcess, email: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ email, password: PASSWORD }) })

/** The kid in an access token's header. */
const kidOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string }).kid

async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, 100))
  }
  return check()
}

/** Backups go where the runbook says, under a temporary directory instead of /var. */
const relocate = (block: string, dir: string) => block.replaceAll('/var/backups/latchkey', join(dir, 'backups')).replaceAll('/var/lib/latchkey', join(dir, 'lib'))

describe('runbook on SQLite, against a running server', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let env: Record<string, string>
  let server: ServerProcess
  let metricsPort: number

  beforeAll(async () => {
    dir = await tempDir('runbook')
    env = { KEYS_DIR: join(dir.path, 'keys'), DATABASE_URL: `sqlite:${join(dir.path, 'lib', 'latchkey.db')}` }
    metricsPort = await freePort()
    server = await startServer({ ...env, METRICS_PORT: String(metricsPort), RATE_LIMIT_ENABLED: 'false', REFRESH_GRACE_PERIOD: '0' })
  }, 30_000)

  afterAll(async () => {
    await stop(server)
    await dir?.remove()
  })

  it('metrics: the failed-login counter', async () => {
    expect((await login(server, 'nobody@example.com')).status).toBe(401)
    const block = docBlock(OPS, "curl -s http://127.0.0.1:9464/metrics | grep '^latchkey_audit_events_total", THIS)
    const res = runBlock(block.replaceAll('127.0.0.1:9464', `127.0.0.1:${metricsPort}`))
    expect(res.status, res.stderr).toBe(0)
    expect(res.stdout).toMatch(/^latchkey_audit_events_total\{type="login_failed"\} 1$/m)
  })

  it('refresh-reuse storm: the audit query finds the reuse, and disabling the account ends its sessions', async () => {
    const admin = await runLatchkey(['users', 'create', '--email', 'ops-admin@example.com', '--admin'], { env, stdin: PASSWORD })
    expect(admin.code, admin.stderr).toBe(0)
    const adminToken = ((await (await login(server, 'ops-admin@example.com')).json()) as { access_token: string }).access_token
    const victim = await postJson(`${server.url}/auth/register`, { email: 'victim@example.com', password: PASSWORD })
    const stolen = victim!.body.refresh_token
    expect((await postJson(`${server.url}/auth/refresh`, { refresh_token: stolen }))!.status).toBe(200)
    const replay = await postJson(`${server.url}/auth/refresh`, { refresh_token: stolen })
    expect(replay!.body.code).toBe('refresh_token_reused')
    const victimId = JSON.parse(Buffer.from(victim!.body.access_token!.split('.')[1]!, 'base64url').toString('utf8')).sub as string

    const audit = runBlock(docBlock(OPS, "curl -s 'http://127.0.0.1:3000/admin/audit?type=refresh_reuse_detected", THIS), { url: server.url, env: { ADMIN_TOKEN: adminToken } })
    expect(audit.status, audit.stderr).toBe(0)
    const rows = audit.stdout.trim().split('\n').map((l) => l.split('\t'))
    expect(rows).toHaveLength(1)
    expect(rows[0]![1]).toBe(victimId)
    expect(rows[0]![2]).toBe('127.0.0.1')

    const live = await login(server, 'victim@example.com')
    expect(live.status).toBe(200)
    const disable = runBlock(docBlock(OPS, 'npx latchkey users disable --email "$EMAIL"', THIS), { env: { ...env, EMAIL: 'victim@example.com' } })
    expect(disable.status, disable.stderr).toBe(0)
    const refused = await login(server, 'victim@example.com')
    expect(refused.status).toBe(403)
    expect(((await refused.json()) as { code: string }).code).toBe('account_disabled')
    const session = await postJson(`${server.url}/auth/refresh`, { refresh_token: ((await live.json()) as { refresh_token: string }).refresh_token })
    expect(session!.status).toBe(403)
    expect(session!.body.code).toBe('account_disabled')
  }, 60_000)

  it('key compromise: after the emergency rotation the old key is unpublished and its tokens refused', async () => {
    const user = await postJson(`${server.url}/auth/register`, { email: 'signed-by-old@example.com', password: PASSWORD })
    const oldToken = user!.body.access_token!
    const compromised = kidOf(oldToken)
    const claims = () => fetch(`${server.url}/me/claims`, { headers: { authorization: `Bearer ${oldToken}` } }).then((r) => r.status)
    expect(await claims()).toBe(200)

    // the state the alerts keep: a published next key (the development key came alone)
    const next = await runLatchkey(['keys', 'generate'], { env })
    expect(next.code, next.stderr).toBe(0)
    const block = docBlock(OPS, 'npx latchkey keys rotate --force', THIS)
    const res = runBlock(block, { url: server.url, env: { ...env, COMPROMISED_KID: compromised, LATCHKEY_PID: String(server.child.pid) } })
    expect(res.status, res.stderr).toBe(0)
    expect(res.stdout).toContain(compromised) // keys list named it first
    const published = res.stdout.trim().split('\n').slice(-3).filter((l) => /^[A-Za-z0-9_-]{43}$/.test(l))
    expect(published.length).toBeGreaterThanOrEqual(1)
    expect(published).not.toContain(compromised)

    expect(await eventually(async () => (await claims()) === 401)).toBe(true)
    // and the new key signs: a fresh sign-in works, with another kid
    const fresh = (await (await login(server, 'signed-by-old@example.com')).json()) as { access_token: string }
    expect(kidOf(fresh.access_token)).not.toBe(compromised)
  }, 60_000)

  it('database outage: the readiness check says what the instance sees', () => {
    const res = runBlock(docBlock(OPS, "health/ready | jq -c '{status, checks}'", THIS), { url: server.url })
    expect(res.status, res.stderr).toBe(0)
    expect(res.stdout.trim()).toBe('{"status":"ok","checks":{"store":"ok"}}')
  })

  it('outbox lag: list the failed mail and retry it', () => {
    const res = runBlock(docBlock(OPS, 'npx latchkey outbox list --status failed', THIS), { env })
    expect(res.status, res.stderr).toBe(0)
    expect(res.stdout).toMatch(/\d+ pending/)
    expect(res.stdout).toMatch(/^\d+ message\(s\) queued again$/m)
  })

  it('SQLite: an online backup while serving, then a restore brings back exactly what it held', async () => {
    expect((await postJson(`${server.url}/auth/register`, { email: 'before-backup@example.com', password: PASSWORD }))!.status).toBe(201)
    const backup = runBlock(relocate(docBlock(OPS, 'npx latchkey backup /var/backups/latchkey/latchkey-$(date', THIS), dir.path), { env })
    expect(backup.status, backup.stderr).toBe(0)
    const files = readdirSync(join(dir.path, 'backups'))
    expect(files).toHaveLength(1)
    expect(files[0]).toMatch(/^latchkey-\d{8}-\d{6}\.db$/)
    expect((await postJson(`${server.url}/auth/register`, { email: 'after-backup@example.com', password: PASSWORD }))!.status).toBe(201)

    await stop(server)
    const restore = relocate(docBlock(OPS, 'DB=/var/lib/latchkey/latchkey.db', THIS), dir.path).replace('latchkey-20261205-031500.db', files[0]!)
    const res = runBlock(restore, { env: { KEYS_DIR: env.KEYS_DIR! } })
    expect(res.status, res.stderr).toBe(0)
    expect(res.stdout).toContain('store is up to date')

    server = await startServer({ ...env, RATE_LIMIT_ENABLED: 'false' })
    expect((await login(server, 'before-backup@example.com')).status).toBe(200)
    expect((await login(server, 'after-backup@example.com')).status).toBe(401)
  }, 60_000)
})

describe.skipIf(!redisUrl)('runbook with Redis', () => {
  it('Redis outage: ping Redis and read what the instance sees', async () => {
    const dir = await tempDir('runbook-redis')
    const server = await startServer({
      KEYS_DIR: join(dir.path, 'keys'),
      DATABASE_URL: 'sqlite::memory:',
      REDIS_URL: redisUrl!,
      REDIS_KEY_PREFIX: `runbook-${process.pid}:`,
    })
    try {
      const res = runBlock(docBlock(OPS, 'redis-cli -u "$REDIS_URL" ping', THIS), { url: server.url, env: { REDIS_URL: redisUrl! } })
      expect(res.status, res.stderr).toBe(0)
      expect(res.stdout.trim().split('\n')).toEqual(['PONG', '{"store":"ok","redis":"ok"}'])
    } finally {
      await stop(server)
      await dir.remove()
    }
  }, 30_000)
})

describe.skipIf(!pgUrl)('runbook on PostgreSQL', () => {
  const schema = `runbook_${process.pid}_${Date.now().toString(36)}`
  let dir: Awaited<ReturnType<typeof tempDir>>
  let env: Record<string, string>

  beforeAll(async () => {
    dir = await tempDir('runbook-pg')
    env = { KEYS_DIR: join(dir.path, 'keys'), DATABASE_URL: pgUrl!, DATABASE_SCHEMA: schema }
  })

  afterAll(async () => {
    const admin = new pg.Client({ connectionString: pgUrl })
    await admin.connect()
    try {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    } finally {
      await admin.end()
    }
    await dir?.remove()
  })

  it('pg_isready and migrate, then pg_dump while serving and pg_restore bring back exactly what the dump held', async () => {
    const check = runBlock(docBlock(OPS, 'pg_isready -d "$DATABASE_URL"', THIS), { env })
    expect(check.status, check.stderr).toBe(0)
    expect(check.stdout).toContain('accepting connections')
    expect(check.stdout).toMatch(/applied \d+ migration\(s\)|store is up to date/)

    let server = await startServer({ ...env, RATE_LIMIT_ENABLED: 'false' })
    try {
      expect((await postJson(`${server.url}/auth/register`, { email: 'kept@example.com', password: PASSWORD }))!.status).toBe(201)
      const dump = runBlock(relocate(docBlock(OPS, 'pg_dump --format=custom --schema="${DATABASE_SCHEMA:-public}"', THIS), dir.path), { env })
      expect(dump.status, dump.stderr).toBe(0)
      expect((await postJson(`${server.url}/auth/register`, { email: 'lost@example.com', password: PASSWORD }))!.status).toBe(201)
    } finally {
      await stop(server)
    }
    const files = readdirSync(join(dir.path, 'backups'))
    expect(files).toHaveLength(1)
    expect(files[0]).toMatch(/^latchkey-\d{8}-\d{6}\.dump$/)

    const restore = relocate(docBlock(OPS, 'pg_restore --clean --if-exists --no-owner', THIS), dir.path).replace('latchkey-20261205-031500.dump', files[0]!)
    const res = runBlock(restore, { env })
    expect(res.status, res.stderr).toBe(0)
    expect(res.stdout).toContain('store is up to date')

    server = await startServer({ ...env, RATE_LIMIT_ENABLED: 'false' })
    try {
      expect((await login(server, 'kept@example.com')).status).toBe(200)
      expect((await login(server, 'lost@example.com')).status).toBe(401)
    } finally {
      await stop(server)
    }
  }, 90_000)
})
