import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { NewAuditEvent, Store } from '../../src/store/store.ts'
import type { ImportOptions, ImportUser } from '../../src/store/user-transfer.ts'

/** Conformance of bulk import/export and the sign-in rehash: every adapter runs exactly these tests. */
export function runUserTransferConformance(
  name: string,
  makeStore: () => Promise<Store>,
  dispose: (store: Store) => Promise<void> = (s) => s.close(),
): void {
  describe(`user transfer conformance: ${name}`, () => {
    let store: Store
    const NOW = 1_700_000_000_000
    beforeEach(async () => {
      store = await makeStore()
    })
    afterEach(async () => {
      await dispose(store)
    })

    let line = 0
    const user = (email: string, over: Partial<ImportUser> = {}): ImportUser => ({
      line: ++line, id: randomUUID(), email, emailVerified: null, createdAt: null, disabled: null, externalId: null, passwordHash: null, ...over,
    })
    const ORIGIN = { ip: null, userAgent: 'latchkey-cli', requestId: null }
    const opts = (over: Partial<ImportOptions> = {}): ImportOptions => ({ onConflict: 'skip', dryRun: false, now: NOW, audit: ORIGIN, ...over })
    async function once(users: ImportUser[], over: Partial<ImportOptions> = {}) {
      const session = await store.userTransfer.beginImport(opts(over))
      try {
        return await session.writeBatch(users)
      } finally {
        await session.close()
      }
    }
    const outcomes = (list: Array<{ outcome: string }>) => list.map((o) => o.outcome)

    it('creates accounts with the given fields and defaults for absent ones, and exports them in email order, page by page', async () => {
      const result = await once([
        user('b@example.com', { emailVerified: true, createdAt: 1_600_000_000_000, disabled: true, externalId: 'ext-b', passwordHash: '$2b$hash' }),
        user('a@example.com'),
        user('c@example.com'),
      ])
      expect(outcomes(result)).toEqual(['imported', 'imported', 'imported'])
      expect(await store.findUserByEmail('b@example.com')).toMatchObject({ emailVerified: true, createdAt: 1_600_000_000_000, disabledAt: NOW, passwordHash: '$2b$hash', scope: 'user' })
      expect(await store.findUserByEmail('a@example.com')).toMatchObject({ emailVerified: false, createdAt: NOW, disabledAt: null, passwordHash: '' })

      const first = await store.userTransfer.exportUsers(null, 2)
      expect(first.map((u) => u.email)).toEqual(['a@example.com', 'b@example.com'])
      expect(first[1]).toEqual({ email: 'b@example.com', emailVerified: true, createdAt: 1_600_000_000_000, disabled: true, externalId: 'ext-b', passwordHash: '$2b$hash' })
      const second = await store.userTransfer.exportUsers('b@example.com', 2)
      expect(second.map((u) => u.email)).toEqual(['c@example.com'])
    })

    it('reports an email seen earlier in the same import as a duplicate, within a batch and across batches, naming the first line', async () => {
      const session = await store.userTransfer.beginImport(opts())
      try {
        const a = user('a@example.com')
        const first = await session.writeBatch([a, user('b@example.com'), user('a@example.com')])
        expect(first[2]).toEqual({ outcome: 'duplicate', firstLine: a.line })
        const second = await session.writeBatch([user('b@example.com'), user('c@example.com')])
        expect(second[0]).toMatchObject({ outcome: 'duplicate' })
        expect(second[1]).toEqual({ outcome: 'imported' })
      } finally {
        await session.close()
      }
      // A new import starts with no emails seen.
      expect(outcomes(await once([user('a@example.com')]))).toEqual(['skipped'])
    })

    it('skip leaves an existing account alone; update changes only the given fields and reports an identical record unchanged', async () => {
      await once([user('a@example.com', { externalId: 'one', passwordHash: '$2b$first' })])
      const before = await store.findUserByEmail('a@example.com')
      expect(outcomes(await once([user('a@example.com', { externalId: 'two', emailVerified: true })]))).toEqual(['skipped'])
      expect(await store.findUserByEmail('a@example.com')).toEqual(before)

      expect(outcomes(await once([user('a@example.com', { externalId: 'one', passwordHash: '$2b$first' })], { onConflict: 'update' }))).toEqual(['unchanged'])
      // The same imported hash does not overwrite a password upgraded since.
      await store.updatePasswordHash(before!.id, '$argon2id$upgraded')
      expect(outcomes(await once([user('a@example.com', { emailVerified: true, passwordHash: '$2b$first' })], { onConflict: 'update' }))).toEqual(['updated'])
      expect(await store.findUserByEmail('a@example.com')).toMatchObject({ emailVerified: true, passwordHash: '$argon2id$upgraded', createdAt: before!.createdAt })
      expect(outcomes(await once([user('a@example.com', { passwordHash: '$2b$second', disabled: true })], { onConflict: 'update', now: NOW + 5 }))).toEqual(['updated'])
      expect(await store.findUserByEmail('a@example.com')).toMatchObject({ passwordHash: '$2b$second', disabledAt: NOW + 5 })
      const [exported] = await store.userTransfer.exportUsers(null, 10)
      expect(exported?.externalId).toBe('one')
    })

    const liveSession = async (userId: string, at = NOW) => {
      const id = randomUUID()
      await store.createSession({ id, userId, createdAt: at, idleExpiresAt: at + 3_600_000, absoluteExpiresAt: at + 7_200_000, userAgent: null, ip: null, tokenHash: randomUUID() })
      return id
    }

    it('update names each existing account a record disables, changed or not, so its sessions can end', async () => {
      await once([user('on@example.com'), user('off@example.com', { disabled: true }), user('other@example.com')])
      const on = await store.findUserByEmail('on@example.com')
      const off = await store.findUserByEmail('off@example.com')
      const result = await once([
        user('on@example.com', { disabled: true }),
        user('off@example.com', { disabled: true }),
        user('other@example.com', { externalId: 'x' }),
        user('new@example.com', { disabled: true }),
      ], { onConflict: 'update', now: NOW + 7 })
      expect(result).toEqual([
        { outcome: 'updated', disables: { userId: on!.id } },
        { outcome: 'unchanged', disables: { userId: off!.id } },
        { outcome: 'updated' },
        { outcome: 'imported' },
      ])
      expect(await store.findUserByEmail('on@example.com')).toMatchObject({ disabledAt: NOW + 7 })
      // skip and dry runs disable nothing, so they name nothing.
      expect(await once([user('other@example.com', { disabled: true })])).toEqual([{ outcome: 'skipped' }])
      expect(await once([user('other@example.com', { disabled: true })], { onConflict: 'update', dryRun: true })).toEqual([{ outcome: 'skipped' }])
    })

    it('update disables an account, revokes its live sessions and appends its events in the batch, only when this write disabled it', async () => {
      await once([user('on@example.com'), user('off@example.com', { disabled: true }), user('bystander@example.com')])
      const on = (await store.findUserByEmail('on@example.com'))!
      const off = (await store.findUserByEmail('off@example.com'))!
      const bystander = (await store.findUserByEmail('bystander@example.com'))!
      const phone = await liveSession(on.id)
      const laptop = await liveSession(on.id)
      const leftover = await liveSession(off.id)
      const other = await liveSession(bystander.id)
      const events = async () => (await store.listAudit({ limit: 20 })).filter((e) => e.type === 'account_disabled' || e.type === 'session_revoked')
      const batch = () => [
        user('on@example.com', { disabled: true }),
        user('off@example.com', { disabled: true }),
        user('bystander@example.com', { externalId: 'x' }),
      ]
      const session = await store.userTransfer.beginImport(opts({ onConflict: 'update', now: NOW + 3 }))
      try {
        expect(outcomes(await session.writeBatch(batch()))).toEqual(['updated', 'unchanged', 'updated'])
        // Written by the store with the batch: there before the caller does anything else.
        expect(await store.listActiveSessions(on.id, NOW + 3)).toEqual([])
        for (const id of [phone, laptop]) expect(await store.findSession(id)).toMatchObject({ revokedAt: NOW + 3, revokeReason: 'account_disabled' })
        const event = { at: NOW + 3, userId: on.id, actorId: null, ...ORIGIN }
        const written = await events()
        expect(written).toHaveLength(3)
        expect(written).toEqual(expect.arrayContaining([
          expect.objectContaining({ ...event, type: 'session_revoked', sessionId: phone, details: { reason: 'account_disabled' } }),
          expect.objectContaining({ ...event, type: 'session_revoked', sessionId: laptop, details: { reason: 'account_disabled' } }),
          expect.objectContaining({ ...event, type: 'account_disabled', sessionId: null, details: { via: 'import', revoked_sessions: 2 } }),
        ]))
      } finally {
        await session.close()
      }
      expect(await store.findUserByEmail('on@example.com')).toMatchObject({ disabledAt: NOW + 3 })
      // The account this write found disabled, and the bystander, are the caller's to sweep: untouched here.
      expect(await store.findSession(leftover)).toMatchObject({ revokedAt: null })
      expect(await store.findSession(other)).toMatchObject({ revokedAt: null })
      // A re-run changes nothing and appends nothing; skip and dry runs disable nothing.
      expect(outcomes(await once(batch(), { onConflict: 'update', now: NOW + 4 }))).toEqual(['unchanged', 'unchanged', 'unchanged'])
      expect(outcomes(await once([user('bystander@example.com', { disabled: true })]))).toEqual(['skipped'])
      expect(outcomes(await once([user('bystander@example.com', { disabled: true })], { onConflict: 'update', dryRun: true }))).toEqual(['skipped'])
      expect(await store.findUserByEmail('bystander@example.com')).toMatchObject({ disabledAt: null })
      expect(await events()).toHaveLength(3)
    })

    it('an import that disables an account with no live session audits account_disabled with revoked_sessions 0', async () => {
      await once([user('quiet@example.com')])
      const quiet = (await store.findUserByEmail('quiet@example.com'))!
      expect(outcomes(await once([user('quiet@example.com', { disabled: true })], { onConflict: 'update' }))).toEqual(['updated'])
      expect(await store.listAudit({ type: 'account_disabled', limit: 10 })).toEqual([
        expect.objectContaining({ userId: quiet.id, details: { via: 'import', revoked_sessions: 0 } }),
      ])
      expect(await store.listAudit({ type: 'session_revoked', limit: 10 })).toEqual([])
    })

    it('of racing disables (imports and the store\'s own), exactly one audits account_disabled', async () => {
      await once([user('raced@example.com')])
      const raced = (await store.findUserByEmail('raced@example.com'))!
      await liveSession(raced.id)
      const results = await Promise.all([
        ...Array.from({ length: 3 }, (_, i) => once([user('raced@example.com', { disabled: true })], { onConflict: 'update', now: NOW + 10 + i })),
        ...Array.from({ length: 3 }, (_, i) => store.setUserDisabled(raced.id, NOW + 20 + i)),
      ])
      const byImport = await store.listAudit({ type: 'account_disabled', limit: 10 })
      const byStore = results.filter((r) => !Array.isArray(r) && r?.changed)
      expect(byImport.length + byStore.length).toBe(1)
      // An import that won revoked the session in its batch; one that lost left it to its caller's sweep.
      expect(await store.listAudit({ type: 'session_revoked', limit: 10 })).toHaveLength(byImport.length)
    })

    it('a batch that fails after disabling an account keeps neither the disable, the revocations nor their events', async () => {
      await once([user('on@example.com'), user('taken@example.com')])
      const on = (await store.findUserByEmail('on@example.com'))!
      const taken = (await store.findUserByEmail('taken@example.com'))!
      const phone = await liveSession(on.id)
      // A new email with an id already in use: the insert fails and the batch's transaction rolls back.
      // (PostgreSQL inserts a batch's new accounts before it updates: postgres.test.ts fails an event instead.)
      const failing = [user('on@example.com', { disabled: true }), user('new@example.com', { id: taken.id })]
      await expect(once(failing, { onConflict: 'update' })).rejects.toThrow()
      expect(await store.findUserByEmail('on@example.com')).toMatchObject({ disabledAt: null })
      expect(await store.findSession(phone)).toMatchObject({ revokedAt: null })
      expect(await store.listAudit({ type: 'account_disabled', limit: 10 })).toEqual([])
      expect(await store.listAudit({ type: 'session_revoked', limit: 10 })).toEqual([])
    })

    it('update re-enables a disabled account and appends its account_enabled event in the batch, only when this write enabled it', async () => {
      await once([user('off@example.com', { disabled: true }), user('on@example.com'), user('also-off@example.com', { disabled: true })])
      const off = await store.findUserByEmail('off@example.com')
      const enabledEvents = () => store.listAudit({ type: 'account_enabled', limit: 10 })
      const batch = () => [
        user('off@example.com', { disabled: false }),
        user('on@example.com', { disabled: false }),
        user('also-off@example.com', { externalId: 'x' }),
      ]
      const session = await store.userTransfer.beginImport(opts({ onConflict: 'update', now: NOW + 3 }))
      try {
        expect(outcomes(await session.writeBatch(batch()))).toEqual(['updated', 'unchanged', 'updated'])
        // Written by the store with the batch: there before the caller does anything else.
        expect(await enabledEvents()).toEqual([expect.objectContaining({
          type: 'account_enabled', at: NOW + 3, userId: off!.id, actorId: null, sessionId: null, ...ORIGIN, details: { via: 'import' },
        })])
      } finally {
        await session.close()
      }
      expect(await store.findUserByEmail('off@example.com')).toMatchObject({ disabledAt: null })
      expect(await store.findUserByEmail('also-off@example.com')).toMatchObject({ disabledAt: NOW })
      // A re-run changes nothing and appends nothing; skip and dry runs enable nothing.
      expect(outcomes(await once(batch(), { onConflict: 'update' }))).toEqual(['unchanged', 'unchanged', 'unchanged'])
      expect(outcomes(await once([user('also-off@example.com', { disabled: false })]))).toEqual(['skipped'])
      expect(outcomes(await once([user('also-off@example.com', { disabled: false })], { onConflict: 'update', dryRun: true }))).toEqual(['skipped'])
      expect(await store.findUserByEmail('also-off@example.com')).toMatchObject({ disabledAt: NOW })
      expect(await enabledEvents()).toHaveLength(1)
    })

    it('a batch that fails after re-enabling an account keeps neither the enable nor its event', async () => {
      await once([user('off@example.com', { disabled: true }), user('taken@example.com')])
      const taken = await store.findUserByEmail('taken@example.com')
      // A new email with an id already in use: the insert fails and the batch's transaction rolls back.
      const failing = [user('off@example.com', { disabled: false }), user('new@example.com', { id: taken!.id })]
      await expect(once(failing, { onConflict: 'update' })).rejects.toThrow()
      expect(await store.findUserByEmail('off@example.com')).toMatchObject({ disabledAt: NOW })
      expect(await store.listAudit({ type: 'account_enabled', limit: 10 })).toEqual([])
    })

    it('fail rolls back the whole batch at the first existing email and reports up to it', async () => {
      await once([user('taken@example.com')])
      const result = await once([user('new1@example.com'), user('taken@example.com'), user('new2@example.com')], { onConflict: 'fail' })
      expect(result.at(-1)).toEqual({ outcome: 'conflict' })
      expect(result.length).toBeLessThanOrEqual(2)
      expect(await store.findUserByEmail('new1@example.com')).toBeNull()
      expect(await store.findUserByEmail('new2@example.com')).toBeNull()
    })

    it('a dry run writes no account and classifies every record', async () => {
      await once([user('taken@example.com')])
      const result = await once([user('new@example.com'), user('taken@example.com'), user('new@example.com')], { dryRun: true, onConflict: 'fail' })
      expect(outcomes(result)).toEqual(['imported', 'conflict', 'duplicate'])
      const skip = await once([user('taken@example.com')], { dryRun: true })
      expect(outcomes(skip)).toEqual(['skipped'])
      expect((await store.listUsers({ limit: 10 })).map((u) => u.email)).toEqual(['taken@example.com'])
    })

    it('a session created with a rehash replaces the hash and appends its event, unless the hash changed meanwhile', async () => {
      await once([user('r@example.com', { passwordHash: '$2b$legacy' })])
      const u = (await store.findUserByEmail('r@example.com'))!
      const event = (sessionId: string): NewAuditEvent => ({
        type: 'password_rehashed', at: NOW, userId: u.id, actorId: u.id, sessionId, ip: null, userAgent: null, requestId: null, details: { from: 'bcrypt' },
      })
      const session = (id: string, previousHash: string, passwordHash: string) => ({
        id, userId: u.id, createdAt: NOW, idleExpiresAt: NOW + 1000, absoluteExpiresAt: NOW + 2000, userAgent: null, ip: null, tokenHash: randomUUID(),
        rehash: { previousHash, passwordHash, audit: event(id) },
      })
      const first = randomUUID()
      await store.createSession(session(first, '$2b$legacy', '$argon2id$new'))
      expect((await store.findUserByEmail('r@example.com'))!.passwordHash).toBe('$argon2id$new')
      // A stale upgrade (the password changed since it was read) is dropped; the session still starts.
      const second = randomUUID()
      await store.createSession(session(second, '$2b$legacy', '$argon2id$stale'))
      expect((await store.findUserByEmail('r@example.com'))!.passwordHash).toBe('$argon2id$new')
      expect(await store.findSession(second)).not.toBeNull()
      const events = await store.listAudit({ type: 'password_rehashed', limit: 10 })
      expect(events.map((e) => e.sessionId)).toEqual([first])
    })
  })
}
