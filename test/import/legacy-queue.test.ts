import { randomBytes, scryptSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createPasswordHasher } from '../../src/accounts/passwords.ts'
import { AppError } from '../../src/errors.ts'

const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '')

describe('legacy hash verification and the bounded password queue', () => {
  it('runs an imported hash through the same queue as argon2: beyond its limit a sign-in is shed with server_busy', async () => {
    const hasher = createPasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1, concurrency: 1, queueLimit: 1 })
    const salt = randomBytes(16)
    // scrypt at 64 MiB: slow enough that the first verify still holds the only slot.
    const slow = `$scrypt$ln=16,r=8,p=1$${b64(salt)}$${b64(scryptSync('right password', salt, 32, { N: 2 ** 16, r: 8, p: 1, maxmem: 128 * 1024 * 1024 }))}`
    const first = hasher.verify(slow, 'right password')
    const second = hasher.verify(slow, 'wrong password')
    expect(hasher.queue.running).toBe(1)
    expect(hasher.queue.queued).toBe(1)
    const third = await hasher.verify(slow, 'right password').then(() => null, (err: unknown) => err)
    expect(third).toBeInstanceOf(AppError)
    expect((third as AppError).code).toBe('server_busy')
    expect(await first).toEqual({ ok: true, needsRehash: true, legacyAlgorithm: 'scrypt' })
    expect(await second).toEqual({ ok: false, needsRehash: false, legacyAlgorithm: 'scrypt' })
  })

  it('an account imported without a hash never matches, and costs an argon2 verify like a wrong password', async () => {
    const durations: number[] = []
    const hasher = createPasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1, queueLimit: 10, onDuration: (s) => durations.push(s) })
    expect(await hasher.verify('', 'anything at all')).toEqual({ ok: false, needsRehash: false })
    expect(durations.length).toBeGreaterThan(0)
  })
})
