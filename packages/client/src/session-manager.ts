import type { Delivery } from './delivery.ts'
import { asTokenResponse, type Http } from './http.ts'
import { isTransient, LatchkeyError, readProblem } from './latchkey-error.ts'
import { refreshDelayMs, RETRY_DELAYS_MS, type RefreshScheduleOptions } from './refresh-schedule.ts'
import type { TabCoordinator, TabMessage } from './tab-coordinator.ts'
import type { AuthEvent, AuthListener, ClientClock, Session, TokenResponse } from './types.ts'

export interface SessionManagerDeps {
  http: Http
  delivery: Delivery
  clock: ClientClock
  schedule: RefreshScheduleOptions
  /** The server's REFRESH_GRACE_PERIOD in ms: retries of one refresh stop before it closes. */
  graceMs: number
  /** Delay before a scheduled refresh that failed transiently is tried again. */
  retryLaterMs: number
}

/** An access token this close to expiry is refreshed before use rather than sent. */
const EXPIRY_SKEW_MS = 5_000

export type SessionManager = ReturnType<typeof createSessionManager>

/**
 * The session state machine: holds the access token in memory, refreshes ahead of expiry, one
 * refresh at a time (in this tab and, through the coordinator, across tabs), and tells listeners.
 */
export function createSessionManager(deps: SessionManagerDeps) {
  const { http, delivery, clock } = deps
  let session: Session | null = null
  // Bumped whenever the token changes, here or from another tab: a refresh that waited for the
  // lock and sees it moved uses the new token instead of spending the refresh token again.
  let generation = 0
  let timer: unknown
  let inFlight: Promise<Session> | null = null
  let coordinator: TabCoordinator | null = null
  const listeners = new Set<AuthListener>()

  function emit(event: AuthEvent) {
    for (const listener of [...listeners]) {
      try {
        listener(event, session)
      } catch {
        // A failing listener must not break the session or starve the others.
      }
    }
  }

  function schedule(delayMs: number) {
    clock.clearTimeout(timer)
    timer = clock.setTimeout(() => {
      refresh().catch((err: unknown) => {
        if (isTransient(err) && session) schedule(deps.retryLaterMs)
      })
    }, delayMs)
  }

  function adopt(next: Session, event: AuthEvent) {
    session = next
    generation++
    schedule(refreshDelayMs((next.expiresAt - clock.now()) / 1000, deps.schedule))
    emit(event)
  }

  async function accept(tokens: TokenResponse, event: 'signed_in' | 'token_refreshed'): Promise<Session> {
    await delivery.keep(tokens)
    const next: Session = {
      accessToken: tokens.access_token,
      tokenType: tokens.token_type || 'Bearer',
      expiresAt: clock.now() + tokens.expires_in * 1000,
      scope: tokens.scope ?? '',
    }
    adopt(next, event)
    coordinator?.publish({ type: 'session', event, session: next })
    return next
  }

  async function end(event: 'signed_out' | 'session_expired', { broadcast = true } = {}) {
    const wasSignedIn = session !== null
    session = null
    generation++
    clock.clearTimeout(timer)
    await delivery.forget().catch(() => {})
    // Only a tab that was signed in speaks for the session: a failed restore elsewhere is no news.
    if (broadcast && wasSignedIn) coordinator?.publish({ type: 'ended', event })
    if (wasSignedIn) emit(event)
  }

  function onTabMessage(message: TabMessage) {
    if (message.type === 'ended') {
      if (!session) return
      session = null
      generation++
      clock.clearTimeout(timer)
      emit(message.event)
      return
    }
    // An older token than ours (messages can cross) is ignored.
    if (session && message.session.expiresAt <= session.expiresAt) return
    adopt(message.session, session ? 'token_refreshed' : 'signed_in')
  }

  const sleep = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms))

  /**
   * POST /auth/refresh with one refresh token. A lost response or a 5xx/429 is retried with the
   * same token, but only while the server's grace window is open: inside it a retry of the token
   * just rotated gets the same result; after it, the retry would count as reuse and end the session.
   */
  async function refreshOnce(): Promise<TokenResponse> {
    const presented = await delivery.presentation()
    if (!presented) throw new LatchkeyError(401, 'invalid_refresh_token', 'not signed in: no refresh token is stored')
    const started = clock.now()
    for (let attempt = 0; ; attempt++) {
      try {
        return asTokenResponse((await http.token('/auth/refresh', presented)).json)
      } catch (err) {
        const wait = RETRY_DELAYS_MS[attempt]
        if (!isTransient(err) || wait === undefined || clock.now() + wait - started >= deps.graceMs - 1000) throw err
        await sleep(wait)
      }
    }
  }

  /** A fresh access token; concurrent callers share one refresh. */
  function refresh(): Promise<Session> {
    inFlight ??= (async () => {
      const seen = generation
      try {
        return await (coordinator ?? noCoordinator).exclusive(async () => {
          if (generation !== seen && session && !nearExpiry(session)) return session
          const wasSignedIn = session !== null
          return accept(await refreshOnce(), wasSignedIn ? 'token_refreshed' : 'signed_in')
        })
      } catch (err) {
        if (sessionIsOver(err)) await end('session_expired')
        throw err
      }
    })().finally(() => {
      inFlight = null
    })
    return inFlight
  }

  const nearExpiry = (s: Session) => s.expiresAt - clock.now() < EXPIRY_SKEW_MS

  /**
   * fetch with the access token. On 401 `token_expired` it refreshes once and repeats the call;
   * other 401s are returned as they are (a refresh would not help), and `session_revoked` ends the
   * session here too.
   */
  async function authFetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
    let current = session
    if (!current) throw new LatchkeyError(401, 'missing_token', 'not signed in')
    if (nearExpiry(current)) current = await refresh()
    const send = (s: Session) => {
      // A DPoP-bound token goes with a proof of the key, bound to it by `ath`.
      if (http.dpop && s.tokenType.toLowerCase() === 'dpop') return http.dpop.fetch(http.fetch, http.url(String(input)), init, s.accessToken)
      const headers = new Headers(init.headers)
      headers.set('Authorization', `${s.tokenType} ${s.accessToken}`)
      return http.fetch(http.url(String(input)), { ...init, headers })
    }
    const res = await send(current)
    if (res.status !== 401) return res
    const code = (await readProblem(res.clone()))?.code
    if (code === 'token_expired') {
      // Someone may have refreshed while this call was out: use that token rather than refresh again.
      const latest = session && session.accessToken !== current.accessToken ? session : await refresh()
      return send(latest)
    }
    if (code === 'session_revoked') await end('session_expired')
    return res
  }

  return {
    get session() {
      return session
    },
    setCoordinator(c: TabCoordinator) {
      coordinator = c
    },
    onTabMessage,
    onAuthStateChange(listener: AuthListener): () => void {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    /** Runs a sign-in (or sign-up) exchange under the cross-tab lock and takes its tokens. */
    async signIn(exchange: () => Promise<TokenResponse>): Promise<Session> {
      return (coordinator ?? noCoordinator).exclusive(async () => accept(await exchange(), 'signed_in'))
    },
    refresh,
    authFetch,
    end,
    /** Runs `fn` under the cross-tab lock (sign-out must not race a refresh of the same token). */
    exclusive: <T>(fn: () => Promise<T>) => (coordinator ?? noCoordinator).exclusive(fn),
    stop() {
      clock.clearTimeout(timer)
      coordinator?.close()
    },
  }
}

const noCoordinator: Pick<TabCoordinator, 'exclusive'> = { exclusive: (fn) => fn() }

/** A refresh failure that means the session is gone for good: signed out, revoked, expired, disabled. */
function sessionIsOver(err: unknown): boolean {
  return err instanceof LatchkeyError && (err.status === 401 || err.code === 'account_disabled')
}
