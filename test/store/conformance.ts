import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { NewSession, NewUser, RotateRefreshTokenInput, Store } from '../../src/store/store.ts'

/**
 * The store conformance suite: every adapter runs exactly these tests. `makeStore` returns a fresh,
 * empty, migrated store; `dispose` cleans up after it (drop a schema, delete a file).
 */
export function runStoreConformance(
  name: string,
  makeStore: () => Promise<Store>,
  dispose: (store: Store) => Promise<void> = (s) => s.close(),
): void {
  describe(`store conformance: ${name}`, () => {
    let store: Store
    const T0 = 1_700_000_000_000
    const DAY = 86_400_000

    beforeEach(async () => {
      store = await makeStore()
    })
    afterEach(async () => {
      await dispose(store)
    })

    const newUser = (over: Partial<NewUser> = {}): NewUser => ({
      id: randomUUID(),
      email: `${randomUUID()}@example.com`,
      passwordHash: '$argon2id$fake',
      scope: 'user',
      createdAt: T0,
      ...over,
    })
    const newSession = (userId: string, over: Partial<NewSession> = {}): NewSession => ({
      id: randomUUID(),
      userId,
      createdAt: T0,
      idleExpiresAt: T0 + 30 * DAY,
      absoluteExpiresAt: T0 + 90 * DAY,
      userAgent: 'vitest',
      ip: '127.0.0.1',
      tokenHash: randomUUID(),
      ...over,
    })
    const rotation = (tokenHash: string, over: Partial<RotateRefreshTokenInput> = {}): RotateRefreshTokenInput => ({
      tokenHash,
      newTokenHash: randomUUID(),
      newTokenSealed: `sealed-${randomUUID()}`,
      now: T0 + 1000,
      graceMs: 10_000,
      idleMs: 30 * DAY,
      ...over,
    })

    it('creates a user and finds it by email and id', async () => {
      const u = newUser()
      const created = await store.createUser(u)
      expect(created).toMatchObject({ id: u.id, email: u.email, disabledAt: null })
      expect(await store.findUserByEmail(u.email)).toEqual(created)
      expect(await store.findUserById(u.id)).toEqual(created)
      expect(await store.findUserByEmail('nobody@example.com')).toBeNull()
      expect(await store.findUserById(randomUUID())).toBeNull()
    })

    it('refuses a second user with the same email', async () => {
      const u = newUser()
      await store.createUser(u)
      expect(await store.createUser(newUser({ email: u.email }))).toBeNull()
    })

    it('updates a password hash and disables / enables a user', async () => {
      const u = newUser()
      await store.createUser(u)
      await store.updatePasswordHash(u.id, '$argon2id$new')
      expect((await store.findUserById(u.id))?.passwordHash).toBe('$argon2id$new')
      expect(await store.setUserDisabled(u.id, T0 + 5)).toMatchObject({ changed: true, user: { disabledAt: T0 + 5 } })
      // Disabling a disabled account keeps its original time and reports no change.
      expect(await store.setUserDisabled(u.id, T0 + 9)).toMatchObject({ changed: false, user: { disabledAt: T0 + 5 } })
      expect(await store.setUserDisabled(u.id, null)).toMatchObject({ changed: true, user: { disabledAt: null } })
      expect(await store.setUserDisabled(u.id, null)).toMatchObject({ changed: false, user: { disabledAt: null } })
      expect(await store.setUserDisabled(randomUUID(), T0)).toBeNull()
      expect(await store.setUserDisabled(randomUUID(), null)).toBeNull()
    })

    it('lets exactly one of racing disables (and enables) win', async () => {
      const u = newUser()
      await store.createUser(u)
      const disables = await Promise.all(Array.from({ length: 10 }, (_, i) => store.setUserDisabled(u.id, T0 + i)))
      expect(disables.filter((r) => r?.changed)).toHaveLength(1)
      const winner = disables.find((r) => r?.changed)!.user.disabledAt
      expect((await store.findUserById(u.id))?.disabledAt).toBe(winner)
      for (const r of disables) expect(r?.user.disabledAt).toBe(winner)
      const enables = await Promise.all(Array.from({ length: 10 }, () => store.setUserDisabled(u.id, null)))
      expect(enables.filter((r) => r?.changed)).toHaveLength(1)
      expect((await store.findUserById(u.id))?.disabledAt).toBeNull()
    })

    it('lists users by email with a prefix filter and keyset pages', async () => {
      for (const e of ['b@x.io', 'a@x.io', 'ab@x.io', 'a_c@x.io', 'c@y.io']) await store.createUser(newUser({ email: e }))
      expect((await store.listUsers({ limit: 10 })).map((u) => u.email)).toEqual([
        'a@x.io', 'a_c@x.io', 'ab@x.io', 'b@x.io', 'c@y.io',
      ])
      expect((await store.listUsers({ emailPrefix: 'a', limit: 10 })).map((u) => u.email)).toEqual([
        'a@x.io', 'a_c@x.io', 'ab@x.io',
      ])
      // LIKE wildcards in the prefix are literal
      expect((await store.listUsers({ emailPrefix: 'a_', limit: 10 })).map((u) => u.email)).toEqual(['a_c@x.io'])
      expect((await store.listUsers({ afterEmail: 'a_c@x.io', limit: 2 })).map((u) => u.email)).toEqual([
        'ab@x.io', 'b@x.io',
      ])
    })

    it('creates a session whose first token it can find', async () => {
      const u = newUser()
      await store.createUser(u)
      const s = newSession(u.id)
      const created = await store.createSession(s)
      expect(created).toMatchObject({ id: s.id, userId: u.id, createdAt: T0, lastUsedAt: T0, revokedAt: null })
      expect((await store.findSessionByTokenHash(s.tokenHash))?.id).toBe(s.id)
      expect((await store.findSession(s.id))?.userAgent).toBe('vitest')
      expect(await store.findSessionByTokenHash('nope')).toBeNull()
    })

    it('rotates a live token once, then answers retries inside the grace window with the same child', async () => {
      const u = newUser()
      await store.createUser(u)
      const s = newSession(u.id)
      await store.createSession(s)
      const first = await store.rotateRefreshToken(rotation(s.tokenHash, { newTokenHash: 'child', newTokenSealed: 'sealed-child' }))
      expect(first.outcome).toBe('rotated')
      if (first.outcome !== 'rotated') return
      expect(first.user.id).toBe(u.id)
      expect(first.session.lastUsedAt).toBe(T0 + 1000)

      const retry = await store.rotateRefreshToken(rotation(s.tokenHash, { now: T0 + 5000 }))
      expect(retry).toMatchObject({ outcome: 'grace', sealed: 'sealed-child' })
      expect((await store.findSessionByTokenHash('child'))?.id).toBe(s.id)
    })

    it('keeps a session bound to its DPoP key: another key or none changes nothing', async () => {
      const u = newUser()
      await store.createUser(u)
      const s = { ...newSession(u.id), dpopJkt: 'jkt-of-the-client' }
      expect((await store.createSession(s)).dpopJkt).toBe('jkt-of-the-client')
      expect((await store.findSession(s.id))?.dpopJkt).toBe('jkt-of-the-client')
      expect(await store.rotateRefreshToken(rotation(s.tokenHash, { dpopJkt: 'jkt-of-a-thief' }))).toMatchObject({ outcome: 'key_mismatch', session: { id: s.id } })
      expect(await store.rotateRefreshToken(rotation(s.tokenHash, { dpopJkt: null }))).toMatchObject({ outcome: 'key_mismatch' })
      // Neither refusal spent the token nor counted as reuse.
      const ok = await store.rotateRefreshToken(rotation(s.tokenHash, { dpopJkt: 'jkt-of-the-client', newTokenHash: 'bound-child' }))
      expect(ok).toMatchObject({ outcome: 'rotated', session: { dpopJkt: 'jkt-of-the-client', revokedAt: null } })
      // A grace retry with the wrong key gets nothing either.
      expect(await store.rotateRefreshToken(rotation(s.tokenHash, { now: T0 + 2000, dpopJkt: 'jkt-of-a-thief' }))).toMatchObject({ outcome: 'key_mismatch' })
      // An unbound session rotates with or without a key.
      const free = newSession(u.id)
      expect((await store.createSession(free)).dpopJkt).toBeNull()
      expect((await store.rotateRefreshToken(rotation(free.tokenHash, { dpopJkt: 'any' }))).outcome).toBe('rotated')
    })

    it('records the assurance of a session\'s sign-in and hands it back unchanged by rotations', async () => {
      const u = await store.createUser(newUser())
      if (!u) throw new Error('no user')
      const strong = { ...newSession(u.id), amr: ['pwd', 'otp'], acr: 'aal2', authTime: T0 - 5000 }
      expect(await store.createSession(strong)).toMatchObject({ amr: ['pwd', 'otp'], acr: 'aal2', authTime: T0 - 5000 })
      const rotated = await store.rotateRefreshToken(rotation(strong.tokenHash))
      expect(rotated).toMatchObject({ outcome: 'rotated', session: { amr: ['pwd', 'otp'], acr: 'aal2', authTime: T0 - 5000 } })
      expect(await store.findSessionByTokenHash(strong.tokenHash)).toMatchObject({ amr: ['pwd', 'otp'], acr: 'aal2', authTime: T0 - 5000 })
      // A session created without them reads as a password sign-in at its creation.
      const plain = newSession(u.id)
      expect(await store.createSession(plain)).toMatchObject({ amr: ['pwd'], acr: null, authTime: T0 })
    })

    it("keeps a session's client_id, and refuses a refresh naming another client without spending the token", async () => {
      const u = newUser()
      await store.createUser(u)
      const s = { ...newSession(u.id), clientId: 'ios-app' }
      expect((await store.createSession(s)).clientId).toBe('ios-app')
      expect((await store.findSession(s.id))?.clientId).toBe('ios-app')
      expect(await store.rotateRefreshToken(rotation(s.tokenHash, { clientId: 'web-app' }))).toMatchObject({ outcome: 'client_mismatch', session: { id: s.id } })
      // Naming its own client, or none, rotates; the session keeps its client.
      const named = await store.rotateRefreshToken(rotation(s.tokenHash, { clientId: 'ios-app', newTokenHash: 'client-child' }))
      expect(named).toMatchObject({ outcome: 'rotated', session: { clientId: 'ios-app', revokedAt: null } })
      expect(await store.rotateRefreshToken(rotation('client-child', { now: T0 + 2000 }))).toMatchObject({ outcome: 'rotated', session: { clientId: 'ios-app' } })
      // A session started without a client refuses a refresh that names one.
      const anonymous = newSession(u.id)
      expect((await store.createSession(anonymous)).clientId).toBeNull()
      expect((await store.rotateRefreshToken(rotation(anonymous.tokenHash, { clientId: 'ios-app' }))).outcome).toBe('client_mismatch')
      expect((await store.rotateRefreshToken(rotation(anonymous.tokenHash))).outcome).toBe('rotated')
    })

    it('treats the old token as reuse after the grace window and revokes the session', async () => {
      const u = newUser()
      await store.createUser(u)
      const s = newSession(u.id)
      await store.createSession(s)
      await store.rotateRefreshToken(rotation(s.tokenHash, { newTokenHash: 'child' }))
      const late = await store.rotateRefreshToken(rotation(s.tokenHash, { now: T0 + 1000 + 10_001 }))
      expect(late.outcome).toBe('reused')
      expect((await store.findSession(s.id))?.revokedAt).toBe(T0 + 1000 + 10_001)
      // the live child is dead too: the whole family is revoked
      expect((await store.rotateRefreshToken(rotation('child', { now: T0 + 20_000 }))).outcome).toBe('revoked')
    })

    it('with no grace window, even an immediate retry is reuse', async () => {
      const u = newUser()
      await store.createUser(u)
      const s = newSession(u.id)
      await store.createSession(s)
      await store.rotateRefreshToken(rotation(s.tokenHash, { newTokenHash: 'child', graceMs: 0 }))
      expect((await store.rotateRefreshToken(rotation(s.tokenHash, { graceMs: 0 }))).outcome).toBe('reused')
    })

    it('treats a grandparent as reuse even inside the grace window', async () => {
      const u = newUser()
      await store.createUser(u)
      const s = newSession(u.id)
      await store.createSession(s)
      await store.rotateRefreshToken(rotation(s.tokenHash, { newTokenHash: 'child' }))
      await store.rotateRefreshToken(rotation('child', { newTokenHash: 'grandchild', now: T0 + 2000 }))
      expect((await store.rotateRefreshToken(rotation(s.tokenHash, { now: T0 + 3000 }))).outcome).toBe('reused')
    })

    it('rotates exactly once under concurrent calls', async () => {
      const u = newUser()
      await store.createUser(u)
      const s = newSession(u.id)
      await store.createSession(s)
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.rotateRefreshToken(rotation(s.tokenHash, { newTokenHash: `c${i}`, newTokenSealed: `sealed-c${i}` })),
        ),
      )
      const rotated = results.filter((r) => r.outcome === 'rotated')
      expect(rotated).toHaveLength(1)
      const winner = results.indexOf(rotated[0]!)
      for (const r of results) if (r.outcome !== 'rotated') expect(r).toMatchObject({ outcome: 'grace', sealed: `sealed-c${winner}` })
    })

    it('rotates concurrent refreshes of different sessions independently, each with its own event', async () => {
      const u = newUser()
      await store.createUser(u)
      const sessions = Array.from({ length: 12 }, () => newSession(u.id))
      for (const s of sessions) await store.createSession(s)
      const audit = { ip: '203.0.113.9', userAgent: 'vitest-ua', requestId: null }
      const results = await Promise.all(sessions.map((s) => store.rotateRefreshToken(rotation(s.tokenHash, { newTokenHash: `next-${s.id}`, audit }))))
      expect(results.map((r) => r.outcome)).toEqual(sessions.map(() => 'rotated'))
      results.forEach((r, i) => expect(r).toMatchObject({ session: { id: sessions[i]!.id } }))
      const events = await store.listAudit({ type: 'refresh', limit: 50 })
      expect(events.map((e) => e.sessionId).sort()).toEqual(sessions.map((s) => s.id).sort())
      // Each successor is the live token of its own session.
      for (const s of sessions) expect((await store.findSessionByTokenHash(`next-${s.id}`))?.id).toBe(s.id)
    })

    it('a rotation that fails changes nothing, and takes no concurrent rotation down with it', async () => {
      const u = newUser()
      await store.createUser(u)
      const a = newSession(u.id)
      const b = newSession(u.id)
      const c = newSession(u.id)
      for (const s of [a, b, c]) await store.createSession(s)
      const audit = { ip: null, userAgent: null, requestId: null }
      // A successor hash that already exists (b's live token) cannot be inserted.
      const [clash, fine, alsoFine] = await Promise.allSettled([
        store.rotateRefreshToken(rotation(a.tokenHash, { newTokenHash: b.tokenHash, audit })),
        store.rotateRefreshToken(rotation(b.tokenHash, { newTokenHash: 'b-next', audit })),
        store.rotateRefreshToken(rotation(c.tokenHash, { newTokenHash: 'c-next', audit })),
      ])
      expect(clash.status).toBe('rejected')
      expect(fine).toMatchObject({ status: 'fulfilled', value: { outcome: 'rotated' } })
      expect(alsoFine).toMatchObject({ status: 'fulfilled', value: { outcome: 'rotated' } })
      const events = await store.listAudit({ type: 'refresh', limit: 10 })
      expect(events.map((e) => e.sessionId).sort()).toEqual([b.id, c.id].sort())
      // Alone too: the failed rotation is rolled back, not committed halfway.
      await expect(store.rotateRefreshToken(rotation(a.tokenHash, { newTokenHash: 'c-next', audit }))).rejects.toThrow()
      expect(await store.listAudit({ type: 'refresh', limit: 10 })).toHaveLength(2)
      // a's token was not marked rotated: it still rotates, once, as if the failures never happened.
      expect((await store.rotateRefreshToken(rotation(a.tokenHash, { newTokenHash: 'a-next' }))).outcome).toBe('rotated')
      expect((await store.findSessionByTokenHash('a-next'))?.id).toBe(a.id)
    })

    it('writes the audit event of a rotation and of a reuse in the rotation itself, and none for a grace retry or a refusal', async () => {
      const u = newUser()
      await store.createUser(u)
      const s = newSession(u.id)
      await store.createSession(s)
      const audit = { ip: '203.0.113.7', userAgent: 'vitest-ua', requestId: 'req-rotate' }
      expect((await store.rotateRefreshToken(rotation('missing', { audit }))).outcome).toBe('unknown')
      await store.rotateRefreshToken(rotation(s.tokenHash, { newTokenHash: 'child', audit }))
      await store.rotateRefreshToken(rotation(s.tokenHash, { now: T0 + 2000, audit: { ...audit, requestId: 'req-grace' } }))
      await store.rotateRefreshToken(rotation(s.tokenHash, { now: T0 + 60_000, audit: { ...audit, requestId: 'req-reuse' } }))
      // Without an origin the store writes nothing: the caller records the event itself.
      const other = newSession(u.id)
      await store.createSession(other)
      await store.rotateRefreshToken(rotation(other.tokenHash))

      const events = await store.listAudit({ limit: 10 })
      expect(events.map((e) => [e.type, e.requestId, e.details])).toEqual([
        ['refresh_reuse_detected', 'req-reuse', {}],
        ['refresh', 'req-rotate', {}],
      ])
      for (const e of events) expect(e).toMatchObject({ userId: u.id, sessionId: s.id, actorId: null, ip: '203.0.113.7', userAgent: 'vitest-ua' })
      expect(events.map((e) => e.at)).toEqual([T0 + 60_000, T0 + 1000])
    })

    it('refuses unknown, expired, revoked and disabled cases without changing anything', async () => {
      expect((await store.rotateRefreshToken(rotation('missing'))).outcome).toBe('unknown')

      const u = newUser()
      await store.createUser(u)
      const idle = newSession(u.id, { idleExpiresAt: T0 + 500 })
      await store.createSession(idle)
      expect((await store.rotateRefreshToken(rotation(idle.tokenHash))).outcome).toBe('expired')

      const absolute = newSession(u.id, { absoluteExpiresAt: T0 + 500 })
      await store.createSession(absolute)
      expect((await store.rotateRefreshToken(rotation(absolute.tokenHash))).outcome).toBe('expired')

      const revoked = newSession(u.id)
      await store.createSession(revoked)
      expect(await store.revokeSession(revoked.id, 'logout', T0 + 1)).toBe(true)
      expect(await store.revokeSession(revoked.id, 'logout', T0 + 2)).toBe(false)
      expect((await store.rotateRefreshToken(rotation(revoked.tokenHash))).outcome).toBe('revoked')

      const live = newSession(u.id)
      await store.createSession(live)
      await store.setUserDisabled(u.id, T0)
      expect((await store.rotateRefreshToken(rotation(live.tokenHash))).outcome).toBe('disabled')
      await store.setUserDisabled(u.id, null)
      expect((await store.rotateRefreshToken(rotation(live.tokenHash))).outcome).toBe('rotated')
    })

    it('extends the idle expiry on rotation but never past the absolute one', async () => {
      const u = newUser()
      await store.createUser(u)
      const s = newSession(u.id, { idleExpiresAt: T0 + 10_000, absoluteExpiresAt: T0 + 20_000 })
      await store.createSession(s)
      const r = await store.rotateRefreshToken(rotation(s.tokenHash, { newTokenHash: 'child', now: T0 + 5000, idleMs: 10_000 }))
      expect(r.outcome === 'rotated' && r.session.idleExpiresAt).toBe(T0 + 15_000)
      const r2 = await store.rotateRefreshToken(rotation('child', { now: T0 + 14_000, idleMs: 10_000 }))
      expect(r2.outcome === 'rotated' && r2.session.idleExpiresAt).toBe(T0 + 20_000)
      expect((await store.findSession(s.id))?.idleExpiresAt).toBe(T0 + 20_000)
    })

    it('lists live sessions newest first and revokes all but one', async () => {
      const u = newUser()
      await store.createUser(u)
      const a = newSession(u.id, { createdAt: T0 })
      const b = newSession(u.id, { createdAt: T0 + 1 })
      const c = newSession(u.id, { createdAt: T0 + 2 })
      const expired = newSession(u.id, { createdAt: T0 + 3, idleExpiresAt: T0 + 10 })
      for (const s of [a, b, c, expired]) await store.createSession(s)
      expect((await store.listActiveSessions(u.id, T0 + 100)).map((s) => s.id)).toEqual([c.id, b.id, a.id])

      const revoked = await store.revokeUserSessions(u.id, 'logout_others', T0 + 200, b.id)
      expect(revoked.sort()).toEqual([a.id, c.id].sort())
      expect((await store.listActiveSessions(u.id, T0 + 300)).map((s) => s.id)).toEqual([b.id])
      expect((await store.findSession(a.id))?.revokeReason).toBe('logout_others')
    })

    it('counts the sessions that are neither revoked nor expired', async () => {
      const u = newUser()
      await store.createUser(u)
      expect(await store.countActiveSessions(T0)).toBe(0)
      const [live, revoked, expired] = [newSession(u.id), newSession(u.id), newSession(u.id, { idleExpiresAt: T0 + 10 })]
      for (const s of [live, revoked, expired]) await store.createSession(s)
      await store.revokeSession(revoked.id, 'logout', T0 + 1)
      expect(await store.countActiveSessions(T0 + 100)).toBe(1)
    })

    it('lists the ids of a user\'s sessions revoked since a time', async () => {
      const u = newUser()
      await store.createUser(u)
      const [a, b, c] = [newSession(u.id), newSession(u.id), newSession(u.id)]
      for (const s of [a, b, c]) await store.createSession(s)
      await store.revokeSession(a.id, 'logout', T0 + 10)
      await store.revokeSession(b.id, 'logout', T0 + 20)
      expect((await store.listSessionIdsRevokedSince(u.id, T0 + 15))).toEqual([b.id])
      expect((await store.listSessionIdsRevokedSince(u.id, T0)).sort()).toEqual([a.id, b.id].sort())
      expect(await store.listSessionIdsRevokedSince(randomUUID(), T0)).toEqual([])
    })

    it('appends audit events and pages them newest first with filters', async () => {
      const u = randomUUID()
      for (let i = 0; i < 5; i++) {
        await store.appendAudit({
          type: i % 2 ? 'login_failed' : 'login_succeeded',
          at: T0 + i,
          userId: i < 4 ? u : null,
          actorId: null,
          sessionId: null,
          ip: '127.0.0.1',
          userAgent: 'vitest',
          requestId: `req-${i}`,
          details: { attempt: i, ok: i % 2 === 0 },
        })
      }
      const all = await store.listAudit({ limit: 10 })
      expect(all.map((e) => e.requestId)).toEqual(['req-4', 'req-3', 'req-2', 'req-1', 'req-0'])
      expect(all[0]?.details).toEqual({ attempt: 4, ok: true })
      const page1 = await store.listAudit({ userId: u, limit: 2 })
      expect(page1.map((e) => e.requestId)).toEqual(['req-3', 'req-2'])
      const page2 = await store.listAudit({ userId: u, limit: 2, beforeSeq: page1[1]!.seq })
      expect(page2.map((e) => e.requestId)).toEqual(['req-1', 'req-0'])
      expect((await store.listAudit({ type: 'login_failed', limit: 10 })).map((e) => e.requestId)).toEqual(['req-3', 'req-1'])
      expect((await store.listAudit({ since: T0 + 1, until: T0 + 3, limit: 10 })).map((e) => e.requestId)).toEqual(['req-2', 'req-1'])
    })

    it('answers ping while open', async () => {
      await expect(store.ping()).resolves.toBeUndefined()
    })
  })
}
