import type { Clock } from '@latchkey/verifier'

/** Time as the app sees it (the verifier package's Clock); injected so tests can fix or move it. */
export { systemClock, type Clock } from '@latchkey/verifier'

/** A clock tests move by hand. */
export function createFixedClock(start: number): Clock & { set(ms: number): void; advance(ms: number): void } {
  let t = start
  return {
    now: () => t,
    set: (ms) => {
      t = ms
    },
    advance: (ms) => {
      t += ms
    },
  }
}
