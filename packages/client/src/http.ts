import type { Delivery } from './delivery.ts'
import type { DpopSigner } from './dpop.ts'
import { errorFromResponse, networkError } from './latchkey-error.ts'
import type { FetchLike, TokenResponse } from './types.ts'

export interface Http {
  url(path: string): string
  /**
   * A call to a token endpoint (/auth/…): delivery headers and credentials; JSON or null for 204.
   * `dpopAccessToken`: a DPoP-bound token the call also presents (step-up), sent with a proof for it.
   */
  token(path: string, body: Record<string, unknown> | null, headers?: Record<string, string>, dpopAccessToken?: string): Promise<{ status: number; json: unknown }>
  /** A public JSON call that needs no session (mail links, forgot password). */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: unknown }>
  fetch: FetchLike
  /** Proofs for this client when it uses DPoP: token calls carry one, and so do calls with a DPoP token. */
  dpop: DpopSigner | undefined
}

export function createHttp(baseUrl: string, fetchImpl: FetchLike, delivery: Delivery, dpop?: DpopSigner, clientId?: string): Http {
  const base = baseUrl.replace(/\/+$/, '')
  const url = (path: string) => (/^https?:\/\//i.test(path) ? path : `${base}${path}`)

  async function send(method: string, path: string, init: RequestInit, proved = false, accessToken?: string): Promise<{ status: number; json: unknown }> {
    let res: Response
    try {
      res = dpop && proved ? await dpop.fetch(fetchImpl, url(path), { ...init, method }, accessToken) : await fetchImpl(url(path), { ...init, method })
    } catch (err) {
      throw networkError(err)
    }
    if (!res.ok) throw await errorFromResponse(res)
    if (res.status === 204) return { status: 204, json: null }
    return { status: res.status, json: await res.json().catch(() => null) }
  }

  function jsonInit(body: unknown, headers: Record<string, string>): RequestInit {
    if (body === undefined || body === null) return { headers }
    return { headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify(body) }
  }

  return {
    url,
    fetch: fetchImpl,
    dpop,
    token(path, body, headers = {}, dpopAccessToken) {
      // The app's RFC 9068 client_id goes with every token call; the session keeps it.
      const full = clientId ? { ...body, client_id: clientId } : body
      return send('POST', path, { ...jsonInit(full && Object.keys(full).length ? full : null, { ...delivery.headers, ...headers }), credentials: delivery.credentials }, true, dpopAccessToken)
    },
    call: (method, path, body, headers = {}) => send(method, path, { ...jsonInit(body, headers), credentials: 'omit' }),
  }
}

export function asTokenResponse(json: unknown): TokenResponse {
  const t = json as Partial<TokenResponse> | null
  if (!t || typeof t.access_token !== 'string' || typeof t.expires_in !== 'number') {
    throw new Error('Latchkey answered without an access token')
  }
  return t as TokenResponse
}
