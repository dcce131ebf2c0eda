import { availableParallelism } from 'node:os'
import argon2 from 'argon2'
import { BoundedQueue } from './bounded-queue.ts'

export interface Argon2Params {
  memoryCost: number
  timeCost: number
  parallelism: number
}

export interface PasswordHasherOptions extends Argon2Params {
  /** Hashes run at once; defaults to the core count. */
  concurrency?: number | undefined
  queueLimit: number
  /** Called with each hash/verify duration in seconds (metrics). */
  onDuration?: (seconds: number) => void
}

export interface PasswordCheck {
  ok: boolean
  /** The stored hash used other parameters than the configured ones: rehash on success. */
  needsRehash: boolean
}

export interface PasswordHasher {
  hash(password: string): Promise<string>
  verify(hash: string, password: string): Promise<PasswordCheck>
  /** Spends the same time as a real verify, for logins with an unknown email. */
  verifyDummy(password: string): Promise<void>
  readonly queue: BoundedQueue
}

/**
 * argon2id at the configured cost. argon2 hashes on libuv's thread pool; the bounded queue keeps at
 * most one hash per core in flight so the pool (shared with fs and crypto) and the event loop stay
 * responsive while logins are saturated.
 */
export function createPasswordHasher(options: PasswordHasherOptions): PasswordHasher {
  const params = {
    type: argon2.argon2id as 2,
    memoryCost: options.memoryCost,
    timeCost: options.timeCost,
    parallelism: options.parallelism,
  }
  const queue = new BoundedQueue(options.concurrency ?? availableParallelism(), options.queueLimit)
  const timed = async <T>(work: () => Promise<T>): Promise<T> =>
    queue.run(async () => {
      const started = performance.now()
      try {
        return await work()
      } finally {
        options.onDuration?.((performance.now() - started) / 1000)
      }
    })
  let dummyHash: Promise<string> | undefined

  return {
    queue,
    hash: (password) => timed(() => argon2.hash(password, params)),
    async verify(hash, password) {
      const ok = await timed(() => argon2.verify(hash, password).catch(() => false))
      return { ok, needsRehash: ok && argon2.needsRehash(hash, params) }
    },
    async verifyDummy(password) {
      dummyHash ??= argon2.hash('latchkey-dummy-password', params)
      const hash = await dummyHash
      await timed(() => argon2.verify(hash, password).catch(() => false))
    },
  }
}
