import type { ClientClock, FetchLike } from '@latchkey/client'
import type { TestApp } from '../helpers/app.ts'

/**
 * Timers on the test app's fixed clock: advancing it moves the server's time and runs the client's
 * due timers in order, letting each one's promise work settle before the next.
 */
export function createManualClock(t: TestApp, busy: () => boolean = () => false): ClientClock & { advance(ms: number): Promise<void>; pending(): number } {
  let seq = 0
  const timers = new Map<number, { at: number; fn: () => void }>()
  // Settles the client's promise work, including requests still in the server.
  const flush = async () => {
    for (let quiet = 0; quiet < 10; ) {
      await new Promise((resolve) => setImmediate(resolve))
      quiet = busy() ? 0 : quiet + 1
    }
  }
  return {
    now: () => t.clock.now(),
    setTimeout(fn, ms) {
      const id = ++seq
      timers.set(id, { at: t.clock.now() + Math.max(0, ms), fn })
      return id
    },
    clearTimeout(handle) {
      timers.delete(handle as number)
    },
    pending: () => timers.size,
    async advance(ms) {
      const end = t.clock.now() + ms
      await flush()
      for (;;) {
        const due = [...timers.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0]
        if (!due) break
        timers.delete(due[0])
        t.clock.set(Math.max(t.clock.now(), due[1].at))
        due[1].fn()
        await flush()
      }
      t.clock.set(end)
      await flush()
    },
  }
}

export interface SeenCall {
  method: string
  path: string
  status: number | 'lost' | 'refused'
}

/**
 * fetch over the test app's in-process server (app.inject, contract-checked): the real routes,
 * services and store. `lose` drops the response of a matching request after the server handled it,
 * as a broken connection would.
 */
export interface InjectFetchOptions {
  /** The server handles the request, then its response is lost. */
  lose?: (call: { method: string; path: string }, n: number) => boolean
  /** The request never reaches the server. */
  refuse?: (call: { method: string; path: string }) => boolean
}

export function injectFetch(t: TestApp, options: InjectFetchOptions = {}) {
  const calls: SeenCall[] = []
  let n = 0
  let inflight = 0
  const fetch: FetchLike = async (input, init = {}) => {
    inflight++
    try {
      return await send(input, init)
    } finally {
      inflight--
    }
  }
  const send: FetchLike = async (input, init = {}) => {
    const url = new URL(String(input))
    const method = (init.method ?? 'GET').toUpperCase()
    const headers: Record<string, string> = {}
    new Headers(init.headers).forEach((value, key) => (headers[key] = value))
    const call0 = { method, path: url.pathname + url.search }
    if (options.refuse?.(call0)) {
      calls.push({ ...call0, status: 'refused' })
      throw new TypeError('fetch failed: connection refused')
    }
    const res = await t.inject({ method: method as 'GET', url: url.pathname + url.search, headers, ...(init.body ? { payload: String(init.body) } : {}) })
    const call = { method, path: url.pathname + url.search }
    if (options.lose?.(call, n++)) {
      calls.push({ ...call, status: 'lost' })
      throw new TypeError('fetch failed: connection reset')
    }
    calls.push({ ...call, status: res.statusCode })
    const out = new Headers()
    for (const [key, value] of Object.entries(res.headers)) if (value !== undefined) out.set(key, Array.isArray(value) ? value.join(', ') : String(value))
    const nullBody = res.statusCode === 204 || res.statusCode === 205 || res.statusCode === 304
    return new Response(nullBody ? null : res.rawPayload, { status: res.statusCode, headers: out })
  }
  return { fetch, calls, busy: () => inflight > 0, paths: () => calls.map((c) => `${c.method} ${c.path} ${c.status}`) }
}
