// A browser client for Latchkey in cookie mode. The access token lives only in this module's
// memory; the refresh token lives only in an HttpOnly cookie that script can never read.

/** Asks Latchkey for cookie delivery; also the custom header its CSRF defence requires. */
const COOKIE_MODE = { 'X-Latchkey-Refresh': 'cookie' }

export class LatchkeyError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? `HTTP ${status}`)
    this.status = status
    this.code = problem?.code ?? 'network_error'
  }
}

async function problemOf(res) {
  try {
    return await res.json()
  } catch {
    return null
  }
}

/**
 * @param {{ baseUrl: string, refreshMarginSeconds?: number, onChange?: () => void }} options
 */
export function createLatchkeyClient({ baseUrl, refreshMarginSeconds = 60, onChange = () => {} }) {
  let accessToken = null
  let expiresAt = 0
  let refreshTimer = null
  let inFlightRefresh = null
  let refreshes = 0

  function accept(tokens) {
    accessToken = tokens.access_token
    expiresAt = Date.now() + tokens.expires_in * 1000
    clearTimeout(refreshTimer)
    // Refresh ahead of expiry so API calls never meet an expired token; never sooner than half-life.
    const delay = Math.max(tokens.expires_in - refreshMarginSeconds, tokens.expires_in / 2) * 1000
    refreshTimer = setTimeout(() => refresh().catch(() => {}), delay)
    onChange()
  }

  function forget() {
    accessToken = null
    expiresAt = 0
    clearTimeout(refreshTimer)
    onChange()
  }

  // Token endpoints: credentials 'include' so the refresh cookie is stored and sent cross-origin.
  async function tokenRequest(path, body) {
    const headers = { ...COOKIE_MODE }
    if (body) headers['Content-Type'] = 'application/json'
    const res = await fetch(`${baseUrl}${path}`, {
      method: 'POST',
      credentials: 'include',
      headers,
      body: body ? JSON.stringify(body) : undefined,
    })
    if (!res.ok) throw new LatchkeyError(res.status, await problemOf(res))
    return res.status === 204 ? null : res.json()
  }

  /** Rotates the cookie for a fresh access token; concurrent callers in this tab share one request. */
  function refresh() {
    inFlightRefresh ??= tokenRequest('/auth/refresh')
      .then((tokens) => {
        refreshes += 1
        accept(tokens)
        return true
      })
      .catch((err) => {
        // 401: the session is over (signed out elsewhere, revoked, expired). Anything else: keep state.
        if (err instanceof LatchkeyError && err.status === 401) forget()
        throw err
      })
      .finally(() => {
        inFlightRefresh = null
      })
    return inFlightRefresh
  }

  /**
   * A bearer call. On a 401 (token expired, or its session revoked, which revocation-checked routes
   * notice at once) the cookie gets one chance to refresh; if that fails too, the tab is signed out.
   */
  async function api(path, init = {}, retried = false) {
    if (!accessToken) throw new LatchkeyError(401, { code: 'missing_token', detail: 'not signed in' })
    const res = await fetch(`${baseUrl}${path}`, {
      ...init,
      headers: { ...init.headers, Authorization: `Bearer ${accessToken}` },
    })
    if (res.status === 401 && !retried) {
      await refresh()
      return api(path, init, true)
    }
    if (!res.ok) throw new LatchkeyError(res.status, await problemOf(res))
    return res.status === 204 ? null : res.json()
  }

  return {
    get signedIn() {
      return accessToken !== null
    },
    get expiresAt() {
      return expiresAt
    },
    get refreshes() {
      return refreshes
    },
    async signUp(email, password) {
      accept(await tokenRequest('/auth/register', { email, password }))
    },
    async signIn(email, password) {
      accept(await tokenRequest('/auth/login', { email, password }))
    },
    /** After a page load: the cookie alone restores the session, or says there is none. */
    async restore() {
      try {
        return await refresh()
      } catch (err) {
        if (err instanceof LatchkeyError && err.status === 401) return false
        throw err
      }
    },
    refresh,
    async signOut() {
      try {
        await tokenRequest('/auth/logout')
      } finally {
        forget()
      }
    },
    me: () => api('/me'),
    listSessions: async () => (await api('/me/sessions')).sessions,
    revokeSession: (id) => api(`/me/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' }),
  }
}
