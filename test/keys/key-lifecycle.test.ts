import { describe, expect, it } from 'vitest'
import type { Manifest } from '../../src/keys/key-files.ts'
import { addKey, KeyLifecycleError, retirableAt, retire, rotate, signableAt, type LifecycleTiming } from '../../src/keys/key-lifecycle.ts'

const timing: LifecycleTiming = { accessTokenTtl: 600, clockTolerance: 30, jwksMaxAge: 300, reloadInterval: 30 }
const kid = (c: string) => c.repeat(43)
const t = (seconds: number) => new Date(Date.parse('2026-01-01T00:00:00Z') + seconds * 1000)
const empty: Manifest = { version: 1, keys: [] }

function codeOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof KeyLifecycleError) return err.code
    throw err
  }
  return 'no error'
}

/** A: current since t(0); B: next since t(0). */
function twoKeys(): Manifest {
  const a = addKey(empty, kid('A'), t(0))
  return addKey(a.manifest, kid('B'), t(0)).manifest
}

describe('key lifecycle', () => {
  it('the first generated key signs at once; later ones wait as next', () => {
    const first = addKey(empty, kid('A'), t(0))
    expect(first.state).toBe('current')
    expect(first.manifest.keys[0]).toMatchObject({ state: 'current', activatedAt: t(0).toISOString() })
    const second = addKey(first.manifest, kid('B'), t(5))
    expect(second.state).toBe('next')
    expect(second.manifest.keys[1]).toMatchObject({ state: 'next', activatedAt: null, createdAt: t(5).toISOString() })
  })

  it('refuses a second next key', () => {
    expect(codeOf(() => addKey(twoKeys(), kid('C'), t(1)))).toBe('next_key_exists')
  })

  it('rotate moves next → current, current → previous and adds a new next', () => {
    const r = rotate(twoKeys(), kid('C'), t(330), timing)
    expect(r).toMatchObject({ activated: kid('B'), deactivated: kid('A'), retired: [] })
    expect(r.manifest.keys.map((k) => [k.kid[0], k.state])).toEqual([['A', 'previous'], ['B', 'current'], ['C', 'next']])
    expect(r.manifest.keys[0]?.deactivatedAt).toBe(t(330).toISOString())
    expect(r.manifest.keys[1]?.activatedAt).toBe(t(330).toISOString())
  })

  it('rotate refuses a next key younger than JWKS_MAX_AGE + KEYS_RELOAD_INTERVAL unless forced', () => {
    expect(signableAt(twoKeys().keys[1]!, timing)).toEqual(t(330))
    expect(codeOf(() => rotate(twoKeys(), kid('C'), t(329), timing))).toBe('next_key_too_new')
    expect(rotate(twoKeys(), kid('C'), t(1), timing, { force: true }).activated).toBe(kid('B'))
  })

  it('rotate refuses without a next key, and without a current key', () => {
    expect(codeOf(() => rotate(addKey(empty, kid('A'), t(0)).manifest, kid('C'), t(999), timing))).toBe('no_next_key')
    expect(codeOf(() => rotate(empty, kid('C'), t(999), timing))).toBe('no_current_key')
  })

  it('a previous key stays published until its last token expired, and rotate then retires it', () => {
    const once = rotate(twoKeys(), kid('C'), t(330), timing).manifest
    // A stopped signing at 330; servers may sign with it until 360; its tokens live until 960, +30 s tolerance.
    expect(retirableAt(once.keys[0]!, timing)).toEqual(t(990))
    const soon = rotate(once, kid('D'), t(700), timing)
    expect(soon.retired).toEqual([])
    expect(soon.manifest.keys.filter((k) => k.state === 'previous').map((k) => k.kid[0])).toEqual(['A', 'B'])
    const later = rotate(soon.manifest, kid('E'), t(1100), timing)
    expect(later.retired).toEqual([kid('A')])
    expect(later.manifest.keys.map((k) => [k.kid[0], k.state])).toEqual([
      ['A', 'retired'], ['B', 'previous'], ['C', 'previous'], ['D', 'current'], ['E', 'next'],
    ])
  })

  it('retire refuses a previous key whose tokens can still be valid, unless forced', () => {
    const once = rotate(twoKeys(), kid('C'), t(330), timing).manifest
    expect(codeOf(() => retire(once, kid('A'), t(989), timing))).toBe('key_still_valid')
    expect(retire(once, kid('A'), t(990), timing).manifest.keys[0]).toMatchObject({ state: 'retired', retiredAt: t(990).toISOString() })
    expect(retire(once, kid('A'), t(331), timing, { force: true }).manifest.keys[0]?.state).toBe('retired')
  })

  it('retire never takes the signing key, even forced; a next key retires at once', () => {
    expect(codeOf(() => retire(twoKeys(), kid('A'), t(99999), timing, { force: true }))).toBe('key_is_current')
    expect(retire(twoKeys(), kid('B'), t(1), timing).manifest.keys[1]?.state).toBe('retired')
  })

  it('retire finds a key by a unique prefix and refuses unknown, ambiguous and retired keys', () => {
    const m = twoKeys()
    expect(retire(m, 'BBBBBB', t(1), timing).kid).toBe(kid('B'))
    expect(codeOf(() => retire(m, 'BBB', t(1), timing))).toBe('unknown_key')
    expect(codeOf(() => retire(m, kid('Z'), t(1), timing))).toBe('unknown_key')
    const twins: Manifest = { version: 1, keys: [...m.keys, { ...m.keys[1]!, kid: `${'B'.repeat(42)}x`, state: 'previous' }] }
    expect(codeOf(() => retire(twins, 'BBBBBBBB', t(1), timing))).toBe('ambiguous_key')
    const gone = retire(m, kid('B'), t(1), timing).manifest
    expect(codeOf(() => retire(gone, kid('B'), t(2), timing))).toBe('already_retired')
  })

  it('a previous key with no record of when it stopped signing needs --force', () => {
    const m: Manifest = { version: 1, keys: [{ kid: kid('A'), alg: 'RS256', state: 'previous', createdAt: t(0).toISOString(), activatedAt: t(0).toISOString(), deactivatedAt: null, retiredAt: null }] }
    expect(codeOf(() => retire(m, kid('A'), t(99999), timing))).toBe('key_still_valid')
    expect(retire(m, kid('A'), t(99999), timing, { force: true }).kid).toBe(kid('A'))
  })
})
