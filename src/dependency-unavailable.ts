/**
 * A shared dependency (the store, Redis) cannot answer right now. Adapters throw it instead of
 * their driver's connection errors; the error handler turns it into a 503 `service_unavailable`
 * with Retry-After, so clients back off and retry instead of seeing a 500 (DESIGN §8, issue 5).
 */
export class DependencyUnavailableError extends Error {
  readonly dependency: 'store' | 'redis'

  constructor(dependency: 'store' | 'redis', cause: unknown) {
    super(`${dependency} unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
    this.name = 'DependencyUnavailableError'
    this.dependency = dependency
  }
}

/** Seconds a client should wait before retrying while a dependency is down. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5
