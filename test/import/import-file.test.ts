import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/store.ts'
import { MAX_LINE_BYTES } from '../../src/transfer/record-sources.ts'
import { exportUsers } from '../../src/transfer/export-users.ts'
import { FIREBASE_VECTOR, importText, ndjson, NO_ORIGIN } from './fixtures.ts'

const BCRYPT = '$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a'
const NOW = Date.parse('2026-01-01T00:00:00Z')

describe('importing a file of users', () => {
  let store: Store
  beforeEach(() => {
    store = createSqliteStore({ path: ':memory:' })
  })
  afterEach(() => store.close())

  const emails = async () => (await store.listUsers({ limit: 100 })).map((u) => u.email)

  it('reports each malformed line with its number and reason, and imports every other line', async () => {
    const text = ndjson([
      { email: 'one@example.com', password_hash: BCRYPT },
      '{"email": "broken@example.com", ',
      '',
      { email: 'not an email' },
      { email: 'two@example.com', password_hash: '$md5$abc$def' },
      { email: 'ONE@example.com ' },
      { email: 'three@example.com', created_at: 'yesterday' },
      ['an', 'array'],
      { email: 'four@example.com', password_hash: { ...FIREBASE_VECTOR, signer_key: undefined } },
      { email: 'five@example.com', email_verified: 'maybe' },
      { email: 'six@example.com', password_hash: '$2b$04$short' },
      'x'.repeat(MAX_LINE_BYTES + 10),
      { email: 'seven@example.com' },
    ])
    const { report, rejects } = await importText(store.userTransfer, text, { batchSize: 3 })
    // Duplicates are found when their batch is written, after the lines refused on sight.
    expect(rejects.map((r) => [r.line, r.code]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual([
      [2, 'invalid_json'],
      [4, 'invalid_email'],
      [5, 'unknown_hash_format'],
      [6, 'duplicate_in_file'],
      [7, 'invalid_record'],
      [8, 'invalid_record'],
      [9, 'unknown_hash_format'],
      [10, 'invalid_record'],
      [11, 'unknown_hash_format'],
      [12, 'invalid_json'],
    ])
    expect(rejects.find((r) => r.line === 6)?.reason).toContain('line 1')
    expect(rejects.find((r) => r.line === 9)?.reason).toContain('signer_key')
    expect(report).toMatchObject({ read: 12, imported: 2, rejected: 10, skipped: 0 })
    expect(await emails()).toEqual(['one@example.com', 'seven@example.com'])
  })

  it('changes nothing when the same file is imported again, under skip and under update', async () => {
    const text = ndjson([
      { email: 'a@example.com', email_verified: true, created_at: '2020-05-06T07:08:09.123Z', external_id: 'x|1', password_hash: BCRYPT },
      { email: 'b@example.com', disabled: true },
      { email: 'a@example.com' },
    ])
    const first = await importText(store.userTransfer, text)
    expect(first.report).toMatchObject({ imported: 2, rejected: 1 })
    const snapshot = JSON.stringify(await store.listUsers({ limit: 10 }))

    const skip = await importText(store.userTransfer, text, { now: NOW + 1000 })
    expect(skip.report).toMatchObject({ imported: 0, skipped: 2, rejected: 1 })
    const update = await importText(store.userTransfer, text, { onConflict: 'update', now: NOW + 2000 })
    expect(update.report).toMatchObject({ imported: 0, updated: 0, unchanged: 2, rejected: 1 })
    expect(JSON.stringify(await store.listUsers({ limit: 10 }))).toBe(snapshot)

    const a = (await store.findUserByEmail('a@example.com'))!
    expect(a).toMatchObject({ emailVerified: true, createdAt: Date.parse('2020-05-06T07:08:09.123Z'), passwordHash: BCRYPT })
    expect((await store.findUserByEmail('b@example.com'))!.disabledAt).toBe(NOW)
  })

  it('update changes only what the file says, and keeps a password upgraded since the last import of the same hash', async () => {
    await importText(store.userTransfer, ndjson([{ email: 'a@example.com', external_id: 'old', password_hash: BCRYPT }]))
    const user = (await store.findUserByEmail('a@example.com'))!
    await store.updatePasswordHash(user.id, '$argon2id$v=19$m=8192,p=1,t=1$upgraded')

    const same = await importText(store.userTransfer, ndjson([{ email: 'a@example.com', external_id: 'new', disabled: true, password_hash: BCRYPT }]), { onConflict: 'update' })
    expect(same.report).toMatchObject({ updated: 1 })
    const after = (await store.findUserByEmail('a@example.com'))!
    expect(after.passwordHash).toBe('$argon2id$v=19$m=8192,p=1,t=1$upgraded')
    expect(after.disabledAt).toBe(NOW)
    expect(after.emailVerified).toBe(false)
    const exported: string[] = []
    await exportUsers(store.userTransfer, { write: (s: string) => exported.push(s) } as never, false)
    expect(JSON.parse(exported[0]!)).toMatchObject({ external_id: 'new', disabled: true })

    const other = '$2b$04$CrHgmS1s4tTxQoiBp0iiM.aiX2Z.LAZThJ0vhKCugoS50iRM23/ne'
    await importText(store.userTransfer, ndjson([{ email: 'a@example.com', password_hash: other, disabled: false }]), { onConflict: 'update' })
    expect((await store.findUserByEmail('a@example.com'))!).toMatchObject({ passwordHash: other, disabledAt: null })
  })

  it('fail stops at the first existing email, rolls back that batch only, and a dry run writes nothing', async () => {
    await importText(store.userTransfer, ndjson([{ email: 'taken@example.com' }]))
    const dry = await importText(store.userTransfer, ndjson([{ email: 'new1@example.com' }, { email: 'taken@example.com' }, { email: 'new2@example.com' }]), { dryRun: true, onConflict: 'fail' })
    expect(dry.report).toMatchObject({ imported: 2, rejected: 1, stoppedAtLine: null, dryRun: true })
    expect(dry.rejects).toEqual([expect.objectContaining({ line: 2, code: 'email_exists' })])
    expect(await emails()).toEqual(['taken@example.com'])

    const text = ndjson([{ email: 'new1@example.com' }, { email: 'new2@example.com' }, { email: 'new3@example.com' }, { email: 'taken@example.com' }, { email: 'new4@example.com' }])
    const failed = await importText(store.userTransfer, text, { onConflict: 'fail', batchSize: 2 })
    expect(failed.report).toMatchObject({ imported: 2, stoppedAtLine: 4 })
    expect(failed.rejects).toEqual([expect.objectContaining({ line: 4, code: 'email_exists' })])
    expect(await emails()).toEqual(['new1@example.com', 'new2@example.com', 'taken@example.com'])
  })

  it('reads CSV with the same column names, reporting malformed rows by line', async () => {
    const firebase = JSON.stringify(FIREBASE_VECTOR).replaceAll('"', '""')
    const csv = [
      'email,email_verified,created_at,disabled,external_id,password_hash',
      `csv1@example.com,true,2021-01-01T00:00:00Z,false,ext-1,${BCRYPT}`,
      `csv2@example.com,,,,,"${firebase}"`,
      'csv3@example.com,true',
      'csv4@example.com,false,,,,',
      'bad-email,false,,,,',
      'csv5@example.com,yes,,,,',
    ].join('\n')
    const { report, rejects } = await importText(store.userTransfer, csv, { format: 'csv' })
    expect(rejects.map((r) => [r.line, r.code])).toEqual([[4, 'invalid_csv'], [6, 'invalid_email'], [7, 'invalid_record']])
    expect(report).toMatchObject({ imported: 3, rejected: 3 })
    expect(await emails()).toEqual(['csv1@example.com', 'csv2@example.com', 'csv4@example.com'])
    expect((await store.findUserByEmail('csv1@example.com'))!).toMatchObject({ emailVerified: true, passwordHash: BCRYPT, createdAt: Date.parse('2021-01-01T00:00:00Z') })
    expect((await store.findUserByEmail('csv2@example.com'))!.passwordHash).toMatch(/^\$firebase-scrypt\$ln=14,r=8,/)
  })

  it('reads a file arriving in small chunks, lines split anywhere', async () => {
    const text = ndjson(Array.from({ length: 50 }, (_, i) => ({ email: `chunk${i}@example.com`, password_hash: BCRYPT })))
    const chunks = Array.from({ length: Math.ceil(text.length / 7) }, (_, i) => Buffer.from(text.slice(i * 7, i * 7 + 7)))
    const rejects: unknown[] = []
    const { importUsers } = await import('../../src/transfer/import-users.ts')
    const report = await importUsers({
      input: Readable.from(chunks),
      format: 'ndjson',
      store: store.userTransfer,
      options: { onConflict: 'skip', dryRun: false, now: NOW, audit: NO_ORIGIN },
      onReject: (r) => void rejects.push(r),
      batchSize: 8,
    })
    expect(rejects).toEqual([])
    expect(report.imported).toBe(50)
  })
})
