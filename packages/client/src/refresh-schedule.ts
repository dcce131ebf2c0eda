export interface RefreshScheduleOptions {
  /** Refresh this long before expiry (default 60 s)… */
  marginSeconds: number
  /** …minus a random part of this (default 10 s), so tabs and devices do not refresh in step. */
  jitterSeconds: number
  random: () => number
}

/**
 * Milliseconds from receiving a token that lives `expiresIn` seconds until its refresh: ahead of
 * expiry by the margin plus jitter, but never before half its life (short lifetimes).
 */
export function refreshDelayMs(expiresIn: number, { marginSeconds, jitterSeconds, random }: RefreshScheduleOptions): number {
  const ahead = marginSeconds + random() * jitterSeconds
  return Math.round(Math.max(expiresIn - ahead, expiresIn / 2) * 1000)
}

/** Waits between attempts at one refresh: short, since they must all land inside the grace window. */
export const RETRY_DELAYS_MS = [250, 1000, 2000, 3000] as const
