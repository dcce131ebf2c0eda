import { errorFromResponse } from './latchkey-error.ts'
import type { SessionManager } from './session-manager.ts'

/** A JSON call as the signed-in user: a problem becomes a typed error, 202/204 resolve null. */
export function createAuthJson(manager: SessionManager) {
  return async function authJson<T>(method: string, path: string, body?: unknown): Promise<T> {
    const init: RequestInit = { method }
    if (body !== undefined) {
      init.headers = { 'Content-Type': 'application/json' }
      init.body = JSON.stringify(body)
    }
    const res = await manager.authFetch(path, init)
    if (!res.ok) throw await errorFromResponse(res)
    return (res.status === 204 || res.status === 202 ? null : await res.json()) as T
  }
}
