import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { NewPasskey, NewWebauthnChallenge } from '../../src/store/passkeys.ts'
import type { Store } from '../../src/store/store.ts'

/** Conformance of the passkey aggregate (credentials and ceremony challenges): every adapter runs exactly these tests. */
export function runPasskeyStoreConformance(
  name: string,
  makeStore: () => Promise<Store>,
  dispose: (store: Store) => Promise<void> = (s) => s.close(),
): void {
  describe(`passkey store conformance: ${name}`, () => {
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
      await store.createUser({ id, email: `${id}@example.com`, passwordHash: '$argon2id$fake', scope: 'user', createdAt: T0 })
      return id
    }
    const newPasskey = (userId: string, over: Partial<NewPasskey> = {}): NewPasskey => ({
      id: randomUUID(),
      userId,
      credentialId: randomUUID().replaceAll('-', ''),
      publicKey: 'pQECAyYgASFYIA',
      counter: 0,
      transports: ['internal', 'hybrid'],
      backedUp: false,
      deviceType: 'singleDevice',
      aaguid: '00000000-0000-0000-0000-000000000000',
      name: 'Laptop',
      createdAt: T0,
      ...over,
    })
    const challenge = (over: Partial<NewWebauthnChallenge> = {}): NewWebauthnChallenge => ({
      hash: randomUUID(),
      purpose: 'login',
      userId: null,
      createdAt: T0,
      expiresAt: T0 + 300_000,
      ...over,
    })

    it('stores a passkey and finds it by credential id and by owner, with every field intact', async () => {
      const owner = await user()
      const p = newPasskey(owner, { counter: 7, backedUp: true, deviceType: 'multiDevice', transports: ['usb', 'nfc'] })
      const created = await store.passkeys.create(p)
      expect(created).toEqual({ ...p, lastUsedAt: null, counterRegressedAt: null })
      expect(await store.passkeys.findByCredentialId(p.credentialId)).toEqual(created)
      expect(await store.passkeys.findByCredentialId('nope')).toBeNull()
      const second = await store.passkeys.create(newPasskey(owner, { createdAt: T0 + 1, transports: [] }))
      expect((await store.passkeys.listForUser(owner)).map((k) => k.id)).toEqual([p.id, second!.id])
      expect(second!.transports).toEqual([])
      expect(await store.passkeys.listForUser(await user())).toEqual([])
    })

    it('refuses a credential id that is already registered, even to another account', async () => {
      const p = newPasskey(await user())
      expect(await store.passkeys.create(p)).not.toBeNull()
      expect(await store.passkeys.create(newPasskey(await user(), { credentialId: p.credentialId }))).toBeNull()
    })

    it('records a use only when the counter goes up, or stays 0 for a counterless authenticator', async () => {
      const owner = await user()
      const counted = (await store.passkeys.create(newPasskey(owner, { counter: 5 })))!
      expect(await store.passkeys.recordUse({ id: counted.id, counter: 5, backedUp: false, now: T0 + 1 })).toBe(false)
      expect(await store.passkeys.recordUse({ id: counted.id, counter: 4, backedUp: false, now: T0 + 1 })).toBe(false)
      expect(await store.passkeys.recordUse({ id: counted.id, counter: 6, backedUp: true, now: T0 + 2 })).toBe(true)
      expect(await store.passkeys.findByCredentialId(counted.credentialId)).toMatchObject({ counter: 6, backedUp: true, lastUsedAt: T0 + 2 })

      const counterless = (await store.passkeys.create(newPasskey(owner)))!
      expect(await store.passkeys.recordUse({ id: counterless.id, counter: 0, backedUp: false, now: T0 + 3 })).toBe(true)
      expect(await store.passkeys.recordUse({ id: counterless.id, counter: 0, backedUp: false, now: T0 + 4 })).toBe(true)
      expect(await store.passkeys.findByCredentialId(counterless.credentialId)).toMatchObject({ counter: 0, lastUsedAt: T0 + 4 })
    })

    it('lets exactly one of several concurrent uses with the same counter win', async () => {
      const p = (await store.passkeys.create(newPasskey(await user(), { counter: 1 })))!
      const results = await Promise.all(Array.from({ length: 8 }, () => store.passkeys.recordUse({ id: p.id, counter: 2, backedUp: false, now: T0 + 1 })))
      expect(results.filter(Boolean)).toHaveLength(1)
    })

    it('keeps the first time a counter regression was flagged', async () => {
      const p = (await store.passkeys.create(newPasskey(await user())))!
      await store.passkeys.flagCounterRegression(p.id, T0 + 10)
      await store.passkeys.flagCounterRegression(p.id, T0 + 20)
      expect((await store.passkeys.findByCredentialId(p.credentialId))!.counterRegressedAt).toBe(T0 + 10)
    })

    it("renames and removes only the owner's passkey", async () => {
      const owner = await user()
      const stranger = await user()
      const p = (await store.passkeys.create(newPasskey(owner)))!
      expect(await store.passkeys.rename(stranger, p.id, 'mine now')).toBeNull()
      expect(await store.passkeys.rename(owner, p.id, 'Phone')).toMatchObject({ id: p.id, name: 'Phone' })
      expect(await store.passkeys.remove(stranger, p.id)).toBe(false)
      expect(await store.passkeys.remove(owner, p.id)).toBe(true)
      expect(await store.passkeys.remove(owner, p.id)).toBe(false)
      expect(await store.passkeys.findByCredentialId(p.credentialId)).toBeNull()
    })

    it('spends a challenge once; a second presentation is used, a late one expired, a stranger unknown', async () => {
      const owner = await user()
      const c = challenge({ purpose: 'register', userId: owner })
      await store.passkeys.issueChallenge(c)
      expect(await store.passkeys.consumeChallenge({ hash: c.hash, purpose: 'login', now: T0 + 1 })).toEqual({ outcome: 'wrong_purpose' })
      expect(await store.passkeys.consumeChallenge({ hash: c.hash, purpose: 'register', now: T0 + 1 })).toEqual({
        outcome: 'consumed',
        challenge: { ...c, consumedAt: T0 + 1 },
      })
      expect(await store.passkeys.consumeChallenge({ hash: c.hash, purpose: 'register', now: T0 + 2 })).toEqual({ outcome: 'used' })

      const late = challenge()
      await store.passkeys.issueChallenge(late)
      expect(await store.passkeys.consumeChallenge({ hash: late.hash, purpose: 'login', now: late.expiresAt })).toEqual({ outcome: 'expired' })
      expect(await store.passkeys.consumeChallenge({ hash: 'never-issued', purpose: 'login', now: T0 })).toEqual({ outcome: 'unknown' })
    })

    it('lets exactly one of several concurrent presentations of a challenge spend it', async () => {
      const c = challenge()
      await store.passkeys.issueChallenge(c)
      const outcomes = await Promise.all(Array.from({ length: 8 }, () => store.passkeys.consumeChallenge({ hash: c.hash, purpose: 'login', now: T0 + 1 })))
      expect(outcomes.filter((o) => o.outcome === 'consumed')).toHaveLength(1)
      expect(outcomes.filter((o) => o.outcome === 'used')).toHaveLength(7)
    })

    it('keeps the first decoy key offered, for every caller, concurrent ones included', async () => {
      const keys = await Promise.all(['a', 'b', 'c', 'd'].map((k) => store.passkeys.decoyKey(`candidate-${k}`)))
      expect(new Set(keys).size).toBe(1)
      expect(keys[0]).toMatch(/^candidate-[abcd]$/)
      expect(await store.passkeys.decoyKey('later')).toBe(keys[0])
    })
  })
}
