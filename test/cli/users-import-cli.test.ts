import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openStore } from '../../src/store/open-store.ts'
import type { Store } from '../../src/store/store.ts'
import { createTestApp, PASSWORD, registerUser } from '../helpers/app.ts'
import { runCli } from '../../src/cli/main.ts'
import { runLatchkey, type CliRunOptions } from '../helpers/cli.ts'
import { tempDir } from '../helpers/key-dir.ts'
import { freshPostgresStore } from '../helpers/pg-schema.ts'
import { fixtureRecord, legacyFixtures, ndjson } from '../import/fixtures.ts'

const databaseUrl = process.env.TEST_DATABASE_URL
if (!databaseUrl) console.warn('CLI import round trip into PostgreSQL SKIPPED: TEST_DATABASE_URL is not set')

describe('latchkey users import and export', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let env: Record<string, string>
  const run = (args: string[], options: CliRunOptions = {}) => runLatchkey(args, { ...options, env: { ...env, ...options.env } })
  const file = (name: string) => join(dir.path, name)

  async function withSqlite<T>(work: (store: Store) => Promise<T>): Promise<T> {
    const store = await openStore(env.DATABASE_URL!)
    try {
      return await work(store)
    } finally {
      await store.close()
    }
  }

  beforeEach(async () => {
    dir = await tempDir('import-cli')
    env = { KEYS_DIR: join(dir.path, 'keys'), DATABASE_URL: `sqlite:${join(dir.path, 'latchkey.db')}`, ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '1' }
  })
  afterEach(() => dir.remove())

  it('imports a file, reports rejected lines with numbers in --rejects, exits 1, and a re-run changes nothing', async () => {
    await writeFile(file('users.ndjson'), ndjson([
      { email: 'a@example.com', email_verified: true, password_hash: '$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a' },
      '{not json',
      { email: 'b@example.com', external_id: 'auth0|b' },
      { email: 'c@example.com', password_hash: 'md5:0123' },
      { email: 'a@example.com' },
    ]))
    const dry = await run(['users', 'import', '--dry-run', file('users.ndjson')])
    expect(dry.stdout).toContain('dry run, nothing written: would import 2')
    expect(dry.stderr).toContain('line 2: invalid_json')
    expect(await withSqlite((s) => s.listUsers({ limit: 10 }))).toEqual([])

    const first = await run(['users', 'import', '--rejects', file('rejects.ndjson'), file('users.ndjson')])
    expect(first.code, first.stderr).toBe(1)
    expect(first.stdout).toContain('imported 2,')
    expect(first.stdout).toContain('rejected 3')
    // Not a terminal: no progress bar.
    expect(first.stderr).not.toContain('\r')
    const rejects = (await readFile(file('rejects.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { line: number; code: string })
    expect(rejects.map((r) => [r.line, r.code]).sort()).toEqual([[2, 'invalid_json'], [4, 'unknown_hash_format'], [5, 'duplicate_in_file']])

    const snapshot = await withSqlite((s) => s.listUsers({ limit: 10 }))
    const again = await run(['users', 'import', file('users.ndjson'), '--on-conflict', 'update'])
    expect(again.stdout).toContain('imported 0, updated 0, unchanged 2')
    expect(await withSqlite((s) => s.listUsers({ limit: 10 }))).toEqual(snapshot)
    const events = await withSqlite((s) => s.listAudit({ type: 'users_imported', limit: 10 }))
    expect(events.map((e) => e.details)).toEqual([{ via: 'cli', imported: 2, updated: 0, skipped: 0, rejected: 3 }])

    const stopped = await run(['users', 'import', file('users.ndjson'), '--on-conflict', 'fail'])
    expect(stopped.code).toBe(1)
    expect(stopped.stderr).toContain('stopped at line 1')
    expect((await run(['users', 'import', file('users.ndjson'), '--on-conflict', 'maybe'])).code).toBe(2)
    expect((await run(['users', 'import', file('missing.ndjson')])).code).toBe(1)
  })

  it('draws a progress bar when stderr is a terminal, and clears it before the report', async () => {
    await writeFile(file('many.ndjson'), ndjson(Array.from({ length: 1200 }, (_, i) => ({ email: `p${i}@example.com` }))))
    const drawn: string[] = []
    const out: string[] = []
    const code = await runCli(['users', 'import', file('many.ndjson')], {
      env, out: (l) => out.push(l), err: (l) => out.push(l), readStdin: async () => null, now: () => new Date(), progress: (l) => drawn.push(l),
    })
    expect(code).toBe(0)
    expect(drawn.at(-1)).toBe('')
    expect(drawn[0]).toMatch(/^\[#*\.*\] +\d+% {2}\d+ lines {2}\d+ written {2}0 rejected$/)
    expect(out).toEqual(['imported 1200, updated 0, unchanged 0, skipped 0 (email exists), rejected 0 — 1200 line(s) read'])
  })

  it('imports NDJSON piped into `-` as it arrives, batch by batch, then exports it to stdout', async () => {
    const store = await openStore(env.DATABASE_URL!)
    try {
      const pipe = new PassThrough()
      const record = (i: number) => `${JSON.stringify({ email: `pipe${i}@example.com`, external_id: `ext-${i}`.padEnd(40, '.') })}\n`
      const running = run(['users', 'import', '-', '--on-conflict', 'update'], { stdin: pipe })
      for (let i = 0; i < 250; i++) pipe.write(record(i))
      // The pipe is still open: two full batches are already in the store, so nothing waits for the end of stdin.
      await expect.poll(async () => (await store.listUsers({ limit: 300 })).length, { timeout: 10_000, interval: 50 }).toBeGreaterThanOrEqual(200)
      // Far more than a pipe buffer and than the 64 KiB the CLI accepts as a piped password.
      for (let i = 250; i < 3000; i++) pipe.write(record(i))
      pipe.end()
      const done = await running
      expect(done.code, done.stderr).toBe(0)
      expect(done.stdout).toBe('imported 3000, updated 0, unchanged 0, skipped 0 (email exists), rejected 0 — 3000 line(s) read\n')
    } finally {
      await store.close()
    }

    const csv = await run(['users', 'import', '-', '--format', 'csv', '--on-conflict', 'update'], { stdin: 'email,external_id\npipe1@example.com,crm-1\nnot-an-email,x\n' })
    expect(csv.code).toBe(1)
    expect(csv.stdout).toContain('updated 1,')
    expect(csv.stderr).toContain('line 3: invalid_email')

    const exported = await run(['users', 'export'])
    const lines = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as { email: string; external_id: string })
    expect(lines).toHaveLength(3000)
    expect(lines.find((u) => u.email === 'pipe1@example.com')?.external_id).toBe('crm-1')
  })

  it('refuses `-` when stdin is a terminal, with a usage error', async () => {
    const err: string[] = []
    const code = await runCli(['users', 'import', '-'], {
      env, out: () => undefined, err: (l) => err.push(l), readStdin: async () => null, now: () => new Date(), stdin: Object.assign(new PassThrough(), { isTTY: true }),
    })
    expect(code).toBe(2)
    expect(err.join('\n')).toContain('pipe or redirect them')
  })

  it('exports NDJSON without hashes unless --include-hashes is given', async () => {
    await writeFile(file('u.csv'), 'email,email_verified,password_hash\nx@example.com,true,$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a\n')
    expect((await run(['users', 'import', file('u.csv')])).code).toBe(0)
    const plain = await run(['users', 'export'])
    expect(plain.code).toBe(0)
    const record = JSON.parse(plain.stdout) as Record<string, unknown>
    expect(record).toMatchObject({ email: 'x@example.com', email_verified: true, disabled: false })
    expect(record).not.toHaveProperty('password_hash')
    const full = JSON.parse((await run(['users', 'export', '--include-hashes'])).stdout) as Record<string, unknown>
    expect(full.password_hash).toBe('$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a')
  })

  it.skipIf(!databaseUrl)('round trip: SQLite → export → import into PostgreSQL, and every user signs in', async () => {
    // On SQLite: users who registered (argon2id) and users imported with every legacy hash, half of them upgraded by a sign-in.
    const fixtures = await legacyFixtures('roundtrip')
    await writeFile(file('legacy.ndjson'), ndjson(fixtures.map(fixtureRecord)))
    expect((await run(['users', 'import', file('legacy.ndjson')])).code).toBe(0)
    const registered = await withSqlite(async (store) => {
      const t = await createTestApp({ store })
      try {
        const emails = [await registerUser(t), await registerUser(t)].map((r) => r.email)
        for (const fx of fixtures.slice(0, 6)) {
          expect((await t.inject({ method: 'POST', url: '/auth/login', payload: { email: fx.email, password: fx.password } })).statusCode).toBe(200)
        }
        return emails
      } finally {
        await t.app.close()
      }
    })

    const exported = await run(['users', 'export', '--include-hashes'])
    expect(exported.code, exported.stderr).toBe(0)
    await writeFile(file('export.ndjson'), exported.stdout)
    expect(exported.stdout.trim().split('\n')).toHaveLength(fixtures.length + 2)

    const pg = await freshPostgresStore(databaseUrl!, `latchkey_import_rt_${process.pid}`)
    try {
      const imported = await run(['users', 'import', file('export.ndjson')], { env: { DATABASE_URL: databaseUrl!, DATABASE_SCHEMA: pg.schema } })
      expect(imported.code, imported.stderr).toBe(0)
      expect(imported.stdout).toContain(`imported ${fixtures.length + 2},`)
      const t = await createTestApp({ store: pg.store })
      try {
        const logins = [...fixtures.map((fx) => ({ email: fx.email, password: fx.password })), ...registered.map((email) => ({ email, password: PASSWORD }))]
        for (const { email, password } of logins) {
          const res = await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password } })
          expect(res.statusCode, `${email}: ${res.body}`).toBe(200)
          expect((await pg.store.findUserByEmail(email))!.passwordHash).toMatch(/^\$argon2id\$/)
        }
        const fx = fixtures[0]!
        expect(await pg.store.findUserByEmail(fx.email)).toMatchObject({ emailVerified: true, createdAt: Date.parse('2021-06-01T12:00:00Z') })
      } finally {
        await t.app.close()
      }
    } finally {
      await pg.dispose()
    }
  }, 120_000)
})
