import { pbkdf2Sync, randomBytes, scryptSync } from 'node:crypto'
import { Readable } from 'node:stream'
import bcryptNative from '@node-rs/bcrypt'
import argon2 from 'argon2'
import bcryptjs from 'bcryptjs'
import { importUsers, type ImportReport } from '../../src/transfer/import-users.ts'
import type { Rejection } from '../../src/transfer/import-record.ts'
import type { OnConflict, UserTransferStore } from '../../src/store/user-transfer.ts'
import type { ImportFormat } from '../../src/transfer/record-sources.ts'

/** One imported account: its password, and the hash some other system stored for it. */
export interface LegacyFixture {
  name: string
  email: string
  password: string
  passwordHash: string | Record<string, unknown>
  /** What the sign-in's password_rehashed event names; undefined for an argon2id that is only re-parameterised. */
  legacyAlgorithm: string | undefined
}

const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '')

/** Firebase's published example (firebase/scrypt README): project parameters, one user's salt and hash. */
export const FIREBASE_VECTOR = {
  algorithm: 'firebase-scrypt',
  hash: 'lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==',
  salt: '42xEC+ixf3L2lw==',
  signer_key: 'jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==',
  salt_separator: 'Bw==',
  rounds: 8,
  mem_cost: 14,
}

/** RFC 7914 §12, scrypt("password", "NaCl", N=1024, r=8, p=16, dkLen=64). */
const RFC7914_SCRYPT = 'fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640'
/** RFC 7914 §11, PBKDF2-HMAC-SHA256("passwd", "salt", c=1, dkLen=64). */
const RFC7914_PBKDF2 = '55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783'

/**
 * Hashes made here by each algorithm's reference implementation (argon2, bcryptjs and the Rust
 * bcrypt, node:crypto's scrypt and PBKDF2), plus published vectors made by other software.
 */
export async function legacyFixtures(tag: string): Promise<LegacyFixture[]> {
  const pw = (n: string) => `legacy ${n} password ${tag}`
  const salt = randomBytes(16)
  const f = (name: string, password: string, passwordHash: LegacyFixture['passwordHash'], legacyAlgorithm: string | undefined): LegacyFixture => ({
    name, email: `${name}.${tag}@example.com`, password, passwordHash, legacyAlgorithm,
  })
  return [
    f('argon2id-weaker', pw('argon2id'), await argon2.hash(pw('argon2id'), { type: argon2.argon2id, memoryCost: 4096, timeCost: 1, parallelism: 1 }), undefined),
    f('argon2i', pw('argon2i'), await argon2.hash(pw('argon2i'), { type: argon2.argon2i, memoryCost: 4096, timeCost: 2, parallelism: 1 }), 'argon2i'),
    f('bcrypt-2b', pw('2b'), await bcryptNative.hash(pw('2b'), 4), 'bcrypt'),
    f('bcrypt-2a-bcryptjs', pw('2a'), bcryptjs.hashSync(pw('2a'), bcryptjs.genSaltSync(5).replace('$2b$', '$2a$')), 'bcrypt'),
    // The PHP manual's password_verify() example: a $2y$ hash made by PHP.
    f('bcrypt-2y-php', 'rasmuslerdorf', '$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a', 'bcrypt'),
    f('scrypt-phc', pw('scrypt'), `$scrypt$ln=14,r=8,p=1$${b64(salt)}$${b64(scryptSync(pw('scrypt'), salt, 32, { N: 2 ** 14, r: 8, p: 1 }))}`, 'scrypt'),
    f('scrypt-rfc7914', 'password', `$scrypt$ln=10,r=8,p=16$${b64(Buffer.from('NaCl'))}$${b64(Buffer.from(RFC7914_SCRYPT, 'hex'))}`, 'scrypt'),
    f('pbkdf2-sha256-phc', pw('pbkdf2'), `$pbkdf2-sha256$i=25000,l=32$${b64(salt)}$${b64(pbkdf2Sync(pw('pbkdf2'), salt, 25000, 32, 'sha256'))}`, 'pbkdf2-sha256'),
    f('pbkdf2-sha256-rfc7914', 'passwd', `$pbkdf2-sha256$i=1,l=64$${b64(Buffer.from('salt'))}$${b64(Buffer.from(RFC7914_PBKDF2, 'hex'))}`, 'pbkdf2-sha256'),
    f('pbkdf2-sha512-phc', pw('sha512'), `$pbkdf2-sha512$i=10000,l=64$${b64(salt)}$${b64(pbkdf2Sync(pw('sha512'), salt, 10000, 64, 'sha512'))}`, 'pbkdf2-sha512'),
    // Django's own known-answer test (tests/auth_tests/test_hashers.py, Django 5).
    f('django', 'lètmein', 'pbkdf2_sha256$1000000$seasalt$r1uLUxoxpP2Ued/qxvmje7UH9PUJBkRrvf9gGPL7Cps=', 'django-pbkdf2-sha256'),
    f('django-made-here', pw('django'), `pbkdf2_sha256$30000$${salt.toString('hex')}$${pbkdf2Sync(pw('django'), salt.toString('hex'), 30000, 32, 'sha256').toString('base64')}`, 'django-pbkdf2-sha256'),
    f('firebase-scrypt', 'user1password', FIREBASE_VECTOR, 'firebase-scrypt'),
  ]
}

export function fixtureRecord(fx: LegacyFixture): Record<string, unknown> {
  return { email: fx.email, email_verified: true, created_at: '2021-06-01T12:00:00Z', external_id: `legacy|${fx.name}`, password_hash: fx.passwordHash }
}

/** The audit origin of imports run by tests. */
export const NO_ORIGIN = { ip: null, userAgent: null, requestId: null }

export const ndjson = (records: unknown[]) => records.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n'

/** Runs the streaming import over `text`, collecting rejections. */
export async function importText(
  store: UserTransferStore,
  text: string,
  options: { onConflict?: OnConflict; dryRun?: boolean; format?: ImportFormat; batchSize?: number; now?: number } = {},
): Promise<{ report: ImportReport; rejects: Rejection[] }> {
  const rejects: Rejection[] = []
  const report = await importUsers({
    input: Readable.from([Buffer.from(text)]),
    format: options.format ?? 'ndjson',
    store,
    options: { onConflict: options.onConflict ?? 'skip', dryRun: options.dryRun ?? false, now: options.now ?? Date.parse('2026-01-01T00:00:00Z'), audit: NO_ORIGIN },
    onReject: (r) => void rejects.push(r),
    ...(options.batchSize !== undefined && { batchSize: options.batchSize }),
  })
  return { report, rejects }
}
