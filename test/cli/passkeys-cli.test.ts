import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openStore } from '../../src/store/open-store.ts'
import { PASSWORD } from '../helpers/app.ts'
import { runLatchkey, type CliRunOptions } from '../helpers/cli.ts'
import { tempDir } from '../helpers/key-dir.ts'

describe('latchkey users passkeys', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let env: Record<string, string>
  const run = (args: string[], options: CliRunOptions = {}) => runLatchkey(args, { ...options, env: { ...env, ...options.env } })

  beforeEach(async () => {
    dir = await tempDir('cli-passkeys')
    env = { KEYS_DIR: join(dir.path, 'keys'), DATABASE_URL: `sqlite:${join(dir.path, 'data', 'latchkey.db')}`, ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '1' }
  })
  afterEach(() => dir.remove())

  it("lists an account's passkeys with their kind, dates and counter flag; an unknown email exits 1", async () => {
    expect((await run(['users', 'create', '--email', 'ada@example.com'], { stdin: PASSWORD })).code).toBe(0)
    expect((await run(['users', 'passkeys', '--email', 'Ada@Example.com'])).stdout).toBe('ada@example.com: 0 passkey(s)\n')

    const store = await openStore(env.DATABASE_URL!)
    try {
      const user = (await store.findUserByEmail('ada@example.com'))!
      const base = { userId: user.id, publicKey: 'pQECAyYg', counter: 3, aaguid: '00000000-0000-0000-0000-000000000000' }
      await store.passkeys.create({ ...base, id: '11111111-1111-4111-8111-111111111111', credentialId: 'cred-a', transports: ['internal', 'hybrid'], backedUp: true, deviceType: 'multiDevice', name: 'MacBook', createdAt: Date.parse('2026-01-01T00:00:00Z') })
      await store.passkeys.create({ ...base, id: '22222222-2222-4222-8222-222222222222', credentialId: 'cred-b', transports: ['usb'], backedUp: false, deviceType: 'singleDevice', name: 'YubiKey', createdAt: Date.parse('2026-01-02T00:00:00Z') })
      await store.passkeys.recordUse({ id: '22222222-2222-4222-8222-222222222222', counter: 4, backedUp: false, now: Date.parse('2026-01-03T00:00:00Z') })
      await store.passkeys.flagCounterRegression('22222222-2222-4222-8222-222222222222', Date.parse('2026-01-04T00:00:00Z'))
    } finally {
      await store.close()
    }

    const listed = await run(['users', 'passkeys', '--email', 'ada@example.com'])
    expect(listed.code, listed.stderr).toBe(0)
    expect(listed.stdout.split('\n')).toEqual([
      'ada@example.com: 2 passkey(s)',
      'id\tname\tdevice\tbacked up\ttransports\tcreated\tlast used\tcounter regression',
      '11111111-1111-4111-8111-111111111111\tMacBook\tmulti_device\tyes\tinternal,hybrid\t2026-01-01T00:00:00.000Z\t-\t-',
      '22222222-2222-4222-8222-222222222222\tYubiKey\tsingle_device\tno\tusb\t2026-01-02T00:00:00.000Z\t2026-01-03T00:00:00.000Z\t2026-01-04T00:00:00.000Z',
      '',
    ])

    const unknown = await run(['users', 'passkeys', '--email', 'nobody@example.com'])
    expect({ code: unknown.code, stderr: unknown.stderr.trim() }).toEqual({ code: 1, stderr: expect.stringContaining('no account with email nobody@example.com') })
    expect((await run(['users', 'passkeys'])).code).toBe(2)
  })
})
