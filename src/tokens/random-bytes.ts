import { randomFillSync } from 'node:crypto'

/**
 * Random bytes for tokens, ids and IVs, drawn from a pool the CSPRNG refills 4 KB at a time.
 *
 * Each `crypto.randomBytes` call costs ~5 µs on Node 24 (OpenSSL's per-call DRBG overhead, whatever
 * the size), and a refresh needs two (the successor token and its sealing IV); a slice of the pool
 * costs ~0.1 µs. Node batches `crypto.randomUUID` the same way. The bytes are the same CSPRNG's;
 * each one is handed out once and wiped from the pool as it goes.
 */
const POOL_BYTES = 4096
const pool = Buffer.alloc(POOL_BYTES)
let offset = POOL_BYTES

function take(size: number): number {
  if (size > POOL_BYTES) throw new RangeError(`at most ${POOL_BYTES} random bytes at a time`)
  if (offset + size > POOL_BYTES) {
    randomFillSync(pool)
    offset = 0
  }
  const start = offset
  offset += size
  return start
}

/** `size` random bytes in a Buffer of their own. */
export function randomBuffer(size: number): Buffer {
  const start = take(size)
  const bytes = Buffer.from(pool.subarray(start, start + size))
  pool.fill(0, start, start + size)
  return bytes
}

/** `size` random bytes, base64url-encoded. */
export function randomBase64url(size: number): string {
  const start = take(size)
  const text = pool.toString('base64url', start, start + size)
  pool.fill(0, start, start + size)
  return text
}
