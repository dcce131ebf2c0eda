import type { RefreshTokenStorage, TokenResponse } from './types.ts'

/** How the refresh token travels: `cookie` (browsers, HttpOnly cookie) or `body` (apps, injected storage). */
export type DeliveryMode = 'cookie' | 'body'

export interface Delivery {
  mode: DeliveryMode
  /** Headers for the token endpoints. */
  headers: Record<string, string>
  credentials: RequestCredentials
  /** The body proving the session; null when there is nothing to present (not signed in). */
  presentation(): Promise<Record<string, string> | null>
  /** Keeps the rotated refresh token; resolves before the next refresh may read it. */
  keep(tokens: TokenResponse): Promise<void>
  forget(): Promise<void>
}

/**
 * Cookie mode: the refresh token is set and read by the browser alone. The header asks Latchkey for
 * cookie delivery and is also the custom header its CSRF defence requires.
 */
export function cookieDelivery(): Delivery {
  return {
    mode: 'cookie',
    headers: { 'X-Latchkey-Refresh': 'cookie' },
    // Sent and stored cross-origin too (SPA and API on different origins of one site).
    credentials: 'include',
    presentation: async () => ({}),
    keep: async () => {},
    forget: async () => {},
  }
}

/** Body mode: the refresh token is in the JSON body and kept in `storage` under `key`. */
export function bodyDelivery(storage: RefreshTokenStorage, key: string): Delivery {
  return {
    mode: 'body',
    headers: {},
    // A stray cookie must not be sent: Latchkey would then demand the CSRF header.
    credentials: 'omit',
    async presentation() {
      const token = await storage.getItem(key)
      return token ? { refresh_token: token } : null
    },
    async keep(tokens) {
      if (tokens.refresh_token) await storage.setItem(key, tokens.refresh_token)
    },
    async forget() {
      await storage.removeItem(key)
    },
  }
}

/** A RefreshTokenStorage in memory: tests, or an app that signs in again at every start. */
export function memoryStorage(): RefreshTokenStorage {
  const items = new Map<string, string>()
  return {
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => void items.set(key, value),
    removeItem: (key) => void items.delete(key),
  }
}
