import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { NewOneTimeToken } from '../../src/store/one-time-tokens.ts'
import type { NewOutboxMessage } from '../../src/store/outbox.ts'
import type { NewUser, Store } from '../../src/store/store.ts'

/**
 * Conformance of the mail aggregates (single-use tokens and the outbox): every adapter runs exactly
 * these tests, beside the main store conformance suite.
 */
export function runMailStoreConformance(
  name: string,
  makeStore: () => Promise<Store>,
  dispose: (store: Store) => Promise<void> = (s) => s.close(),
): void {
  describe(`mail store conformance: ${name}`, () => {
    let store: Store
    const T0 = 1_700_000_000_000
    const HOUR = 3_600_000

    beforeEach(async () => {
      store = await makeStore()
    })
    afterEach(async () => {
      await dispose(store)
    })

    const newUser = (over: Partial<NewUser> = {}): NewUser => ({
      id: randomUUID(),
      email: `${randomUUID()}@example.com`,
      passwordHash: '$argon2id$old',
      scope: 'user',
      createdAt: T0,
      ...over,
    })
    const token = (userId: string, email: string, over: Partial<NewOneTimeToken> = {}): NewOneTimeToken => ({
      hash: randomUUID(),
      purpose: 'verify_email',
      userId,
      email,
      createdAt: T0,
      expiresAt: T0 + HOUR,
      ...over,
    })
    const message = (over: Partial<NewOutboxMessage> = {}): NewOutboxMessage => ({
      id: randomUUID(),
      template: 'verify_email',
      recipient: 'someone@example.com',
      data: { link: 'https://auth.example.com/verify-email?token=secret' },
      createdAt: T0,
      expiresAt: T0 + HOUR,
      ...over,
    })
    async function user(over: Partial<NewUser> = {}) {
      const created = await store.createUser(newUser(over))
      if (!created) throw new Error('email taken')
      return created
    }
    const claim = (now = T0, limit = 10, leaseMs = 60_000) => store.outbox.claim({ now, limit, leaseMs, claimId: randomUUID() })

    describe('single-use tokens', () => {
      it('new accounts start unverified; a verify token verifies the email once, then reports itself used', async () => {
        const u = await user()
        expect(u.emailVerified).toBe(false)
        const t = token(u.id, u.email)
        expect(await store.oneTimeTokens.issue({ token: t, messages: [] })).toEqual({ issued: true })
        const first = await store.oneTimeTokens.consume({ hash: t.hash, purposes: ['verify_email'], now: T0 + 1000 })
        expect(first).toMatchObject({ outcome: 'consumed', token: { consumedAt: T0 + 1000 }, user: { id: u.id, emailVerified: true } })
        expect((await store.findUserById(u.id))?.emailVerified).toBe(true)
        expect(await store.oneTimeTokens.consume({ hash: t.hash, purposes: ['verify_email'], now: T0 + 2000 })).toEqual({ outcome: 'used' })
      })

      it('refuses unknown, cross-purpose and expired tokens, and a cross-purpose attempt does not spend the token', async () => {
        const u = await user()
        const t = token(u.id, u.email, { purpose: 'reset_password' })
        await store.oneTimeTokens.issue({ token: t, messages: [] })
        expect(await store.oneTimeTokens.consume({ hash: 'nope', purposes: ['verify_email'], now: T0 })).toEqual({ outcome: 'unknown' })
        expect(await store.oneTimeTokens.consume({ hash: t.hash, purposes: ['verify_email', 'change_email'], now: T0 })).toEqual({ outcome: 'wrong_purpose' })
        expect(await store.oneTimeTokens.consume({ hash: t.hash, purposes: ['reset_password'], now: T0 + HOUR, newPasswordHash: 'h' })).toEqual({ outcome: 'expired' })
        expect(await store.oneTimeTokens.consume({ hash: t.hash, purposes: ['reset_password'], now: T0 + HOUR - 1, newPasswordHash: '$new' }))
          .toMatchObject({ outcome: 'consumed' })
      })

      it('a verification leaves the account\'s other links alone; an email change voids them', async () => {
        const u = await user()
        const verify = token(u.id, u.email)
        const reset = token(u.id, u.email, { purpose: 'reset_password' })
        await store.oneTimeTokens.issue({ token: verify, messages: [] })
        await store.oneTimeTokens.issue({ token: reset, messages: [] })
        expect((await store.oneTimeTokens.consume({ hash: verify.hash, purposes: ['verify_email'], now: T0 })).outcome).toBe('consumed')
        const change = token(u.id, `${randomUUID()}@example.com`, { purpose: 'change_email' })
        await store.oneTimeTokens.issue({ token: change, messages: [] })
        expect(await store.oneTimeTokens.consume({ hash: reset.hash, purposes: ['change_email'], now: T0 })).toEqual({ outcome: 'wrong_purpose' })
        expect((await store.oneTimeTokens.consume({ hash: change.hash, purposes: ['change_email'], now: T0 })).outcome).toBe('consumed')
        expect((await store.oneTimeTokens.consume({ hash: reset.hash, purposes: ['reset_password'], now: T0, newPasswordHash: 'x' })).outcome).toBe('unknown')
      })

      it('a newer token of the same purpose invalidates the older one, not those of other purposes', async () => {
        const u = await user()
        const older = token(u.id, u.email, { purpose: 'reset_password' })
        const verify = token(u.id, u.email)
        const newer = token(u.id, u.email, { purpose: 'reset_password', createdAt: T0 + 10 })
        await store.oneTimeTokens.issue({ token: older, messages: [] })
        await store.oneTimeTokens.issue({ token: verify, messages: [] })
        await store.oneTimeTokens.issue({ token: newer, messages: [] })
        expect(await store.oneTimeTokens.consume({ hash: older.hash, purposes: ['reset_password'], now: T0 + 20, newPasswordHash: 'x' })).toEqual({ outcome: 'unknown' })
        // Still there (a probe with the wrong purpose leaves it untouched)…
        expect(await store.oneTimeTokens.consume({ hash: verify.hash, purposes: ['change_email'], now: T0 + 20 })).toEqual({ outcome: 'wrong_purpose' })
        expect(await store.oneTimeTokens.consume({ hash: newer.hash, purposes: ['reset_password'], now: T0 + 20, newPasswordHash: 'x' })).toMatchObject({ outcome: 'consumed' })
        // …until a consumed token invalidates every other one of the account.
        expect(await store.oneTimeTokens.consume({ hash: verify.hash, purposes: ['verify_email'], now: T0 + 20 })).toEqual({ outcome: 'unknown' })
      })

      it('a password change (invalidateForUser) kills every unconsumed token of the account only', async () => {
        const u = await user()
        const other = await user()
        const mine = [token(u.id, u.email), token(u.id, u.email, { purpose: 'reset_password' })]
        const theirs = token(other.id, other.email)
        for (const t of [...mine, theirs]) await store.oneTimeTokens.issue({ token: t, messages: [] })
        expect(await store.oneTimeTokens.invalidateForUser(u.id)).toBe(2)
        for (const t of mine) expect((await store.oneTimeTokens.consume({ hash: t.hash, purposes: [t.purpose], now: T0, newPasswordHash: 'x' })).outcome).toBe('unknown')
        expect((await store.oneTimeTokens.consume({ hash: theirs.hash, purposes: ['verify_email'], now: T0 })).outcome).toBe('consumed')
      })

      it('registration creates the account, its token and its message in one transaction, and nothing when the email is taken', async () => {
        const fresh = newUser()
        const msg = message({ recipient: fresh.email })
        const t = token(fresh.id, fresh.email)
        expect(await store.oneTimeTokens.issue({ token: t, messages: [msg], newUser: fresh })).toEqual({ issued: true })
        expect(await store.findUserById(fresh.id)).toMatchObject({ email: fresh.email, emailVerified: false })
        expect((await store.outbox.list({ now: T0, limit: 10 })).map((m) => m.id)).toEqual([msg.id])

        const twin = newUser({ email: fresh.email })
        const t2 = token(twin.id, twin.email)
        expect(await store.oneTimeTokens.issue({ token: t2, messages: [message()], newUser: twin })).toEqual({ issued: false, reason: 'email_taken' })
        expect(await store.findUserById(twin.id)).toBeNull()
        expect(await store.outbox.list({ now: T0, limit: 10 })).toHaveLength(1)
        expect((await store.oneTimeTokens.consume({ hash: t2.hash, purposes: ['verify_email'], now: T0 })).outcome).toBe('unknown')
      })

      it('issueForAddress issues for an enabled account only, leaves no trace of an unknown address but its audit event', async () => {
        const u = await user()
        const off = await user()
        await store.setUserDisabled(off.id, T0)
        const audit = (tag: string) => (found: { id: string } | null) => ({
          type: 'password_reset_requested' as const, at: T0, userId: found?.id ?? null, actorId: null, sessionId: null,
          ip: null, userAgent: null, requestId: tag, details: {},
        })
        const forgot = (email: string, tag: string) => {
          const { userId: _u, ...t } = token('', email, { purpose: 'reset_password' })
          return { token: t, message: message({ recipient: email, template: 'reset_password' }), tag }
        }
        const known = forgot(u.email, 'known')
        const unknown = forgot('nobody@example.com', 'unknown')
        const disabled = forgot(off.email, 'disabled')
        for (const f of [known, unknown, disabled]) {
          const issued = await store.oneTimeTokens.issueForAddress({ email: f.message.recipient, token: f.token, messages: [f.message], audit: audit(f.tag) })
          expect(issued?.id ?? null).toBe(f === known ? u.id : null)
        }
        expect((await store.outbox.list({ now: T0, limit: 10 })).map((m) => m.id)).toEqual([known.message.id])
        expect((await store.oneTimeTokens.consume({ hash: unknown.token.hash, purposes: ['reset_password'], now: T0, newPasswordHash: 'x' })).outcome).toBe('unknown')
        expect((await store.oneTimeTokens.consume({ hash: disabled.token.hash, purposes: ['reset_password'], now: T0, newPasswordHash: 'x' })).outcome).toBe('unknown')
        const events = await store.listAudit({ type: 'password_reset_requested', limit: 10 })
        expect(events.map((e) => [e.requestId, e.userId]).sort()).toEqual([['disabled', off.id], ['known', u.id], ['unknown', null]])
        // The decoy work of the unknown and disabled addresses left the other accounts' links alone (a
        // link of another purpose is refused without being spent, so this only looks), and kept no row.
        expect((await store.oneTimeTokens.consume({ hash: known.token.hash, purposes: ['verify_email'], now: T0 })).outcome).toBe('wrong_purpose')
        for (const decoy of [unknown, disabled]) {
          expect((await store.oneTimeTokens.consume({ hash: `${decoy.token.hash}-decoy`, purposes: ['reset_password'], now: T0, newPasswordHash: 'x' })).outcome).toBe('unknown')
        }
        // A second request replaces the first link.
        const again = forgot(u.email, 'again')
        await store.oneTimeTokens.issueForAddress({ email: u.email, token: again.token, messages: [again.message], audit: audit('again') })
        expect((await store.oneTimeTokens.consume({ hash: known.token.hash, purposes: ['reset_password'], now: T0, newPasswordHash: 'x' })).outcome).toBe('unknown')
        expect((await store.oneTimeTokens.consume({ hash: again.token.hash, purposes: ['reset_password'], now: T0, newPasswordHash: 'x' })).outcome).toBe('consumed')
      })

      it('a change_email token moves the account to the new address, verified; a taken address is refused and the token kept', async () => {
        const u = await user()
        const taker = await user()
        const t = token(u.id, taker.email, { purpose: 'change_email' })
        await store.oneTimeTokens.issue({ token: t, messages: [] })
        expect(await store.oneTimeTokens.consume({ hash: t.hash, purposes: ['verify_email', 'change_email'], now: T0 })).toEqual({ outcome: 'email_taken' })
        expect((await store.findUserById(u.id))?.email).toBe(u.email)

        const free = `${randomUUID()}@example.com`
        const t2 = token(u.id, free, { purpose: 'change_email' })
        await store.oneTimeTokens.issue({ token: t2, messages: [] })
        const done = await store.oneTimeTokens.consume({ hash: t2.hash, purposes: ['verify_email', 'change_email'], now: T0 })
        expect(done).toMatchObject({ outcome: 'consumed', user: { email: free, emailVerified: true } })
        expect(await store.findUserByEmail(free)).toMatchObject({ id: u.id })
        expect(await store.findUserByEmail(u.email)).toBeNull()
      })

      it('a verify link for an address the account no longer has is spent but verifies nothing', async () => {
        const u = await user()
        const stale = token(u.id, 'old-address@example.com')
        await store.oneTimeTokens.issue({ token: stale, messages: [] })
        expect(await store.oneTimeTokens.consume({ hash: stale.hash, purposes: ['verify_email'], now: T0 })).toMatchObject({ outcome: 'consumed', user: { emailVerified: false } })
      })

      it('a reset sets the password, verifies the email, drops the other tokens and queues its notice in the same transaction', async () => {
        const u = await user()
        const reset = token(u.id, u.email, { purpose: 'reset_password' })
        const verify = token(u.id, u.email)
        await store.oneTimeTokens.issue({ token: verify, messages: [] })
        await store.oneTimeTokens.issue({ token: reset, messages: [] })
        const notice = message({ template: 'password_changed', recipient: u.email })
        const result = await store.oneTimeTokens.consume({
          hash: reset.hash, purposes: ['reset_password'], now: T0 + 5, newPasswordHash: '$argon2id$new',
          notices: (after) => [{ ...notice, recipient: after.email }],
        })
        expect(result).toMatchObject({ outcome: 'consumed', user: { passwordHash: '$argon2id$new', emailVerified: true } })
        expect((await store.findUserById(u.id))?.passwordHash).toBe('$argon2id$new')
        expect((await store.oneTimeTokens.consume({ hash: verify.hash, purposes: ['verify_email'], now: T0 + 6 })).outcome).toBe('unknown')
        expect((await store.outbox.list({ now: T0, limit: 10 })).map((m) => [m.template, m.recipient])).toEqual([['password_changed', u.email]])
      })

      it('refuses a token of a disabled account', async () => {
        const u = await user()
        const t = token(u.id, u.email, { purpose: 'reset_password' })
        await store.oneTimeTokens.issue({ token: t, messages: [] })
        await store.setUserDisabled(u.id, T0)
        expect(await store.oneTimeTokens.consume({ hash: t.hash, purposes: ['reset_password'], now: T0, newPasswordHash: 'x' })).toEqual({ outcome: 'disabled' })
        expect((await store.findUserById(u.id))?.passwordHash).toBe('$argon2id$old')
      })

      it('20 concurrent presentations of one token consume it exactly once', async () => {
        const u = await user()
        const t = token(u.id, u.email, { purpose: 'reset_password' })
        await store.oneTimeTokens.issue({ token: t, messages: [] })
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => store.oneTimeTokens.consume({ hash: t.hash, purposes: ['reset_password'], now: T0 + 1, newPasswordHash: `$h${i}`,
            notices: () => [message({ id: `notice-${i}` })] })),
        )
        expect(results.filter((r) => r.outcome === 'consumed')).toHaveLength(1)
        expect(results.filter((r) => r.outcome === 'used')).toHaveLength(19)
        expect(await store.outbox.list({ now: T0, limit: 50 })).toHaveLength(1)
      })

      it('markEmailVerified verifies the account and drops its pending verify tokens', async () => {
        const u = await user()
        const t = token(u.id, u.email)
        await store.oneTimeTokens.issue({ token: t, messages: [] })
        expect(await store.oneTimeTokens.markEmailVerified(u.id)).toMatchObject({ id: u.id, emailVerified: true })
        expect(await store.oneTimeTokens.markEmailVerified(randomUUID())).toBeNull()
        expect((await store.oneTimeTokens.consume({ hash: t.hash, purposes: ['verify_email'], now: T0 })).outcome).toBe('unknown')
      })
    })

    describe('outbox', () => {
      it('a claim takes a due message, counts the attempt and hides it for the lease', async () => {
        const m = message()
        await store.outbox.enqueue([m])
        const [claimed] = await claim(T0, 10, 30_000)
        expect(claimed).toMatchObject({ id: m.id, attempts: 1, status: 'pending', data: m.data, recipient: m.recipient, nextAttemptAt: T0 + 30_000 })
        expect(await claim(T0 + 29_999)).toEqual([])
        expect((await claim(T0 + 30_000)).map((x) => x.attempts)).toEqual([2])
      })

      it('markSent marks once, only for the claim holder, and wipes the data (the link)', async () => {
        const m = message()
        await store.outbox.enqueue([m])
        const first = randomUUID()
        await store.outbox.claim({ now: T0, limit: 1, leaseMs: 1000, claimId: first })
        expect(await store.outbox.markSent(m.id, 'someone-else', T0 + 1)).toBe(false)
        expect(await store.outbox.markSent(m.id, first, T0 + 2)).toBe(true)
        expect(await store.outbox.markSent(m.id, first, T0 + 3)).toBe(false)
        const [row] = await store.outbox.list({ now: T0, limit: 10 })
        expect(row).toMatchObject({ status: 'sent', sentAt: T0 + 2, data: {} })
        expect(JSON.stringify(row)).not.toContain('secret')
        expect(await claim(T0 + 10 * HOUR)).toEqual([])
      })

      it('a failure records its error and waits for its retry time; giving up leaves it failed until retried', async () => {
        const m = message()
        await store.outbox.enqueue([m])
        const c = randomUUID()
        await store.outbox.claim({ now: T0, limit: 1, leaseMs: 1000, claimId: c })
        expect(await store.outbox.markFailed(m.id, c, { now: T0 + 1, error: 'ECONNREFUSED', retryAt: T0 + 5000 })).toBe(true)
        expect(await store.outbox.list({ now: T0, limit: 1 })).toMatchObject([{ status: 'pending', lastError: 'ECONNREFUSED', attempts: 1, nextAttemptAt: T0 + 5000 }])
        expect(await claim(T0 + 4999)).toEqual([])
        const again = (await claim(T0 + 5000))
        expect(again.map((x) => x.attempts)).toEqual([2])
        const c2 = randomUUID()
        await store.outbox.retry(m.id, T0 + 70_000) // the lease of that claim is over
        await store.outbox.claim({ now: T0 + 70_000, limit: 1, leaseMs: 1000, claimId: c2 })
        expect(await store.outbox.markFailed(m.id, c2, { now: T0 + 70_001, error: '550 no such mailbox', retryAt: null })).toBe(true)
        expect(await store.outbox.list({ status: 'failed', now: T0, limit: 5 })).toMatchObject([{ id: m.id, status: 'failed', lastError: '550 no such mailbox' }])
        expect(await claim(T0 + 10 * HOUR - 1)).toEqual([])
        expect(await store.outbox.retry(m.id, T0 + 80_000)).toBe(true)
        expect(await claim(T0 + 80_000)).toMatchObject([{ id: m.id, attempts: 1 }])
      })

      it('never claims or retries an expired message; lists it as expired; stats count only live pending mail', async () => {
        const expired = message({ createdAt: T0 - 10, expiresAt: T0 + 100 })
        const live = message({ createdAt: T0 + 5 })
        await store.outbox.enqueue([expired, live])
        expect(await store.outbox.stats(T0 + 50)).toEqual({ pending: 2, oldestPendingAt: T0 - 10 })
        expect(await store.outbox.stats(T0 + 100)).toEqual({ pending: 1, oldestPendingAt: T0 + 5 })
        expect((await claim(T0 + 100)).map((m) => m.id)).toEqual([live.id])
        expect((await store.outbox.list({ status: 'expired', now: T0 + 100, limit: 10 })).map((m) => m.id)).toEqual([expired.id])
        expect(await store.outbox.retry(expired.id, T0 + 100)).toBe(false)
        expect(await store.outbox.stats(T0 + HOUR)).toEqual({ pending: 0, oldestPendingAt: null })
      })

      it('concurrent claims take disjoint messages: 60 messages, 12 claimers of 5, each claimed once', async () => {
        const messages = Array.from({ length: 60 }, (_, i) => message({ createdAt: T0 + i }))
        await store.outbox.enqueue(messages)
        const claims = await Promise.all(Array.from({ length: 12 }, () => claim(T0 + 100, 5)))
        const ids = claims.flat().map((m) => m.id)
        expect(ids).toHaveLength(60)
        expect(new Set(ids).size).toBe(60)
        expect(await claim(T0 + 100)).toEqual([])
      })
    })
  })
}
