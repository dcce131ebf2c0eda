import type { EventEmitter } from 'node:events'
import autocannon, { type Client, type Request, type Result } from 'autocannon'
import { cpuMicros } from './processes.ts'

/** One autocannon run against a loopback URL; latencies recorded here at sub-millisecond precision. */
export interface LoadOptions {
  url: string
  connections: number
  /** Seconds; ignored when `amount` is set. */
  duration: number
  /** Send exactly this many requests, then stop. */
  amount?: number
  /** Requests per second across all connections; unset = as fast as the server answers. */
  overallRate?: number
  requests?: Request[]
  setupClient?: (client: Client) => void
  method?: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: string
}

export interface LoadResult {
  rps: number
  /** Milliseconds, over 2xx responses. */
  p50: number
  p99: number
  ok: number
  non2xx: number
  errors: number
  durationS: number
  /**
   * CPU the server process used per 2xx response, in µs (all its threads), when measured: less
   * sensitive than req/s to a load generator that shares the machine's cores.
   */
  serverCpuUs?: number
  /** 2xx latencies in ms, kept so rounds of one scenario can be merged; not written to results. */
  samples?: number[]
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = []
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.duration,
    ...(options.amount ? { amount: options.amount } : {}),
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    ...(options.requests ? { requests: options.requests } : {}),
    ...(options.setupClient ? { setupClient: options.setupClient } : {}),
    ...(options.method ? { method: options.method } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.body ? { body: options.body } : {}),
  }) as unknown as Promise<Result> & EventEmitter // without a callback it is both (the types show one)
  // autocannon's own histogram holds whole milliseconds; a cached verify is far below that.
  instance.on('response', (_client: unknown, status: number, _bytes: number, responseTime: number) => {
    if (status >= 200 && status < 300) latencies.push(responseTime)
  })
  // Requests per second are counted over the time the load ran. autocannon's own duration starts
  // before it builds its clients, and building them blocks this process while the server waits:
  // with prebuilt token-bearing requests (1,200 per connection in a first-seen round) that took
  // 0.17–0.19 s of each 1 s round, against none for the baseline's one request. Its 'start' event
  // comes right after the clients are built, and no response is handled before it.
  let loadStart = performance.now()
  instance.once('start', () => (loadStart = performance.now()))
  const result = await instance
  const durationS = (performance.now() - loadStart) / 1000
  return summarize([{ ok: result['2xx'], non2xx: result.non2xx, errors: result.errors + result.timeouts, durationS, samples: latencies }])
}

type Part = Pick<LoadResult, 'ok' | 'non2xx' | 'errors' | 'durationS'> & { samples: number[]; cpuUs?: number }

function summarize(parts: Part[]): LoadResult {
  const samples = parts.flatMap((p) => p.samples)
  const sorted = Float64Array.from(samples).sort()
  const sum = (f: (p: Part) => number) => parts.reduce((acc, p) => acc + f(p), 0)
  const ok = sum((p) => p.ok)
  const durationS = sum((p) => p.durationS)
  const measuredCpu = parts.every((p) => p.cpuUs !== undefined)
  return {
    rps: ok / durationS,
    ...(measuredCpu && ok > 0 ? { serverCpuUs: sum((p) => p.cpuUs!) / ok } : {}),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    ok,
    non2xx: sum((p) => p.non2xx),
    errors: sum((p) => p.errors),
    durationS,
    samples,
  }
}

/**
 * Runs several scenarios in alternating rounds (A B C A B C …) and merges each one's rounds. On a
 * shared machine the background load drifts over seconds; interleaving exposes every scenario to
 * the same drift, so their ratios stay meaningful even when absolute figures move.
 */
export async function runInterleaved(
  scenarios: Record<string, (seconds: number) => Promise<LoadResult>>,
  totalSeconds: number,
  rounds: number,
): Promise<Record<string, LoadResult>> {
  const parts: Record<string, Part[]> = Object.fromEntries(Object.keys(scenarios).map((k) => [k, []]))
  const slice = totalSeconds / rounds
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(scenarios)) {
      const r = await run(slice)
      parts[name]!.push({
        ok: r.ok,
        non2xx: r.non2xx,
        errors: r.errors,
        durationS: r.durationS,
        samples: r.samples ?? [],
        ...(r.serverCpuUs !== undefined ? { cpuUs: r.serverCpuUs * r.ok } : {}),
      })
    }
  }
  return Object.fromEntries(Object.entries(parts).map(([name, p]) => [name, summarize(p)]))
}

/**
 * Gives each new connection the next `perConnection` tokens as prebuilt requests (setupClient), so
 * the load generator spends nothing per request on building headers and no two connections share
 * a token; a connection cycles through its own slice. The cursor carries over between runs and
 * wraps at the end of `tokens`, so later rounds continue with tokens not yet sent.
 */
export function bearerPerConnection(path: string, tokens: readonly string[], perConnection: number): Pick<LoadOptions, 'setupClient'> {
  let cursor = 0
  return {
    setupClient(client) {
      if (cursor + perConnection > tokens.length) cursor = 0
      const slice = tokens.slice(cursor, cursor + perConnection)
      cursor += perConnection
      client.setRequests(slice.map((token) => ({ method: 'GET', path, headers: { authorization: `Bearer ${token}` } })))
    },
  }
}

/** Runs `run` and adds the CPU the server process `pid` spent on it (see LoadResult.serverCpuUs). */
export function measuringCpu(pid: number | undefined, run: (seconds: number) => Promise<LoadResult>) {
  return async (seconds: number): Promise<LoadResult> => {
    const before = pid === undefined ? null : cpuMicros(pid)
    const result = await run(seconds)
    const after = pid === undefined ? null : cpuMicros(pid)
    if (before === null || after === null || result.ok === 0) return result
    return { ...result, serverCpuUs: (after - before) / result.ok }
  }
}
