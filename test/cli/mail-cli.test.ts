import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openStore } from '../../src/store/open-store.ts'
import { PASSWORD } from '../helpers/app.ts'
import { runLatchkey, type CliRunOptions } from '../helpers/cli.ts'
import { tempDir } from '../helpers/key-dir.ts'

describe('latchkey users verify-email and outbox', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let env: Record<string, string>
  const run = (args: string[], options: CliRunOptions = {}) => runLatchkey(args, { ...options, env: { ...env, ...options.env } })

  beforeEach(async () => {
    dir = await tempDir('cli-mail')
    env = { KEYS_DIR: join(dir.path, 'keys'), DATABASE_URL: `sqlite:${join(dir.path, 'data', 'latchkey.db')}`, ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '1' }
  })
  afterEach(() => dir.remove())

  it('users verify-email marks the address verified (audited), once; an unknown address fails', async () => {
    expect((await run(['users', 'create', '--email', 'ada@example.com'], { stdin: PASSWORD })).code).toBe(0)
    const first = await run(['users', 'verify-email', '--email', ' ADA@example.com '])
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toContain('ada@example.com verified')
    expect((await run(['users', 'verify-email', '--email', 'ada@example.com'])).stdout).toContain('was already verified')
    const unknown = await run(['users', 'verify-email', '--email', 'nobody@example.com'])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('no account')
    expect((await run(['users', 'verify-email'])).code).toBe(2)

    const store = await openStore(env.DATABASE_URL!)
    try {
      const user = await store.findUserByEmail('ada@example.com')
      expect(user?.emailVerified).toBe(true)
      expect((await store.listAudit({ userId: user!.id, type: 'email_verified', limit: 5 })).map((e) => e.details)).toEqual([{ via: 'cli' }])
    } finally {
      await store.close()
    }
  })

  it('outbox list shows status, attempts and the last error but never the link; retry queues a failed message again', async () => {
    const now = Date.now()
    const store = await openStore(env.DATABASE_URL!)
    try {
      const message = (id: string) => ({ id, template: 'reset_password', recipient: `${id}@example.com`, data: { link: `https://x.test/reset-password?token=secret-${id}` }, createdAt: now - 1000, expiresAt: now + 3_600_000 })
      await store.outbox.enqueue([message('waiting'), message('broken')])
      await store.outbox.claim({ now, limit: 10, leaseMs: 1, claimId: 'c' })
      await store.outbox.markFailed('broken', 'c', { now, error: '550 5.1.1 mailbox unavailable', retryAt: null })
      await store.outbox.markFailed('waiting', 'c', { now, error: 'ECONNREFUSED', retryAt: now + 60_000 })
    } finally {
      await store.close()
    }

    const all = await run(['outbox', 'list'])
    expect(all.code, all.stderr).toBe(0)
    expect(all.stdout).toContain('1 pending')
    expect(all.stdout).toMatch(/^broken\tfailed\treset_password\tbroken@example.com\t1\t.*550 5\.1\.1 mailbox unavailable$/m)
    expect(all.stdout).toMatch(/^waiting\tpending\t.*ECONNREFUSED$/m)
    expect(all.stdout).not.toContain('secret-')
    const failed = await run(['outbox', 'list', '--status', 'failed'])
    expect(failed.stdout).not.toContain('waiting\t')
    expect((await run(['outbox', 'list', '--status', 'bogus'])).code).toBe(2)

    const retried = await run(['outbox', 'retry', 'broken'])
    expect(retried.code, retried.stderr).toBe(0)
    expect(retried.stdout).toContain('1 message(s) queued again')
    expect((await run(['outbox', 'list', '--status', 'pending'])).stdout).toMatch(/^broken\tpending\treset_password\tbroken@example.com\t0\t/m)
    const missing = await run(['outbox', 'retry', 'no-such-id'])
    expect(missing.code).toBe(1)
    expect((await run(['outbox', 'retry', '--failed'])).stdout).toContain('0 message(s) queued again')
    expect((await run(['outbox', 'retry'])).code).toBe(2)
  })
})
