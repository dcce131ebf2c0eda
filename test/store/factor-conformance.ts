import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Store } from '../../src/store/store.ts'

/** Conformance of the second-factor aggregate (factors.ts): every adapter runs exactly these tests. */
export function runFactorStoreConformance(
  name: string,
  makeStore: () => Promise<Store>,
  dispose: (store: Store) => Promise<void> = (s) => s.close(),
): void {
  describe(`factor store conformance: ${name}`, () => {
    let store: Store
    const T0 = 1_700_000_000_000
    beforeEach(async () => {
      store = await makeStore()
    })
    afterEach(async () => {
      await dispose(store)
    })

    async function user(): Promise<string> {
      const id = randomUUID()
      await store.createUser({ id, email: `${id}@example.com`, passwordHash: 'x', scope: 'user', createdAt: T0 })
      return id
    }

    it('begins enrolment, restarts it while unconfirmed, confirms it once with its recovery codes', async () => {
      const u = await user()
      expect(await store.factors.findTotp(u)).toBeNull()
      expect(await store.factors.beginTotp(u, 'sealed-1', T0)).toBe(true)
      expect(await store.factors.beginTotp(u, 'sealed-2', T0 + 1)).toBe(true)
      expect(await store.factors.findTotp(u)).toEqual({ userId: u, secretSealed: 'sealed-2', createdAt: T0 + 1, confirmedAt: null, lastUsedStep: null })
      expect(await store.factors.confirmTotp(u, 100, ['h1', 'h2', 'h3'], T0 + 2)).toBe(true)
      expect(await store.factors.confirmTotp(u, 101, ['h4'], T0 + 3)).toBe(false)
      expect(await store.factors.findTotp(u)).toMatchObject({ secretSealed: 'sealed-2', confirmedAt: T0 + 2, lastUsedStep: 100 })
      expect(await store.factors.countRecoveryCodes(u)).toBe(3)
      // A confirmed factor is never replaced by a new enrolment.
      expect(await store.factors.beginTotp(u, 'sealed-3', T0 + 4)).toBe(false)
      await store.factors.resealTotp(u, 'resealed')
      expect((await store.factors.findTotp(u))?.secretSealed).toBe('resealed')
      expect(await store.factors.confirmTotp(await user(), 1, [], T0)).toBe(false)
    })

    it('accepts each step once and never an earlier one, even under concurrent calls', async () => {
      const u = await user()
      expect(await store.factors.useTotpStep(u, 5)).toBe(false) // no confirmed factor
      await store.factors.beginTotp(u, 's', T0)
      await store.factors.confirmTotp(u, 100, [], T0)
      expect(await store.factors.useTotpStep(u, 100)).toBe(false)
      expect(await store.factors.useTotpStep(u, 99)).toBe(false)
      const race = await Promise.all(Array.from({ length: 10 }, () => store.factors.useTotpStep(u, 101)))
      expect(race.filter(Boolean)).toHaveLength(1)
      expect((await store.factors.findTotp(u))?.lastUsedStep).toBe(101)
    })

    it('spends a recovery code once, only for its own account, once under concurrent calls', async () => {
      const u = await user()
      const other = await user()
      await store.factors.beginTotp(u, 's', T0)
      await store.factors.confirmTotp(u, 1, ['code-a', 'code-b'], T0)
      expect(await store.factors.useRecoveryCode(other, 'code-a', T0)).toBe(false)
      const race = await Promise.all(Array.from({ length: 8 }, () => store.factors.useRecoveryCode(u, 'code-a', T0 + 1)))
      expect(race.filter(Boolean)).toHaveLength(1)
      expect(await store.factors.countRecoveryCodes(u)).toBe(1)
      // Confirming a new enrolment later replaces the old codes.
      await store.factors.deleteFactors(u)
      await store.factors.beginTotp(u, 's2', T0 + 2)
      await store.factors.confirmTotp(u, 2, ['code-c'], T0 + 2)
      expect(await store.factors.useRecoveryCode(u, 'code-b', T0 + 3)).toBe(false)
      expect(await store.factors.countRecoveryCodes(u)).toBe(1)
    })

    it('consumes a challenge once, not after it expired or locked; counts failures and locks at the limit', async () => {
      const u = await user()
      await store.factors.createChallenge({ hash: 'c1', userId: u, createdAt: T0, expiresAt: T0 + 300_000 })
      expect(await store.factors.findChallenge('c1')).toEqual({ hash: 'c1', userId: u, createdAt: T0, expiresAt: T0 + 300_000, clientId: null, failures: 0, consumedAt: null, lockedAt: null })
      const race = await Promise.all(Array.from({ length: 8 }, () => store.factors.consumeChallenge('c1', T0 + 1)))
      expect(race.filter(Boolean)).toHaveLength(1)
      expect((await store.factors.findChallenge('c1'))?.consumedAt).toBe(T0 + 1)

      await store.factors.createChallenge({ hash: 'c2', userId: u, createdAt: T0, expiresAt: T0 + 300_000 })
      expect(await store.factors.consumeChallenge('c2', T0 + 300_000)).toBe(false)

      await store.factors.createChallenge({ hash: 'c3', userId: u, createdAt: T0, expiresAt: T0 + 300_000 })
      expect(await store.factors.recordChallengeFailure('c3', T0 + 1, 3)).toEqual({ failures: 1, locked: false })
      expect(await store.factors.recordChallengeFailure('c3', T0 + 2, 3)).toEqual({ failures: 2, locked: false })
      expect(await store.factors.recordChallengeFailure('c3', T0 + 3, 3)).toEqual({ failures: 3, locked: true })
      expect(await store.factors.recordChallengeFailure('c3', T0 + 4, 3)).toEqual({ failures: 4, locked: true })
      expect((await store.factors.findChallenge('c3'))?.lockedAt).toBe(T0 + 3)
      expect(await store.factors.consumeChallenge('c3', T0 + 5)).toBe(false)
      expect(await store.factors.recordChallengeFailure('nope', T0, 3)).toBeNull()
    })

    it('keeps the client a challenge was created for (RFC 9068 client_id), null when none', async () => {
      const u = await user()
      await store.factors.createChallenge({ hash: 'cc1', userId: u, createdAt: T0, expiresAt: T0 + 300_000, clientId: 'web-app' })
      await store.factors.createChallenge({ hash: 'cc2', userId: u, createdAt: T0, expiresAt: T0 + 300_000, clientId: null })
      expect(await store.factors.findChallenge('cc1')).toEqual({ hash: 'cc1', userId: u, createdAt: T0, expiresAt: T0 + 300_000, clientId: 'web-app', failures: 0, consumedAt: null, lockedAt: null })
      expect((await store.factors.findChallenge('cc2'))?.clientId).toBeNull()
      // Failures and consumption leave the client as it was.
      await store.factors.recordChallengeFailure('cc1', T0 + 1, 3)
      expect(await store.factors.consumeChallenge('cc1', T0 + 2)).toBe(true)
      expect((await store.factors.findChallenge('cc1'))?.clientId).toBe('web-app')
    })

    it('counts second-factor attempts per account in a fixed window, opens a new one after it closes, and clears on request', async () => {
      const u = await user()
      const other = await user()
      const W = 900_000
      expect(await store.factors.countMfaAttempt(u, T0, W)).toEqual({ failures: 1, windowEndsAt: T0 + W })
      expect(await store.factors.countMfaAttempt(u, T0 + 10, W)).toEqual({ failures: 2, windowEndsAt: T0 + W })
      // Another account has its own count.
      expect(await store.factors.countMfaAttempt(other, T0 + 20, W)).toEqual({ failures: 1, windowEndsAt: T0 + 20 + W })
      expect(await store.factors.countMfaAttempt(u, T0 + W - 1, W)).toEqual({ failures: 3, windowEndsAt: T0 + W })
      // The window closed: the next attempt opens a new one, counted from 1.
      expect(await store.factors.countMfaAttempt(u, T0 + W, W)).toEqual({ failures: 1, windowEndsAt: T0 + 2 * W })
      expect(await store.factors.countMfaAttempt(u, T0 + W + 1, W)).toEqual({ failures: 2, windowEndsAt: T0 + 2 * W })
      await store.factors.clearMfaFailures(u)
      expect(await store.factors.countMfaAttempt(u, T0 + W + 2, W)).toEqual({ failures: 1, windowEndsAt: T0 + W + 2 + W })
      expect(await store.factors.countMfaAttempt(other, T0 + 30, W)).toEqual({ failures: 2, windowEndsAt: T0 + 20 + W })
      // Removing the factors (an admin reset) clears the count too.
      await store.factors.deleteFactors(other)
      expect((await store.factors.countMfaAttempt(other, T0 + 40, W)).failures).toBe(1)
    })

    it('loses no attempt under concurrent calls: each one gets its own count', async () => {
      const u = await user()
      const counts = await Promise.all(Array.from({ length: 20 }, () => store.factors.countMfaAttempt(u, T0, 60_000)))
      expect(counts.map((c) => c.failures).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
      expect(new Set(counts.map((c) => c.windowEndsAt))).toEqual(new Set([T0 + 60_000]))
    })

    it('deletes the factor, its codes and the open challenges of that account only', async () => {
      const u = await user()
      const other = await user()
      for (const id of [u, other]) {
        await store.factors.beginTotp(id, 's', T0)
        await store.factors.confirmTotp(id, 1, [`code-${id}`], T0)
        await store.factors.createChallenge({ hash: `c-${id}`, userId: id, createdAt: T0, expiresAt: T0 + 1000 })
      }
      expect(await store.factors.deleteFactors(u)).toBe(true)
      expect(await store.factors.deleteFactors(u)).toBe(false)
      expect(await store.factors.findTotp(u)).toBeNull()
      expect(await store.factors.countRecoveryCodes(u)).toBe(0)
      expect(await store.factors.findChallenge(`c-${u}`)).toBeNull()
      expect(await store.factors.findTotp(other)).not.toBeNull()
      expect(await store.factors.findChallenge(`c-${other}`)).not.toBeNull()
    })
  })
}
