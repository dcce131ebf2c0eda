import type { VerificationKey } from './algorithms.ts'
import type { Clock } from './clock.ts'
import { fetchJwks, importJwks, JwksError } from './fetch-jwks.ts'

/**
 * The resource server's copy of Latchkey's public keys. Refreshed on a timer (so retired keys drop
 * out) and on demand when a token names an unknown kid (so a newly published key works at once) —
 * but at most one unknown-kid fetch per cooldown, shared by every request that asks meanwhile, so
 * a flood of junk kids cannot turn into a fetch storm against the issuer. Any failed fetch keeps the last good
 * keys.
 */

export interface JwksKeySourceOptions {
  jwksUrl: string
  clock: Clock
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void }
  refreshIntervalMs: number
  unknownKidCooldownMs: number
  fetchTimeoutMs: number
  maxJwksBytes: number
  fetch?: typeof fetch
}

export interface JwksKeySource {
  /** The keys in force; read once per verification. */
  readonly keys: ReadonlyMap<string, VerificationKey>
  /** Fetches now (sharing a fetch already in flight); true when the keys are fresh. */
  refresh(reason: string): Promise<boolean>
  /** A fetch for an unknown kid, or null while the cooldown since the last fetch lasts. */
  refreshForUnknownKid(): Promise<boolean> | null
  /** First fetch and the refresh timer. A failed first fetch is logged; unknown kids retry it. */
  start(): Promise<void>
  close(): void
}

export function createJwksKeySource(options: JwksKeySourceOptions): JwksKeySource {
  const { clock, logger } = options
  let imported: ReturnType<typeof importJwks> = new Map()
  let keys: ReadonlyMap<string, VerificationKey> = new Map()
  let inFlight: Promise<boolean> | null = null
  // Only unknown-kid fetches start the cooldown: a key published just after a periodic fetch must
  // not wait a whole cooldown, and junk kids can still cause at most one fetch per cooldown.
  let lastUnknownKidFetchAt = Number.NEGATIVE_INFINITY
  let timer: NodeJS.Timeout | undefined

  async function load(reason: string): Promise<boolean> {
    try {
      const entries = await fetchJwks({ url: options.jwksUrl, timeoutMs: options.fetchTimeoutMs, maxBytes: options.maxJwksBytes, fetch: options.fetch })
      const next = importJwks(entries, imported)
      const before = [...keys.keys()].sort().join(',')
      imported = next
      keys = new Map([...next].map(([kid, k]) => [kid, k.key]))
      const after = [...keys.keys()].sort().join(',')
      if (before !== after) logger.info({ reason, kids: [...keys.keys()] }, 'JWKS keys updated')
      return true
    } catch (err) {
      const code = err instanceof JwksError ? err.code : 'unexpected'
      logger.warn({ reason, code, error: (err as Error).message, kept: keys.size }, 'JWKS refresh failed; keeping the last good keys')
      return false
    }
  }

  function refresh(reason: string): Promise<boolean> {
    if (inFlight) return inFlight
    inFlight = load(reason).finally(() => {
      inFlight = null
    })
    return inFlight
  }

  return {
    get keys() {
      return keys
    },
    refresh,
    refreshForUnknownKid() {
      if (inFlight) return inFlight
      if (clock.now() - lastUnknownKidFetchAt < options.unknownKidCooldownMs) return null
      lastUnknownKidFetchAt = clock.now()
      return refresh('unknown kid')
    },
    async start() {
      await refresh('start')
      timer = setInterval(() => void refresh('periodic'), options.refreshIntervalMs)
      timer.unref()
    },
    close() {
      clearInterval(timer)
    },
  }
}
