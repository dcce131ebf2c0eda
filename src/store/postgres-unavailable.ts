import { DependencyUnavailableError } from '../dependency-unavailable.ts'

// Socket-level failures: the server is down, restarting, unreachable or cut off mid-query.
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
])

// SQLSTATEs that say "not now" rather than "wrong query": connection exceptions (class 08),
// shutdown and startup (57P01-57P03), and a full connection table (53300).
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300'])

// pg and pg-pool report these as plain Errors with no code.
const UNAVAILABLE_MESSAGES = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect/,
  /is not queryable/,
]

/** True when `err` means PostgreSQL cannot be reached right now (retrying later may succeed). */
export function isPostgresUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const code = (err as Error & { code?: unknown }).code
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true
  }
  // Node's happy-eyeballs connect reports one error per address it tried.
  if (err instanceof AggregateError && err.errors.some(isPostgresUnavailable)) return true
  return UNAVAILABLE_MESSAGES.some((re) => re.test(err.message))
}

/**
 * Wraps every async method of `store` so a connection failure surfaces as a
 * DependencyUnavailableError (a 503 to clients) instead of a driver error (a 500). Methods added to
 * the store later are covered without further change.
 */
export function withUnavailableErrors<T extends object>(store: T, isUnavailable: (err: unknown) => boolean): T {
  const wrapped = { ...store } as Record<string, unknown>
  for (const [name, value] of Object.entries(store)) {
    if (typeof value !== 'function') continue
    const method = value as (...args: unknown[]) => Promise<unknown>
    wrapped[name] = async (...args: unknown[]) => {
      try {
        return await method.apply(store, args)
      } catch (err) {
        throw isUnavailable(err) ? new DependencyUnavailableError('store', err) : err
      }
    }
  }
  return wrapped as T
}
