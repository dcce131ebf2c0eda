import { sign, type KeyObject } from 'node:crypto'
import argon2 from 'argon2'
import type { Argon2Params } from '../src/accounts/passwords.ts'

/** RS256 signatures per second on one thread, over a signing input the size of a real access token's. */
export function rawSignRate(privateKey: KeyObject, signingInput: string, seconds: number): number {
  const input = Buffer.from(signingInput)
  for (let i = 0; i < 50; i++) sign('sha256', input, privateKey)
  const started = performance.now()
  let n = 0
  while (performance.now() - started < seconds * 1000) {
    sign('sha256', input, privateKey)
    n++
  }
  return n / ((performance.now() - started) / 1000)
}

/** argon2id hashes per second with `concurrency` hashes in flight, as the login path runs them. */
export async function rawArgon2Rate(params: Argon2Params, concurrency: number, seconds: number): Promise<number> {
  const options = { type: argon2.argon2id as 2, ...params }
  await argon2.hash('warm-up password', options)
  const started = performance.now()
  let n = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() - started < seconds * 1000) {
        await argon2.hash('correct horse battery staple', options)
        n++
      }
    }),
  )
  return n / ((performance.now() - started) / 1000)
}
