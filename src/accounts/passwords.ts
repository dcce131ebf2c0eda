import { availableParallelism } from 'node:os'
import argon2 from 'argon2'
import { BoundedQueue } from './bounded-queue.ts'
import { LegacyHashError, parseLegacyHash, verifyLegacyHash, type LegacyAlgorithm } from './legacy-hashes.ts'

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
  /** Set when the stored hash was an imported one (legacy-hashes.ts): it is upgraded on success. */
  legacyAlgorithm?: LegacyAlgorithm
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
  async function verifyDummy(password: string): Promise<void> {
    dummyHash ??= argon2.hash('latchkey-dummy-password', params)
    const hash = await dummyHash
    await timed(() => argon2.verify(hash, password).catch(() => false))
  }

  return {
    queue,
    hash: (password) => timed(() => argon2.hash(password, params)),
    async verify(hash, password) {
      if (hash.startsWith('$argon2id$')) {
        const ok = await timed(() => argon2.verify(hash, password).catch(() => false))
        return { ok, needsRehash: ok && argon2.needsRehash(hash, params) }
      }
      // An imported hash: verified by its own algorithm in the same queue, so a storm of legacy
      // sign-ins is bounded like any other. A hash that does not parse (an account imported without
      // one) never matches, and costs what a wrong password costs.
      let legacy
      try {
        legacy = parseLegacyHash(hash)
      } catch (err) {
        if (!(err instanceof LegacyHashError)) throw err
        await verifyDummy(password)
        return { ok: false, needsRehash: false }
      }
      const ok = await timed(() => verifyLegacyHash(legacy, password).catch(() => false))
      return { ok, needsRehash: ok, legacyAlgorithm: legacy.algorithm }
    },
    verifyDummy,
  }
}
