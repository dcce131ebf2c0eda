import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { NewOutboxMessage } from '../../src/store/outbox.ts'
import type { PurgeInput, PurgeKind } from '../../src/store/retention.ts'
import type { NewSession, Store } from '../../src/store/store.ts'

/** Conformance of retention (retention.ts): every adapter runs exactly these tests, with a fixed clock. */
export function runRetentionConformance(
  name: string,
  makeStore: () => Promise<Store>,
  dispose: (store: Store) => Promise<void> = (s) => s.close(),
): void {
  describe(`retention conformance: ${name}`, () => {
    let store: Store
    const T0 = 1_700_000_000_000
    const DAY = 86_400_000
    // "Now" is day 130 and the retention 30 days: what ended before day 100 goes.
    const NOW = T0 + 130 * DAY
    const CUT = T0 + 100 * DAY
    const FAR = T0 + 1000 * DAY

    beforeEach(async () => {
      store = await makeStore()
    })
    afterEach(async () => {
      await dispose(store)
    })

    const input = (over: Partial<PurgeInput> = {}): PurgeInput => ({
      sessionsEndedBefore: CUT,
      challengesExpiredBefore: CUT,
      oneTimeTokensExpiredBefore: CUT,
      mailSentBefore: CUT,
      mailExpiredBefore: CUT,
      batchSize: 1000,
      ...over,
    })

    async function user(): Promise<string> {
      const id = randomUUID()
      await store.createUser({ id, email: `${id}@example.com`, passwordHash: 'x', scope: 'user', createdAt: T0 })
      return id
    }

    async function session(userId: string, over: Partial<NewSession> = {}): Promise<NewSession> {
      const s: NewSession = { id: randomUUID(), userId, createdAt: T0, idleExpiresAt: FAR, absoluteExpiresAt: FAR, userAgent: null, ip: null, tokenHash: randomUUID(), ...over }
      await store.createSession(s)
      return s
    }

    /** Rotates `times` times from the session's first token; returns every hash, oldest first (the last is live). */
    async function rotate(first: string, times: number, at = T0 + 1000): Promise<string[]> {
      const hashes = [first]
      for (let i = 0; i < times; i++) {
        const next = randomUUID()
        const result = await store.rotateRefreshToken({ tokenHash: hashes[i]!, newTokenHash: next, newTokenSealed: 's', now: at + i, graceMs: 0, idleMs: 500 * DAY })
        expect(result.outcome).toBe('rotated')
        hashes.push(next)
      }
      return hashes
    }

    it('purges sessions that ended before the cut-off with every token, keeps the rest, and reuse of a live session\'s rotated token is still detected', async () => {
      const u = await user()
      const revokedOld = await session(u)
      const revokedOldTokens = await rotate(revokedOld.tokenHash, 2)
      await store.revokeSession(revokedOld.id, 'logout', T0 + DAY)
      const idleOld = await session(u, { idleExpiresAt: T0 + 10 * DAY, absoluteExpiresAt: T0 + 90 * DAY })
      // The earlier expiry counts, whichever column holds it.
      const absoluteOld = await session(u, { idleExpiresAt: T0 + 200 * DAY, absoluteExpiresAt: T0 + 50 * DAY })
      const revokedRecent = await session(u)
      await store.revokeSession(revokedRecent.id, 'logout', CUT + 1)
      const endedAtCut = await session(u, { idleExpiresAt: CUT, absoluteExpiresAt: CUT })
      const live = await session(u)
      const liveTokens = await rotate(live.tokenHash, 3)
      await store.appendAudit({ type: 'logout', at: T0 + DAY, userId: u, actorId: u, sessionId: revokedOld.id, ip: null, userAgent: null, requestId: 'r-1', details: {} })

      const result = await store.retention.purge(input())
      expect(result.ran).toBe(true)
      expect(result.counts).toEqual({ refresh_tokens: 5, sessions: 3, mfa_challenges: 0, webauthn_challenges: 0, one_time_tokens: 0, outbox_messages: 0 })

      for (const s of [revokedOld, idleOld, absoluteOld]) expect(await store.findSession(s.id)).toBeNull()
      for (const hash of [...revokedOldTokens, idleOld.tokenHash, absoluteOld.tokenHash]) expect(await store.findSessionByTokenHash(hash)).toBeNull()
      for (const s of [revokedRecent, endedAtCut, live]) expect(await store.findSession(s.id)).not.toBeNull()
      for (const hash of liveTokens) expect((await store.findSessionByTokenHash(hash))?.id).toBe(live.id)
      // Audit events are not retention's: the purged session's stays.
      expect((await store.listAudit({ type: 'logout', limit: 10 })).map((e) => e.sessionId)).toEqual([revokedOld.id])

      // The live session's first, long-rotated token is still recognised: reuse revokes the session, audited.
      const reuse = await store.rotateRefreshToken({
        tokenHash: liveTokens[0]!, newTokenHash: randomUUID(), newTokenSealed: 's', now: NOW, graceMs: 10_000, idleMs: 500 * DAY,
        audit: { ip: '203.0.113.9', userAgent: null, requestId: 'r-reuse' },
      })
      expect(reuse.outcome).toBe('reused')
      expect((await store.findSession(live.id))?.revokeReason).toBe('refresh_token_reused')
      expect((await store.listAudit({ type: 'refresh_reuse_detected', limit: 10 })).map((e) => e.sessionId)).toEqual([live.id])

      // A second run finds nothing more.
      expect((await store.retention.purge(input())).counts.sessions).toBe(0)
    })

    it('deletes in batches of at most batchSize until done: 2,500 ended sessions and a session of 1,200 tokens', async () => {
      const u = await user()
      const ended = { idleExpiresAt: T0 + DAY, absoluteExpiresAt: T0 + DAY }
      for (let i = 0; i < 2500; i += 250) {
        await Promise.all(Array.from({ length: 250 }, () => session(u, ended)))
      }
      const long = await session(u, { absoluteExpiresAt: T0 + 2 * DAY, idleExpiresAt: T0 + 2 * DAY })
      await rotate(long.tokenHash, 1199)
      await store.revokeSession(long.id, 'logout', T0 + 3 * DAY)
      const live = await session(u)

      const batches: Array<[PurgeKind, number]> = []
      const result = await store.retention.purge(input({ onBatch: (kind, rows) => batches.push([kind, rows]) }))
      expect(result.counts.sessions).toBe(2501)
      expect(result.counts.refresh_tokens).toBe(2500 + 1200)
      expect(Math.max(...batches.map(([, rows]) => rows))).toBeLessThanOrEqual(1000)
      expect(batches.filter(([kind]) => kind === 'sessions').length).toBeGreaterThanOrEqual(3)
      expect(batches.filter(([kind]) => kind === 'refresh_tokens').length).toBeGreaterThanOrEqual(4)
      expect(await store.countActiveSessions(NOW)).toBe(1)
      expect(await store.findSession(live.id)).not.toBeNull()
      expect(await store.findSessionByTokenHash(long.tokenHash)).toBeNull()
    })

    it('stops between batches when aborted; the next run finishes the job', async () => {
      const u = await user()
      const ended = { idleExpiresAt: T0 + DAY, absoluteExpiresAt: T0 + DAY }
      await Promise.all(Array.from({ length: 30 }, () => session(u, ended)))
      const controller = new AbortController()
      const first = await store.retention.purge(input({ batchSize: 10, signal: controller.signal, onBatch: () => controller.abort() }))
      expect(first.counts.refresh_tokens).toBe(10)
      expect(first.counts.sessions).toBe(0)
      const second = await store.retention.purge(input({ batchSize: 10 }))
      expect(second.counts).toMatchObject({ refresh_tokens: 20, sessions: 30 })
    })

    it('deletes challenges and link tokens that expired before the cut-off, and mail that was sent or can no longer be sent; never mail that can still go', async () => {
      const u = await user()
      const other = await user()
      await store.factors.createChallenge({ hash: 'mfa-old', userId: u, createdAt: T0, expiresAt: CUT - 1 })
      await store.factors.createChallenge({ hash: 'mfa-new', userId: u, createdAt: T0, expiresAt: CUT })
      // Used or locked makes no difference: expired before the cut-off, they go too.
      await store.factors.createChallenge({ hash: 'mfa-used', userId: u, createdAt: T0, expiresAt: CUT - 1 })
      expect(await store.factors.consumeChallenge('mfa-used', T0 + 1)).toBe(true)
      await store.factors.createChallenge({ hash: 'mfa-locked', userId: u, createdAt: T0, expiresAt: CUT - 1 })
      expect(await store.factors.recordChallengeFailure('mfa-locked', T0 + 1, 1)).toEqual({ failures: 1, locked: true })
      await store.passkeys.issueChallenge({ hash: 'wa-old', purpose: 'login', userId: null, createdAt: T0, expiresAt: CUT - 1 })
      await store.passkeys.issueChallenge({ hash: 'wa-new', purpose: 'register', userId: u, createdAt: T0, expiresAt: CUT + 1 })
      await store.oneTimeTokens.issue({ token: { hash: 'ott-old', purpose: 'reset_password', userId: u, email: 'a@example.com', createdAt: T0, expiresAt: CUT - 1 }, messages: [] })
      await store.oneTimeTokens.issue({ token: { hash: 'ott-new', purpose: 'verify_email', userId: u, email: 'a@example.com', createdAt: T0, expiresAt: CUT + 1 }, messages: [] })
      // Used, but not yet past its expiry: kept, so a second click still hears "already used".
      await store.oneTimeTokens.issue({ token: { hash: 'ott-used', purpose: 'verify_email', userId: other, email: `${other}@example.com`, createdAt: T0, expiresAt: CUT + 1 }, messages: [] })
      expect((await store.oneTimeTokens.consume({ hash: 'ott-used', purposes: ['verify_email'], now: T0 + 1 })).outcome).toBe('consumed')

      const message = (id: string, createdAt: number, expiresAt: number): NewOutboxMessage => ({ id, template: 'password_changed', recipient: 'a@example.com', data: { email: 'a@example.com' }, createdAt, expiresAt })
      await store.outbox.enqueue([
        message('sent-old', T0, FAR), message('sent-new', T0 + 1, FAR), message('failed-old', T0 + 2, CUT - 1), message('failed-live', T0 + 3, FAR),
        message('pending-old', T0 + 10, CUT - 1), message('pending-live', T0 + 10, FAR),
      ])
      const claimId = randomUUID()
      expect(await store.outbox.claim({ now: T0 + 5, limit: 4, leaseMs: 1000, claimId })).toHaveLength(4)
      await store.outbox.markSent('sent-old', claimId, CUT - 1)
      await store.outbox.markSent('sent-new', claimId, CUT)
      await store.outbox.markFailed('failed-old', claimId, { now: T0 + 6, error: 'refused', retryAt: null })
      await store.outbox.markFailed('failed-live', claimId, { now: T0 + 6, error: 'refused', retryAt: null })

      const result = await store.retention.purge(input())
      expect(result.counts).toEqual({ refresh_tokens: 0, sessions: 0, mfa_challenges: 3, webauthn_challenges: 1, one_time_tokens: 1, outbox_messages: 3 })
      for (const hash of ['mfa-old', 'mfa-used', 'mfa-locked']) expect(await store.factors.findChallenge(hash)).toBeNull()
      expect(await store.factors.findChallenge('mfa-new')).not.toBeNull()
      expect((await store.passkeys.consumeChallenge({ hash: 'wa-old', purpose: 'login', now: T0 })).outcome).toBe('unknown')
      expect((await store.passkeys.consumeChallenge({ hash: 'wa-new', purpose: 'register', now: T0 })).outcome).toBe('consumed')
      expect((await store.oneTimeTokens.consume({ hash: 'ott-old', purposes: ['reset_password'], now: T0, newPasswordHash: 'y' })).outcome).toBe('unknown')
      expect((await store.oneTimeTokens.consume({ hash: 'ott-used', purposes: ['verify_email'], now: T0 + 2 })).outcome).toBe('used')
      expect((await store.oneTimeTokens.consume({ hash: 'ott-new', purposes: ['verify_email'], now: T0 + 2 })).outcome).toBe('consumed')
      const left = (await store.outbox.list({ now: T0, limit: 10 })).map((m) => m.id).sort()
      expect(left).toEqual(['failed-live', 'pending-live', 'sent-new'])
      // Given up but not expired: an operator can still send it.
      expect(await store.outbox.retry('failed-live', T0 + 7)).toBe(true)
    })
  })
}
