// @fastify/rate-limit ships its stores as plain CommonJS without typings; rate-limit-store.ts reuses
// them (the Redis Lua script and the LRU window) instead of re-implementing them.
declare module '@fastify/rate-limit/store/*.js' {
  type IncrCallback = (err: Error | null, result?: { current: number; ttl: number }) => void
  class CounterStore {
    constructor(continueExceeding: boolean, exponentialBackoff: boolean, ...rest: unknown[])
    incr(key: string, callback: IncrCallback, timeWindow: number, max: number): void
  }
  export default CounterStore
}
