import { createAccountApi } from './account-api.ts'
import { bodyDelivery, cookieDelivery, type DeliveryMode } from './delivery.ts'
import { createDpopSigner, defaultDpopKeyStore, type DpopKeyStore } from './dpop.ts'
import { asTokenResponse, createHttp } from './http.ts'
import { LatchkeyError } from './latchkey-error.ts'
import { throwIfMfaRequired } from './mfa-required.ts'
import { createMfaApi } from './mfa-api.ts'
import { createPasskeysApi } from './passkeys-api.ts'
import { createSessionManager } from './session-manager.ts'
import { systemClock } from './system-clock.ts'
import { browserTabPrimitives, createTabCoordinator, type ChannelLike, type LockManagerLike } from './tab-coordinator.ts'
import type { AuthListener, ClientClock, FetchLike, RefreshTokenStorage, Session } from './types.ts'

export interface LatchkeyClientOptions {
  /** Where Latchkey is, e.g. https://auth.example.com. */
  baseUrl: string
  /** `cookie` (default): browsers, refresh token in an HttpOnly cookie. `body`: apps, kept in `storage`. */
  mode?: DeliveryMode
  /** Body mode: where the refresh token is kept (secure storage on a device). */
  storage?: RefreshTokenStorage
  /** Body mode: the storage key (default "latchkey.refresh_token"). */
  storageKey?: string
  /** Refresh this many seconds before the access token expires (default 60)… */
  refreshMarginSeconds?: number
  /** …less a random part of this many seconds (default 10). */
  refreshJitterSeconds?: number
  /** The server's REFRESH_GRACE_PERIOD in seconds (default 10): how long a lost refresh may be retried. */
  refreshGraceSeconds?: number
  /**
   * Cross-tab coordination: Web Locks and a BroadcastChannel. Default: the page's own, in a browser;
   * none elsewhere. `false` turns it off.
   */
  tabs?: { locks?: LockManagerLike; channel?: ChannelLike } | false
  /** Name of the lock and channel (default: "latchkey:" + baseUrl). */
  tabsName?: string
  /**
   * DPoP (RFC 9449): bind the tokens to a non-extractable ES256 key and prove it on every token
   * request and protected call. `true` keeps the key in IndexedDB in browsers (a reload keeps the
   * binding) and in memory elsewhere; or give a `keyStore` (device secure storage, tests).
   */
  dpop?: boolean | { keyStore?: DpopKeyStore }
  /** This app's id, one of the server's CLIENT_IDS: sent as `client_id` and carried by its tokens (RFC 9068). */
  clientId?: string
  fetch?: FetchLike
  clock?: ClientClock
  random?: () => number
}

export type LatchkeyClient = ReturnType<typeof createLatchkeyClient>

/** A Latchkey session for one app: sign-in, a fresh access token on every call, events. */
export function createLatchkeyClient(options: LatchkeyClientOptions) {
  const mode = options.mode ?? 'cookie'
  if (mode === 'body' && !options.storage) throw new TypeError('body mode needs a storage for the refresh token')
  const delivery = mode === 'body' ? bodyDelivery(options.storage!, options.storageKey ?? 'latchkey.refresh_token') : cookieDelivery()
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const clock = options.clock ?? systemClock
  const dpopKeys = options.dpop ? ((options.dpop === true ? undefined : options.dpop.keyStore) ?? defaultDpopKeyStore(`latchkey-dpop:${options.baseUrl}`)) : undefined
  const http = createHttp(options.baseUrl, fetchImpl, delivery, dpopKeys && createDpopSigner(dpopKeys, clock), options.clientId)
  const manager = createSessionManager({
    http,
    delivery,
    clock,
    schedule: { marginSeconds: options.refreshMarginSeconds ?? 60, jitterSeconds: options.refreshJitterSeconds ?? 10, random: options.random ?? Math.random },
    graceMs: (options.refreshGraceSeconds ?? 10) * 1000,
    retryLaterMs: 15_000,
  })
  const name = options.tabsName ?? `latchkey:${options.baseUrl}`
  const tabs = options.tabs === false ? {} : (options.tabs ?? browserTabPrimitives(name))
  manager.setCoordinator(createTabCoordinator({ name, ...tabs, onMessage: manager.onTabMessage }))

  const exchange = (path: string, email: string, password: string) => async () => asTokenResponse(throwIfMfaRequired((await http.token(path, { email, password })).json))

  async function logout() {
    const presented = await delivery.presentation()
    if (presented) await http.token('/auth/logout', presented)
  }

  return {
    /** The current session (access token in memory), or null. */
    get session(): Session | null {
      return manager.session
    },
    get mode(): DeliveryMode {
      return mode
    },
    /** Calls `listener(event, session)` on signed_in, token_refreshed, signed_out, session_expired; returns an unsubscribe. */
    onAuthStateChange: (listener: AuthListener) => manager.onAuthStateChange(listener),

    /** POST /auth/register. When the server requires a verified email first, no session starts. */
    async signUp(email: string, password: string): Promise<{ verificationRequired: boolean }> {
      let pending = false
      await manager.signIn(async () => {
        const res = await http.token('/auth/register', { email, password })
        if (res.status === 202) {
          pending = true
          throw new LatchkeyError(202, 'email_not_verified', 'verify the email address, then sign in')
        }
        return asTokenResponse(res.json)
      }).catch((err: unknown) => {
        if (!pending) throw err
      })
      return { verificationRequired: pending }
    },
    /** POST /auth/login. An account with a second factor rejects with MfaRequiredError (no session yet). */
    signIn: (email: string, password: string) => manager.signIn(exchange('/auth/login', email, password)),
    /** POST /auth/login/mfa: completes a sign-in that rejected with MfaRequiredError, with a TOTP code or a recovery code. */
    completeMfaSignIn: (mfaToken: string, proof: { code: string } | { recoveryCode: string }) =>
      manager.signIn(async () =>
        asTokenResponse((await http.token('/auth/login/mfa', 'code' in proof ? { challenge: mfaToken, code: proof.code } : { challenge: mfaToken, recovery_code: proof.recoveryCode })).json),
      ),
    /**
     * Signs out: `local` (default) this device; `global` every device of the account; `others`
     * every device but this one (this one stays signed in). Other tabs follow at once.
     */
    async signOut({ scope = 'local' }: { scope?: 'local' | 'global' | 'others' } = {}): Promise<void> {
      if (scope === 'others') {
        const res = await manager.authFetch('/me/sessions?keep_current=true', { method: 'DELETE' })
        if (!res.ok) throw new LatchkeyError(res.status, 'unexpected_response', `HTTP ${res.status}`)
        return
      }
      try {
        if (scope === 'global' && manager.session) await manager.authFetch('/me/sessions', { method: 'DELETE' })
        // Also clears the cookie (cookie mode); a revoked session's logout still answers 204.
        await manager.exclusive(logout)
      } finally {
        await manager.end('signed_out')
      }
    },
    /** After an app start or page load: brings the session back from the cookie or storage. */
    async restore(): Promise<boolean> {
      if (manager.session) return true
      try {
        await manager.refresh()
        return true
      } catch (err) {
        if (err instanceof LatchkeyError && err.status === 401) return false
        throw err
      }
    },
    /** Rotates the refresh token now (the client also does this on its own ahead of expiry). */
    refresh: () => manager.refresh(),
    /** fetch with `Authorization: <token_type> <access token>`; relative paths are under baseUrl. */
    authFetch: (input: string | URL, init?: RequestInit) => manager.authFetch(input, init),
    ...createAccountApi(http, manager),
    ...createPasskeysApi(http, manager),
    ...createMfaApi(http, manager),
    /** Stops timers and the tab channel (tests, hot reload). */
    close: () => manager.stop(),
  }
}
