/** RFC 6749 §5.1 token response; in cookie mode `refresh_token` is absent (it is in the HttpOnly cookie). */
export interface TokenResponse {
  access_token: string
  /** "Bearer", or "DPoP" for a sender-constrained token: sent as the Authorization scheme. */
  token_type: string
  expires_in: number
  refresh_token?: string
  refresh_expires_in?: number
  scope?: string
}

/** What the app sees of the current session. The refresh token is never part of it. */
export interface Session {
  accessToken: string
  tokenType: string
  /** Epoch milliseconds by the client's clock. */
  expiresAt: number
  scope: string
}

export type AuthEvent = 'signed_in' | 'token_refreshed' | 'signed_out' | 'session_expired'

export type AuthListener = (event: AuthEvent, session: Session | null) => void

/** Time and timers, injected so tests can drive them. */
export interface ClientClock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/**
 * Where body mode keeps the refresh token: localStorage, AsyncStorage, a wrapper over the
 * Keychain/Keystore (expo-secure-store, react-native-keychain). Sync or async.
 */
export interface RefreshTokenStorage {
  getItem(key: string): string | null | undefined | Promise<string | null | undefined>
  setItem(key: string, value: string): void | Promise<void>
  removeItem(key: string): void | Promise<void>
}

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

export interface SessionView {
  id: string
  created_at: string
  last_used_at: string
  expires_at: string
  user_agent: string | null
  ip: string | null
  current: boolean
}

/** One of the signed-in user's passkeys (GET /me/passkeys). */
export interface PasskeyView {
  id: string
  name: string
  created_at: string
  last_used_at: string | null
  transports: string[]
  backed_up: boolean
  device_type: 'single_device' | 'multi_device'
  counter_regressed_at: string | null
}

export interface Me {
  id: string
  email: string
  created_at: string
  scope: string
  email_verified?: boolean
}
