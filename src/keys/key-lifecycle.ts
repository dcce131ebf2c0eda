import type { Config } from '../config.ts'
import type { Manifest, ManifestEntry } from './key-files.ts'

/**
 * The key lifecycle as pure functions on the manifest: next → current → previous → retired.
 * The CLI generates key material and writes files; these functions only decide, so every rule about
 * timing lives here and is tested without a disk or a clock.
 *
 * Timing rules (docs/keys.md, "The timing rules"):
 * - a `next` key may start signing once every verifier has had a JWKS containing it: servers reload
 *   the key dir within `reloadInterval`, verifiers cache the JWKS for at most `jwksMaxAge`.
 * - a `previous` key may be retired once every token it signed has expired: servers may keep
 *   signing with it for up to `reloadInterval` after `rotate`, then a token lives `accessTokenTtl`,
 *   and verifiers accept it for `clockTolerance` more.
 * - `rotate` retires the previous keys that have reached that point, so the JWKS publishes only the
 *   keys that can still verify a live token; any other previous key stays published.
 */

/** Seconds. */
export interface LifecycleTiming {
  accessTokenTtl: number
  clockTolerance: number
  jwksMaxAge: number
  reloadInterval: number
}

export function lifecycleTiming(config: Config): LifecycleTiming {
  return {
    accessTokenTtl: config.accessTokenTtl,
    clockTolerance: config.clockTolerance,
    jwksMaxAge: config.jwksMaxAge,
    reloadInterval: config.keysReloadInterval,
  }
}

export type KeyLifecycleErrorCode =
  | 'no_current_key'
  | 'no_next_key'
  | 'next_key_too_new'
  | 'next_key_exists'
  | 'unknown_key'
  | 'ambiguous_key'
  | 'already_retired'
  | 'key_is_current'
  | 'key_still_valid'

export class KeyLifecycleError extends Error {
  override name = 'KeyLifecycleError'
  readonly code: KeyLifecycleErrorCode
  constructor(code: KeyLifecycleErrorCode, message: string) {
    super(message)
    this.code = code
  }
}

const addSeconds = (iso: string, seconds: number) => new Date(Date.parse(iso) + seconds * 1000)

/** When a `next` key may start signing without any verifier meeting a kid it has not fetched yet. */
export function signableAt(entry: ManifestEntry, timing: LifecycleTiming): Date {
  return addSeconds(entry.createdAt, timing.jwksMaxAge + timing.reloadInterval)
}

/**
 * When no token signed by the key can still be valid anywhere; null while it signs, once retired,
 * or when the manifest does not say when it stopped signing (only --force retires it then).
 */
export function retirableAt(entry: ManifestEntry, timing: LifecycleTiming): Date | null {
  switch (entry.state) {
    case 'next':
      return new Date(Date.parse(entry.createdAt))
    case 'previous':
      if (!entry.deactivatedAt) return null
      return addSeconds(entry.deactivatedAt, timing.reloadInterval + timing.accessTokenTtl + timing.clockTolerance)
    case 'current':
    case 'retired':
      return null
  }
}

/** Adds a freshly generated key: `next`, or `current` when nothing signs yet (a new deployment). */
export function addKey(manifest: Manifest, kid: string, now: Date, alg: ManifestEntry['alg'] = 'RS256'): { manifest: Manifest; state: 'next' | 'current' } {
  const at = now.toISOString()
  const next = manifest.keys.find((k) => k.state === 'next')
  if (next) {
    throw new KeyLifecycleError('next_key_exists', `key ${next.kid} is already waiting as next; rotate to it or retire it first`)
  }
  const state = manifest.keys.some((k) => k.state === 'current') ? 'next' : 'current'
  const entry: ManifestEntry = { kid, alg, state, createdAt: at, activatedAt: state === 'current' ? at : null, deactivatedAt: null, retiredAt: null }
  return { manifest: { ...manifest, keys: [...manifest.keys, entry] }, state }
}

export interface RotateResult {
  manifest: Manifest
  activated: string
  deactivated: string
  /** Previous keys whose tokens had all expired, retired by this rotation. */
  retired: string[]
}

/**
 * next → current, current → previous, `newNextKid` → next; expired previous keys → retired.
 * Refuses (unless forced) while the next key is younger than the JWKS caching window.
 */
export function rotate(manifest: Manifest, newNextKid: string, now: Date, timing: LifecycleTiming, options: { force?: boolean; alg?: ManifestEntry['alg'] } = {}): RotateResult {
  const current = manifest.keys.find((k) => k.state === 'current')
  if (!current) throw new KeyLifecycleError('no_current_key', 'no current key to rotate from; run `latchkey keys generate` to create the first one')
  const next = manifest.keys.find((k) => k.state === 'next')
  if (!next) {
    throw new KeyLifecycleError(
      'no_next_key',
      `no next key: run \`latchkey keys generate\`, then wait ${timing.jwksMaxAge + timing.reloadInterval} s (JWKS_MAX_AGE + KEYS_RELOAD_INTERVAL) so every verifier has it before it signs`,
    )
  }
  const ready = signableAt(next, timing)
  if (!options.force && now < ready) {
    throw new KeyLifecycleError(
      'next_key_too_new',
      `next key ${next.kid} was published at ${next.createdAt}; verifiers may not have it until ${ready.toISOString()} (JWKS_MAX_AGE + KEYS_RELOAD_INTERVAL). Rotate then, or use --force if the current key is compromised`,
    )
  }
  const at = now.toISOString()
  const retired: string[] = []
  const keys = manifest.keys.map((k): ManifestEntry => {
    if (k.kid === next.kid) return { ...k, state: 'current', activatedAt: at }
    if (k.kid === current.kid) return { ...k, state: 'previous', deactivatedAt: at }
    if (k.state === 'previous') {
      const safe = retirableAt(k, timing)
      if (safe && safe <= now) {
        retired.push(k.kid)
        return { ...k, state: 'retired', retiredAt: at }
      }
    }
    return k
  })
  keys.push({ kid: newNextKid, alg: options.alg ?? 'RS256', state: 'next', createdAt: at, activatedAt: null, deactivatedAt: null, retiredAt: null })
  return { manifest: { ...manifest, keys }, activated: next.kid, deactivated: current.kid, retired }
}

const MIN_KID_PREFIX = 6

/** Finds a key by its full kid or a unique prefix of at least six characters. */
export function findKey(manifest: Manifest, kidOrPrefix: string): ManifestEntry {
  const exact = manifest.keys.find((k) => k.kid === kidOrPrefix)
  if (exact) return exact
  const matches = kidOrPrefix.length >= MIN_KID_PREFIX ? manifest.keys.filter((k) => k.kid.startsWith(kidOrPrefix)) : []
  if (matches.length === 1) return matches[0] as ManifestEntry
  if (matches.length > 1) throw new KeyLifecycleError('ambiguous_key', `"${kidOrPrefix}" matches ${matches.length} keys; give more of the kid`)
  throw new KeyLifecycleError('unknown_key', `no key "${kidOrPrefix}" in the manifest (see \`latchkey keys list\`)`)
}

/**
 * Retires a key: unpublished and untrusted at once. Refuses the signing key always (rotate first),
 * and a previous key whose tokens can still be valid unless forced (a compromised key).
 */
export function retire(manifest: Manifest, kidOrPrefix: string, now: Date, timing: LifecycleTiming, options: { force?: boolean } = {}): { manifest: Manifest; kid: string } {
  const entry = findKey(manifest, kidOrPrefix)
  if (entry.state === 'retired') throw new KeyLifecycleError('already_retired', `key ${entry.kid} was retired at ${entry.retiredAt}`)
  if (entry.state === 'current') {
    throw new KeyLifecycleError(
      'key_is_current',
      `key ${entry.kid} is the current signing key; run \`latchkey keys rotate\` first (with --force if it is compromised), then retire it`,
    )
  }
  if (!options.force) {
    const safe = retirableAt(entry, timing)
    if (!safe) {
      throw new KeyLifecycleError('key_still_valid', `the manifest does not say when key ${entry.kid} stopped signing; use --force to retire it anyway`)
    }
    if (now < safe) {
      throw new KeyLifecycleError(
        'key_still_valid',
        `tokens signed by key ${entry.kid} can be valid until ${safe.toISOString()}; retire it then, or use --force if it is compromised (its tokens stop working at once)`,
      )
    }
  }
  const at = now.toISOString()
  const keys = manifest.keys.map((k): ManifestEntry => (k.kid === entry.kid ? { ...k, state: 'retired', retiredAt: at } : k))
  return { manifest: { ...manifest, keys }, kid: entry.kid }
}
