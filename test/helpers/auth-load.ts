import { randomBytes } from 'node:crypto'
import { PASSWORD } from './app.ts'
import { postJson } from './server-process.ts'

/**
 * Concurrent register → login → refresh → logout traffic against a live server, keeping a ledger of
 * what the server acknowledged with a 2xx. A request still in flight when the server dies was never
 * acknowledged: its session is marked ambiguous, since the server may or may not have committed it.
 */
export interface Ledger {
  /** Emails whose registration got a 201. */
  registered: string[]
  /** Refresh tokens whose rotation got a 200: they must never rotate again. */
  rotatedAway: string[]
  /** Refresh tokens whose logout got a 204: their session must stay revoked. */
  loggedOut: string[]
  /** The newest acknowledged refresh token of each session with nothing in flight: it must still rotate. */
  live: string[]
  /** Every status seen, for the no-5xx check. */
  statuses: Record<number, number>
  /** Requests that failed at the connection (the server was killed or stopping). */
  connectionErrors: number
  operations: number
}

export function emptyLedger(): Ledger {
  return { registered: [], rotatedAway: [], loggedOut: [], live: [], statuses: {}, connectionErrors: 0, operations: 0 }
}

/** Runs `workers` loops until `stop` aborts; returns when every loop has finished its last request. */
export async function runAuthLoad(baseUrl: string, ledger: Ledger, options: { workers: number; stop: AbortSignal; prefix?: string }): Promise<void> {
  const prefix = options.prefix ?? randomBytes(4).toString('hex')
  const call = async (path: string, body: unknown) => {
    ledger.operations++
    const res = await postJson(`${baseUrl}${path}`, body)
    if (!res) ledger.connectionErrors++
    else ledger.statuses[res.status] = (ledger.statuses[res.status] ?? 0) + 1
    return res
  }

  async function worker(w: number) {
    for (let i = 0; !options.stop.aborted; i++) {
      const email = `load-${prefix}-${w}-${i}@example.com`
      const reg = await call('/auth/register', { email, password: PASSWORD })
      if (reg?.status !== 201) continue
      ledger.registered.push(email)
      const login = await call('/auth/login', { email, password: PASSWORD })
      if (login?.status !== 200) continue
      let token = login.body.refresh_token!
      let settled = true
      for (let r = 0; r < 3 && !options.stop.aborted; r++) {
        settled = false
        const next = await call('/auth/refresh', { refresh_token: token })
        if (next?.status !== 200) break
        ledger.rotatedAway.push(token)
        token = next.body.refresh_token!
        settled = true
      }
      if (!settled) continue
      if (i % 2 === 0 && !options.stop.aborted) {
        const out = await call('/auth/logout', { refresh_token: token })
        if (out?.status === 204) ledger.loggedOut.push(token)
        continue
      }
      ledger.live.push(token)
    }
  }
  await Promise.all(Array.from({ length: options.workers }, (_, w) => worker(w)))
}

export interface LedgerCheck {
  loginsChecked: number
  rotatedChecked: number
  revokedChecked: number
  liveChecked: number
  failures: string[]
}

/** Proves every acknowledged operation against a (restarted) server. */
export async function verifyLedger(baseUrl: string, ledger: Ledger): Promise<LedgerCheck> {
  const failures: string[] = []
  const inBatches = async <T>(items: T[], fn: (item: T) => Promise<void>) => {
    for (let i = 0; i < items.length; i += 16) await Promise.all(items.slice(i, i + 16).map(fn))
  }
  await inBatches(ledger.registered, async (email) => {
    const res = await postJson(`${baseUrl}/auth/login`, { email, password: PASSWORD })
    if (res?.status !== 200) failures.push(`registered ${email} cannot log in: ${res?.status}`)
  })
  await inBatches(ledger.loggedOut, async (token) => {
    const res = await postJson(`${baseUrl}/auth/refresh`, { refresh_token: token })
    if (res?.status !== 401) failures.push(`logged-out session refreshed: ${res?.status}`)
  })
  // Live tokens before rotated-away ones: reusing a rotated token revokes its whole session.
  await inBatches(ledger.live, async (token) => {
    const res = await postJson(`${baseUrl}/auth/refresh`, { refresh_token: token })
    if (res?.status !== 200) failures.push(`acknowledged successor does not rotate: ${res?.status} ${res?.body.code}`)
  })
  await inBatches(ledger.rotatedAway, async (token) => {
    const res = await postJson(`${baseUrl}/auth/refresh`, { refresh_token: token })
    if (res?.status !== 401) failures.push(`rotated-away token rotated again: ${res?.status}`)
  })
  return {
    loginsChecked: ledger.registered.length,
    rotatedChecked: ledger.rotatedAway.length,
    revokedChecked: ledger.loggedOut.length,
    liveChecked: ledger.live.length,
    failures,
  }
}
