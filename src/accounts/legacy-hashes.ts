import { createCipheriv, pbkdf2, scrypt, timingSafeEqual, type BinaryLike, type ScryptOptions } from 'node:crypto'
import { promisify } from 'node:util'
import argon2 from 'argon2'

/**
 * Password hashes made by other systems (DESIGN §8), kept as imported until the user's next sign-in
 * upgrades them to argon2id. Each is stored as one string: the PHC string, bcrypt's `$2b$…` or
 * Django's `pbkdf2_sha256$…` as given, and Firebase's modified scrypt as a PHC-like string of our
 * own, `$firebase-scrypt$ln=…,r=…,ss=…,sk=…$salt$hash`, since its parameters belong with each hash.
 */
export type LegacyAlgorithm = 'argon2id' | 'argon2i' | 'bcrypt' | 'scrypt' | 'pbkdf2-sha256' | 'pbkdf2-sha512' | 'django-pbkdf2-sha256' | 'firebase-scrypt'

export type LegacyHash =
  | { algorithm: 'argon2id' | 'argon2i' | 'bcrypt'; encoded: string }
  | { algorithm: 'scrypt'; ln: number; r: number; p: number; salt: Buffer; hash: Buffer }
  | { algorithm: 'pbkdf2-sha256' | 'pbkdf2-sha512' | 'django-pbkdf2-sha256'; iterations: number; salt: Buffer; hash: Buffer }
  | { algorithm: 'firebase-scrypt'; ln: number; r: number; saltSeparator: Buffer; signerKey: Buffer; salt: Buffer; hash: Buffer }

/** Firebase's export format (`auth:export` plus the project's hash parameters). */
export interface FirebaseScryptRecord {
  algorithm: 'firebase-scrypt'
  hash: string
  salt: string
  signer_key: string
  salt_separator: string
  rounds: number
  mem_cost: number
}

/** Why a hash was refused: the message lands in the rejects file next to the line number. */
export class LegacyHashError extends Error {
  override name = 'LegacyHashError'
}

// Bounds keep one sign-in's cost sane whatever a file holds: an imported hash is attacker-chosen
// input as far as the login path is concerned.
const MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
const MAX_PBKDF2_ITERATIONS = 10_000_000
const B64 = /^[A-Za-z0-9+/._-]*={0,2}$/

const scryptAsync = promisify(scrypt) as (password: BinaryLike, salt: BinaryLike, keylen: number, options: ScryptOptions) => Promise<Buffer>
const pbkdf2Async = promisify(pbkdf2)

/** Standard base64, with or without padding; passlib writes `.` for `+`, some exports use base64url. */
function base64(value: string, what: string): Buffer {
  if (!B64.test(value)) throw new LegacyHashError(`${what} is not base64`)
  return Buffer.from(value.replaceAll('.', '+').replaceAll('-', '+').replaceAll('_', '/'), 'base64')
}

const unpadded = (b: Buffer) => b.toString('base64').replace(/=+$/, '')

function integer(value: string | undefined, what: string, min: number, max: number): number {
  if (value === undefined || !/^\d{1,9}$/.test(value)) throw new LegacyHashError(`${what} is missing or not an integer`)
  const n = Number(value)
  if (n < min || n > max) throw new LegacyHashError(`${what} ${n} is outside ${min}..${max}`)
  return n
}

function params(text: string): Map<string, string> {
  const map = new Map<string, string>()
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new LegacyHashError(`parameter "${pair}" is not name=value`)
    map.set(pair.slice(0, eq), pair.slice(eq + 1))
  }
  return map
}

function scryptMemory(ln: number, r: number): number {
  const bytes = 128 * 2 ** ln * r
  if (bytes > MAX_SCRYPT_MEMORY) throw new LegacyHashError(`scrypt parameters need ${bytes >> 20} MiB, over the ${MAX_SCRYPT_MEMORY >> 20} MiB limit`)
  return bytes
}

function nonEmpty(b: Buffer, what: string): Buffer {
  if (b.length === 0) throw new LegacyHashError(`${what} is empty`)
  return b
}

/** Parses a stored or imported hash string; throws LegacyHashError naming what is wrong. */
export function parseLegacyHash(encoded: string): LegacyHash {
  if (/^\$argon2(id|i)\$/.test(encoded)) {
    const parts = encoded.split('$')
    if (parts.length !== 6) throw new LegacyHashError('argon2 hash is not a PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash)')
    return { algorithm: encoded.startsWith('$argon2id$') ? 'argon2id' : 'argon2i', encoded }
  }
  if (/^\$2[aby]\$/.test(encoded)) {
    if (!/^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/.test(encoded)) throw new LegacyHashError('bcrypt hash is malformed')
    return { algorithm: 'bcrypt', encoded }
  }
  if (encoded.startsWith('pbkdf2_sha256$')) {
    const [, iterations, salt, hash, ...extra] = encoded.split('$')
    if (salt === undefined || hash === undefined || salt === '' || extra.length > 0) throw new LegacyHashError('Django hash is not pbkdf2_sha256$iterations$salt$hash')
    // Django's salt is used as text, not decoded.
    return {
      algorithm: 'django-pbkdf2-sha256',
      iterations: integer(iterations, 'iterations', 1, MAX_PBKDF2_ITERATIONS),
      salt: Buffer.from(salt, 'utf8'),
      hash: nonEmpty(base64(hash, 'hash'), 'hash'),
    }
  }
  const phc = /^\$([a-z0-9-]+)\$([^$]*)\$([^$]*)\$([^$]*)$/.exec(encoded)
  const firebase = /^\$firebase-scrypt\$([^$]*)\$([^$]*)\$([^$]*)$/.exec(encoded)
  if (firebase) {
    const p = params(firebase[1]!)
    const ln = integer(p.get('ln'), 'ln (mem_cost)', 1, 20)
    const r = integer(p.get('r'), 'r (rounds)', 1, 32)
    scryptMemory(ln, r)
    return {
      algorithm: 'firebase-scrypt',
      ln,
      r,
      saltSeparator: base64(p.get('ss') ?? '', 'salt separator'),
      signerKey: nonEmpty(base64(p.get('sk') ?? '', 'signer key'), 'signer key'),
      salt: nonEmpty(base64(firebase[2]!, 'salt'), 'salt'),
      hash: nonEmpty(base64(firebase[3]!, 'hash'), 'hash'),
    }
  }
  if (phc?.[1] === 'scrypt') {
    const p = params(phc[2]!)
    const ln = integer(p.get('ln'), 'ln', 1, 20)
    const r = integer(p.get('r'), 'r', 1, 32)
    scryptMemory(ln, r)
    return {
      algorithm: 'scrypt',
      ln,
      r,
      p: integer(p.get('p'), 'p', 1, 16),
      salt: nonEmpty(base64(phc[3]!, 'salt'), 'salt'),
      hash: nonEmpty(base64(phc[4]!, 'hash'), 'hash'),
    }
  }
  if (phc?.[1] === 'pbkdf2-sha256' || phc?.[1] === 'pbkdf2-sha512') {
    // PHC (`i=…[,l=…]`) or passlib's bare iteration count.
    const raw = phc[2]!
    const iterations = /^\d+$/.test(raw) ? raw : params(raw).get('i')
    return {
      algorithm: phc[1],
      iterations: integer(iterations, 'iterations', 1, MAX_PBKDF2_ITERATIONS),
      salt: nonEmpty(base64(phc[3]!, 'salt'), 'salt'),
      hash: nonEmpty(base64(phc[4]!, 'hash'), 'hash'),
    }
  }
  throw new LegacyHashError('unknown hash format (expected argon2 PHC, bcrypt $2a$/$2b$/$2y$, scrypt or pbkdf2 PHC, Django pbkdf2_sha256$, or a firebase-scrypt object)')
}

/** Turns Firebase's export object into the stored string; throws LegacyHashError when it is incomplete. */
export function encodeFirebaseScrypt(record: Record<string, unknown>): string {
  const str = (key: string) => {
    const v = record[key]
    if (typeof v !== 'string') throw new LegacyHashError(`firebase-scrypt needs "${key}" as a base64 string`)
    return unpadded(base64(v, key))
  }
  const num = (key: string) => {
    const v = record[key]
    if (typeof v !== 'number' && typeof v !== 'string') throw new LegacyHashError(`firebase-scrypt needs "${key}" as a number`)
    return String(v)
  }
  const encoded = `$firebase-scrypt$ln=${num('mem_cost')},r=${num('rounds')},ss=${str('salt_separator')},sk=${str('signer_key')}$${str('salt')}$${str('hash')}`
  parseLegacyHash(encoded)
  return encoded
}

/** The export form of a stored firebase-scrypt string (the object Firebase's tools speak). */
export function decodeFirebaseScrypt(encoded: string): FirebaseScryptRecord {
  const parsed = parseLegacyHash(encoded)
  if (parsed.algorithm !== 'firebase-scrypt') throw new LegacyHashError('not a firebase-scrypt hash')
  return {
    algorithm: 'firebase-scrypt',
    hash: parsed.hash.toString('base64'),
    salt: parsed.salt.toString('base64'),
    signer_key: parsed.signerKey.toString('base64'),
    salt_separator: parsed.saltSeparator.toString('base64'),
    rounds: parsed.r,
    mem_cost: parsed.ln,
  }
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * Firebase's scrypt: the derived key of password and salt‖separator (N=2^mem_cost, r=rounds, p=1)
 * keys AES-256-CTR (zero IV), which encrypts the project's signer key; the ciphertext is the hash.
 */
export async function firebaseScryptHash(password: string, h: { ln: number; r: number; salt: Buffer; saltSeparator: Buffer; signerKey: Buffer }): Promise<Buffer> {
  const derived = await scryptAsync(password, Buffer.concat([h.salt, h.saltSeparator]), 64, {
    N: 2 ** h.ln,
    r: h.r,
    p: 1,
    maxmem: scryptMemory(h.ln, h.r) + 1024 * 1024,
  })
  const cipher = createCipheriv('aes-256-ctr', derived.subarray(0, 32), Buffer.alloc(16))
  return Buffer.concat([cipher.update(h.signerKey), cipher.final()])
}

/** Checks a password against a legacy hash; the CPU-heavy part runs on libuv's thread pool. */
export async function verifyLegacyHash(h: LegacyHash, password: string): Promise<boolean> {
  switch (h.algorithm) {
    case 'argon2id':
    case 'argon2i':
      return argon2.verify(h.encoded, password)
    case 'bcrypt': {
      // Loaded with the first imported bcrypt hash (~8 MB resident): most instances have none.
      const { default: bcrypt } = await import('@node-rs/bcrypt')
      // $2y$ (PHP) and $2a$ are the same algorithm as $2b$ for any password under 256 bytes.
      return bcrypt.verify(password, h.encoded.replace(/^\$2[ay]\$/, '$2b$'))
    }
    case 'scrypt':
      return sameBytes(
        await scryptAsync(password, h.salt, h.hash.length, { N: 2 ** h.ln, r: h.r, p: h.p, maxmem: scryptMemory(h.ln, h.r) * h.p + 1024 * 1024 }),
        h.hash,
      )
    case 'pbkdf2-sha256':
    case 'pbkdf2-sha512':
    case 'django-pbkdf2-sha256':
      return sameBytes(await pbkdf2Async(password, h.salt, h.iterations, h.hash.length, h.algorithm === 'pbkdf2-sha512' ? 'sha512' : 'sha256'), h.hash)
    case 'firebase-scrypt':
      return sameBytes(await firebaseScryptHash(password, h), h.hash)
  }
}
