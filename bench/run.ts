import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import type { Request } from 'autocannon'
import { loadConfig } from '../src/config.ts'
import { loadKeyRecords, readManifest } from '../src/keys/key-files.ts'
import { signAccessTokenSync } from '../src/tokens/sign-access-token.ts'
import { benchAlgorithmsAndDpop } from './dpop-and-algorithms.ts'
import { bearerPerConnection, measuringCpu, runInterleaved, runLoad, type LoadResult } from './load.ts'
import { runMailBench } from './mail.ts'
import { rssMb, startProcess, type Running } from './processes.ts'
import { rawArgon2Rate, rawSignRate } from './raw-rates.ts'
import { printReport, type Report, type Target } from './report.ts'

/**
 * `npm run bench`: Latchkey and two reference peers on loopback, driven by autocannon in this
 * process; every ratio is against a baseline measured in the same run. Bounded in time: about
 * 14 load runs of BENCH_DURATION seconds (default 5) plus ~30 s of setup and the outbox drain.
 * `npm run bench -- --only=mail` runs the mail section alone (bench/mail.ts) and writes
 * `results/<date>-mail.json`.
 */
const DURATION = Number(process.env.BENCH_DURATION ?? 5)
const WARMUP = 1
const ROUNDS = 5
const CONNECTIONS = 10
const CORES = availableParallelism()
const PASSWORD = 'correct horse battery staple'
const EMAIL = 'bench@example.com'

const SECTIONS = ['all', 'mail'] as const
const only = (process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length) ?? 'all') as (typeof SECTIONS)[number]
if (!SECTIONS.includes(only)) {
  process.stderr.write(`bench: unknown section ${only}; one of ${SECTIONS.join(', ')}\n`)
  process.exit(2)
}

const dir = mkdtempSync(join(tmpdir(), 'latchkey-bench-'))
const latchkeyEnv = {
  DATABASE_URL: `sqlite:${join(dir, 'latchkey.db')}`,
  KEYS_DIR: join(dir, 'keys'),
  RATE_LIMIT_ENABLED: 'false',
  LOG_LEVEL: 'warn',
  WORKERS: '1',
  // Fixed, so the tokens minted here carry the issuer the server expects: by default it follows
  // PUBLIC_URL, which follows the port each instance is given.
  ISSUER: 'https://latchkey.bench.test',
}
const running: Running[] = []
const log = (message: string) => process.stderr.write(`bench: ${message}\n`)
const json = { 'content-type': 'application/json' }

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method: 'POST', headers: { ...json, ...headers }, body: JSON.stringify(body) })
  if (!res.ok) throw new Error(`POST ${url} → ${res.status} ${await res.text()}`)
  return (await res.json()) as Record<string, unknown>
}

async function measure(label: string, run: (duration: number) => Promise<LoadResult>, warmup = true): Promise<LoadResult> {
  if (warmup) await run(WARMUP)
  const result = await run(DURATION)
  log(`${label}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms${result.non2xx || result.errors ? `, ${result.non2xx} non-2xx, ${result.errors} errors` : ''}`)
  return result
}

function machine() {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: CORES,
    memoryGb: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    kernel: release(),
    loadAverageAtEnd: loadavg().map((l) => Number(l.toFixed(2))),
  }
}

const mailSection = () =>
  runMailBench({ dir, keysDir: latchkeyEnv.KEYS_DIR, durationS: DURATION, warmupS: WARMUP, rounds: ROUNDS, connections: CONNECTIONS, running, log })

function writeReport(report: Report, suffix = ''): void {
  printReport(report)
  const resultsDir = new URL('./results/', import.meta.url)
  mkdirSync(resultsDir, { recursive: true })
  const file = new URL(`${report.date.slice(0, 10)}${suffix}.json`, resultsDir)
  writeFileSync(file, `${JSON.stringify(report, (key, value: unknown) => (key === 'samples' ? undefined : value), 2)}\n`)
  log(`wrote ${file.pathname}`)
}

async function mailOnly(): Promise<void> {
  const mail = await mailSection()
  writeReport(
    {
      date: new Date().toISOString(),
      machine: machine(),
      settings: { sections: ['mail'], durationS: DURATION, interleavedRounds: ROUNDS, warmupS: WARMUP, connections: CONNECTIONS, workers: 1 },
      baseline: { rps: mail.baseline.rps },
      rows: mail.rows,
      mail: { drain: mail.drain },
      targets: mail.targets,
    },
    '-mail',
  )
}

async function main(): Promise<void> {
  const config = loadConfig({ ISSUER: latchkeyEnv.ISSUER })
  const argon2Params = { memoryCost: config.argon2.memoryCost, timeCost: config.argon2.timeCost, parallelism: config.argon2.parallelism }

  // Cold starts: the first one also generates the development key into KEYS_DIR.
  const first = await startProcess('bin/latchkey-server.js', '/health/ready', latchkeyEnv)
  await first.stop()
  const latchkey = await startProcess('bin/latchkey-server.js', '/health/ready', latchkeyEnv)
  running.push(latchkey)
  log(`latchkey ready in ${latchkey.startMs.toFixed(0)} ms (first start, with key generation: ${first.startMs.toFixed(0)} ms)`)
  await new Promise((r) => setTimeout(r, 1000))
  const idleRss = rssMb(latchkey.child.pid!)
  const L = latchkey.base

  // The server's own key, so the bench can mint valid tokens that the server has never seen; the
  // peers verify with its public half, so they are sent the very same tokens.
  const records = await loadKeyRecords(latchkeyEnv.KEYS_DIR, (await readManifest(latchkeyEnv.KEYS_DIR))!)
  const current = records.find((r) => r.state === 'current')!
  const signingKey = { kid: current.kid, privateKey: current.privateKey! }
  const verifyKeyFile = join(dir, 'verify-key.pem')
  writeFileSync(verifyKeyFile, current.publicKey.export({ type: 'spki', format: 'pem' }))
  const fastifyPeer = await startProcess('bench/peers/fastify-jwt.ts', '/health', { VERIFY_KEY_FILE: verifyKeyFile })
  const expressPeer = await startProcess('bench/peers/express-jsonwebtoken.ts', '/health', { VERIFY_KEY_FILE: verifyKeyFile })
  running.push(fastifyPeer, expressPeer)
  let minted = 0
  const mint = (n: number) =>
    Array.from({ length: n }, () => {
      const i = minted++
      return signAccessTokenSync(
        { issuer: config.issuer, audience: config.audience, subject: `bench-user-${i}`, sessionId: `bench-session-${i}`, scope: 'user', now: Math.floor(Date.now() / 1000), ttl: config.accessTokenTtl },
        signingKey,
      ).token
    })

  const registered = await post(`${L}/auth/register`, { email: EMAIL, password: PASSWORD })
  const accessToken = String(registered.access_token)
  const tokenBytes = Buffer.byteLength(accessToken)

  log('raw rates: RS256 sign (1 thread), argon2id hash (concurrency = cores)')
  const signRate = rawSignRate(signingKey.privateKey, accessToken.slice(0, accessToken.lastIndexOf('.')), 2)
  const argon2Rate = await rawArgon2Rate(argon2Params, CORES, 3)

  const get = (base: string, path: string, headers?: Record<string, string>) => (duration: number) =>
    runLoad({ url: base + path, connections: CONNECTIONS, duration, ...(headers ? { headers } : {}) })

  // The GET scenarios run interleaved (ROUNDS rounds of DURATION/ROUNDS seconds each), so drifting
  // background load on a shared machine hits them all alike; the ratios come from these rows.
  const probe = await get(L, '/health/live')(WARMUP)
  const hot = mint(5000)
  const hotClients = bearerPerConnection('/me/claims', hot, hot.length / CONNECTIONS)
  // Sends all 5,000 twice (the cache admits a token on its second verification), so each measured
  // round starts with them cached, even on a fresh instance or after a first-seen round.
  const fillCache = (base = L) => runLoad({ url: base, connections: CONNECTIONS, duration: 0, amount: hot.length * 2, ...hotClients })

  // Never-seen tokens: more than the run can send at the probed baseline rate, and more than the
  // cache holds, so every request misses: before a connection comes back to a token, the others
  // have sent more distinct tokens than the cache keeps.
  const missCount = Math.min(60_000, Math.max(config.tokenCache.maxEntries + 5000, Math.ceil(probe.rps * DURATION * 1.2)))
  log(`minting ${missCount} first-seen tokens`)
  const cold = mint(missCount)
  // Each server is sent the same stream of first-seen tokens, from its own cursor.
  const coldSlice = Math.floor(cold.length / (ROUNDS * CONNECTIONS))
  const coldClients = bearerPerConnection('/me/claims', cold, coldSlice)
  const fastifyTokens = bearerPerConnection('/protected', cold, coldSlice)
  const expressTokens = bearerPerConnection('/protected', cold, coldSlice)

  const [lk, fp, ep] = [latchkey.child.pid, fastifyPeer.child.pid, expressPeer.child.pid]
  const scenarios: Record<string, (seconds: number) => Promise<LoadResult>> = {
    baseline: measuringCpu(lk, get(L, '/health/live')),
    // Control: the unauthenticated route carrying the same bearer header, which it ignores. The gap
    // between the baseline and this row is the cost of the bytes alone (client, kernel, parser).
    sameBytes: measuringCpu(lk, get(L, '/health/live', { authorization: `Bearer ${hot[0]}` })),
    cached: async (duration) => {
      await fillCache()
      return measuringCpu(lk, (d) => runLoad({ url: L, connections: CONNECTIONS, duration: d, ...hotClients }))(duration)
    },
    miss: measuringCpu(lk, (duration) => runLoad({ url: L, connections: CONNECTIONS, duration, ...coldClients })),
    fastifyOpen: measuringCpu(fp, get(fastifyPeer.base, '/health')),
    fastifyProtected: measuringCpu(fp, (duration) => runLoad({ url: fastifyPeer.base, connections: CONNECTIONS, duration, ...fastifyTokens })),
    expressOpen: measuringCpu(ep, get(expressPeer.base, '/health')),
    expressProtected: measuringCpu(ep, (duration) => runLoad({ url: expressPeer.base, connections: CONNECTIONS, duration, ...expressTokens })),
  }
  log(`warming up, then ${Object.keys(scenarios).length} GET scenarios interleaved: ${ROUNDS} rounds × ${DURATION / ROUNDS} s each`)
  const warmCold = bearerPerConnection('/me/claims', mint(2000), 200)
  for (const [name, run] of Object.entries(scenarios)) {
    if (name === 'miss') await runLoad({ url: L, connections: CONNECTIONS, duration: WARMUP, ...warmCold })
    else await run(WARMUP)
  }
  const g = await runInterleaved(scenarios, DURATION, ROUNDS)
  for (const [name, r] of Object.entries(g)) log(`${name}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms`)
  const baseline = g.baseline!
  const cached = g.cached!
  const miss = g.miss!
  const peerProtected = { fastify: g.fastifyProtected!, express: g.expressProtected! }

  // Refresh: a pool of live refresh tokens, one session each (a login apiece). Each request takes
  // one; its response puts the rotated successor back, so every token is presented exactly once.
  // (autocannon resets a connection's context after every pass through `requests`, so the chain
  // lives in this shared pool rather than in the context.)
  const refreshRun = (base: string, pid: number | undefined, email: string) => async (duration: number) => {
    const pool: string[] = []
    for (let i = 0; i < CONNECTIONS + 4; i++) pool.push(String((await post(`${base}/auth/login`, { email, password: PASSWORD })).refresh_token))
    const requests: Request[] = [
      {
        method: 'POST',
        path: '/auth/refresh',
        headers: json,
        setupRequest: (request) => ({ ...request, body: JSON.stringify({ refresh_token: pool.shift() }) }),
        onResponse: (status, body) => {
          if (status === 200) pool.push((JSON.parse(body) as { refresh_token: string }).refresh_token)
        },
      },
    ]
    // The logins above are not part of the measured CPU.
    return measuringCpu(pid, (d) => runLoad({ url: base, connections: CONNECTIONS, duration: d, requests }))(duration)
  }
  const refresh = await measure('latchkey POST /auth/refresh', refreshRun(L, lk, EMAIL))

  const loginRun = (duration: number) =>
    runLoad({ url: `${L}/auth/login`, connections: CORES * 2, duration, method: 'POST', headers: json, body: JSON.stringify({ email: EMAIL, password: PASSWORD }) })
  const login = await measure('latchkey POST /auth/login', measuringCpu(lk, loginRun))

  // Tail latency of the stateless path at a fixed moderate rate, idle and while argon2 is saturated;
  // then the same against a second instance whose thread pool runs at the event loop's priority
  // (THREAD_POOL_NICE=0), to show what the default nice value buys.
  const rate = Math.max(100, Math.round(cached.rps * 0.2))
  const storm = async (base: string, label: string) => {
    const atRate = (duration: number) => runLoad({ url: base, connections: CONNECTIONS, duration, overallRate: rate, ...hotClients })
    const logins = (duration: number) =>
      runLoad({ url: `${base}/auth/login`, connections: CORES * 2, duration, method: 'POST', headers: json, body: JSON.stringify({ email: EMAIL, password: PASSWORD }) })
    await fillCache(base)
    const idle = await measure(`${label}: /me/claims at ${rate} req/s, idle`, atRate)
    await logins(WARMUP)
    await fillCache(base)
    const [busy, during] = await Promise.all([atRate(DURATION), logins(DURATION)])
    log(`${label}: /me/claims at ${rate} req/s during logins: p99 ${busy.p99.toFixed(2)} ms (logins ${during.rps.toFixed(1)}/s)`)
    return { idle, busy, during }
  }
  const stormDefault = await storm(L, 'latchkey (THREAD_POOL_NICE=19, the default)')
  const samePriority = await startProcess('bin/latchkey-server.js', '/health/ready', { ...latchkeyEnv, THREAD_POOL_NICE: '0' })
  running.push(samePriority)
  const stormSamePriority = await storm(samePriority.base, 'latchkey (THREAD_POOL_NICE=0)')
  await samePriority.stop()
  const idle = stormDefault.idle
  const underLoad = stormDefault.busy

  const algorithms = await benchAlgorithmsAndDpop({
    base: L,
    pid: lk,
    env: latchkeyEnv,
    dir,
    duration: DURATION,
    rounds: ROUNDS,
    connections: CONNECTIONS,
    baseline,
    running,
    refreshRun,
    register: (base, email, headers) => post(`${base}/auth/register`, { email, password: PASSWORD }, headers),
    claims: { issuer: config.issuer, audience: config.audience, ttl: config.accessTokenTtl },
    log,
  })

  const rssAfter = rssMb(latchkey.child.pid!)
  // Its own instance (SMTP_URL set to a sink in this process); the main one stays idle meanwhile.
  const mail = await mailSection()

  const fastestPeer = Math.max(...Object.values(peerProtected).map((r) => r.rps))
  const targets: Target[] = [
    { name: '/me/claims, 5,000 cached tokens vs /health/live', target: '≥ 0.90×', value: cached.rps / baseline.rps, unit: '×', met: cached.rps / baseline.rps >= 0.9 },
    { name: 'first-seen tokens vs /health/live', target: '≥ 0.35×', value: miss.rps / baseline.rps, unit: '×', met: miss.rps / baseline.rps >= 0.35 },
    { name: 'first-seen tokens vs fastest peer protected route', target: '> 1.00×', value: miss.rps / fastestPeer, unit: '×', met: miss.rps > fastestPeer },
    { name: 'POST /auth/refresh vs raw RS256 sign rate', target: '≥ 0.70×', value: refresh.rps / signRate, unit: '×', met: refresh.rps / signRate >= 0.7 },
    { name: 'POST /auth/login vs raw argon2id rate', target: '≥ 0.80×', value: login.rps / argon2Rate, unit: '×', met: login.rps / argon2Rate >= 0.8 },
    { name: '/me/claims p99 during logins vs idle p99', target: '≤ 3×', value: underLoad.p99 / idle.p99, unit: '×', met: underLoad.p99 / idle.p99 <= 3 },
    { name: 'access token size', target: '≤ 1024 B', value: tokenBytes, unit: 'B', met: tokenBytes <= 1024 },
    { name: 'cold start to ready (key present)', target: '≤ 1000 ms', value: latchkey.startMs, unit: 'ms', met: latchkey.startMs <= 1000 },
    { name: 'idle RSS', target: '≤ 100 MB', value: idleRss ?? NaN, unit: 'MB', met: idleRss !== null && idleRss <= 100 },
    ...algorithms.targets,
    ...mail.targets,
  ]

  const report: Report = {
    date: new Date().toISOString(),
    machine: machine(),
    settings: { durationS: DURATION, interleavedRounds: ROUNDS, warmupS: WARMUP, connections: CONNECTIONS, workers: 1, argon2: { ...argon2Params, concurrency: CORES }, threadPoolNice: config.threadPoolNice, tokenCache: config.tokenCache },
    baseline: { rps: baseline.rps },
    rows: [
      { scenario: 'latchkey GET /health/live (baseline)', result: baseline },
      { scenario: 'latchkey GET /health/live carrying a bearer header it ignores (bytes-only control)', result: g.sameBytes! },
      { scenario: 'latchkey GET /me/claims, 5,000 cached tokens', result: cached },
      { scenario: `latchkey GET /me/claims, first-seen tokens (${missCount} minted)`, result: miss },
      { scenario: 'fastify + @fastify/jwt: unauthenticated', result: g.fastifyOpen! },
      { scenario: 'fastify + @fastify/jwt: protected, the same first-seen tokens (verifies every request)', result: peerProtected.fastify },
      { scenario: 'express 5 + jsonwebtoken: unauthenticated', result: g.expressOpen! },
      { scenario: 'express 5 + jsonwebtoken: protected, the same first-seen tokens (verifies every request)', result: peerProtected.express },
      { scenario: 'latchkey POST /auth/refresh (SQLite)', result: refresh, reference: { name: 'raw RS256 sign', rps: signRate } },
      { scenario: 'latchkey POST /auth/login', result: login, reference: { name: 'raw argon2id', rps: argon2Rate } },
      { scenario: `latchkey GET /me/claims at ${rate} req/s, idle`, result: idle },
      { scenario: `latchkey GET /me/claims at ${rate} req/s, during a login storm`, result: underLoad },
      { scenario: 'latchkey POST /auth/login during that storm', result: stormDefault.during },
      { scenario: `THREAD_POOL_NICE=0: GET /me/claims at ${rate} req/s, idle`, result: stormSamePriority.idle },
      { scenario: `THREAD_POOL_NICE=0: GET /me/claims at ${rate} req/s, during a login storm`, result: stormSamePriority.busy },
      { scenario: 'THREAD_POOL_NICE=0: POST /auth/login during that storm', result: stormSamePriority.during, reference: { name: 'raw argon2id', rps: argon2Rate } },
      ...algorithms.rows,
      ...mail.rows,
    ],
    mail: { drain: mail.drain },
    raw: { rs256SignPerS: signRate, argon2idHashPerS: argon2Rate, ...algorithms.raw },
    process: { tokenBytes, tokenBytesByAlgorithm: algorithms.tokenBytes, coldStartMs: latchkey.startMs, firstStartWithKeyGenerationMs: first.startMs, idleRssMb: idleRss, rssAfterRunMb: rssAfter },
    targets,
  }
  writeReport(report)
}

async function cleanup(): Promise<void> {
  await Promise.all(running.map((r) => r.stop()))
  rmSync(dir, { recursive: true, force: true })
}

;(only === 'mail' ? mailOnly() : main()).then(cleanup, async (err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  await cleanup()
  process.exit(1)
})
