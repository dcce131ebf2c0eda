import { Writable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createFixedClock } from '../src/clock.ts'
import { createLogger } from '../src/logger.ts'
import { createMetrics, type Metrics } from '../src/metrics.ts'
import { createRetentionJob, purgeOnce } from '../src/retention-job.ts'
import { createSqliteStore } from '../src/store/sqlite.ts'
import { BARE_CHALLENGE, createTestApp, loginAs, registerUser, type TestApp } from './helpers/app.ts'

const DAY = 86_400_000
const refresh = (t: TestApp, refresh_token: string) => t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token } })

describe('the retention job on a running app (fixed clock)', () => {
  let t: TestApp
  let metrics: Metrics
  beforeEach(async () => {
    metrics = createMetrics()
    // Sessions live 60 idle days here, so the live one outlasts the 30-day retention without a refresh.
    t = await createTestApp({ env: { RETENTION_DAYS: '30', REFRESH_IDLE_TTL: String(60 * 86400) }, deps: { metrics } })
  })
  afterEach(() => t.close())

  const purge = () => purgeOnce({ store: t.store, clock: t.clock, logger: t.app.log, metrics, policy: t.config.retention })

  it('purges a session logged out over 30 days ago; a live session keeps its rotated tokens and a replayed one is still reuse', async () => {
    const { email, refresh_token: first } = await registerUser(t)
    t.clock.advance(60_000)
    const second = (await refresh(t, first)).json().refresh_token as string
    t.clock.advance(60_000)
    const third = (await refresh(t, second)).json().refresh_token as string
    const laptop = await loginAs(t, email, 'laptop')
    expect((await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: laptop.refresh_token } })).statusCode).toBe(204)
    const endedRecently = await loginAs(t, email, 'tablet')

    t.clock.advance(20 * DAY)
    expect((await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: endedRecently.refresh_token } })).statusCode).toBe(204)
    t.clock.advance(11 * DAY)

    const result = await purge()
    expect(result.ran).toBe(true)
    expect(result.counts).toMatchObject({ sessions: 1, refresh_tokens: 1 })
    const text = await metrics.registry.metrics()
    expect(text).toMatch(/^latchkey_purged_rows_total\{kind="sessions"\} 1$/m)
    expect(text).toMatch(/^latchkey_purged_rows_total\{kind="refresh_tokens"\} 1$/m)
    // The verification mail of the sign-up and its link expired a day after it, over a week ago.
    expect(text).toMatch(/^latchkey_purged_rows_total\{kind="outbox_messages"\} 1$/m)
    expect(text).toMatch(/^latchkey_purged_rows_total\{kind="one_time_tokens"\} 1$/m)
    expect(text).toMatch(/^latchkey_purged_rows_total\{kind="mfa_challenges"\} 0$/m)

    const line = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'retention: purged ended sessions and expired rows')
    expect(line).toMatchObject({ level: 30, retentionDays: 30, purged: { sessions: 1, refresh_tokens: 1 } })
    for (const token of [first, second, third, laptop.refresh_token]) expect(t.logs.join('\n')).not.toContain(token)

    // The purged session's token is now just unknown; the one that ended 11 days ago still says so.
    expect((await refresh(t, laptop.refresh_token)).json().code).toBe('invalid_refresh_token')
    expect((await refresh(t, endedRecently.refresh_token)).json().code).toBe('session_revoked')

    // The live session's first token, rotated a month ago, is still recognised: reuse revokes the session.
    const reuse = await refresh(t, first)
    expect(reuse.statusCode).toBe(401)
    expect(reuse.json().code).toBe('refresh_token_reused')
    expect(reuse.headers['www-authenticate']).toBe(BARE_CHALLENGE)
    expect((await refresh(t, third)).json().code).toBe('session_revoked')
    expect(await t.store.listAudit({ type: 'refresh_reuse_detected', limit: 5 })).toHaveLength(1)
    expect(await metrics.registry.getSingleMetricAsString('latchkey_refresh_reuse_detections_total')).toMatch(/ 1$/m)
  })
})

describe('the retention schedule', () => {
  function logged() {
    const lines: string[] = []
    const logger = createLogger('info', new Writable({ write: (chunk, _e, cb) => (lines.push(String(chunk)), cb()) }))
    return { lines, logger }
  }

  it('runs after its first delay and then every interval until stopped, one line per run', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    const { lines, logger } = logged()
    const job = createRetentionJob({ store, clock: createFixedClock(Date.now()), logger, policy: { sessionRetentionDays: 30, batchSize: 1000 }, intervalMs: 20, firstDelayMs: 0 })
    job.start()
    for (let i = 0; i < 100 && lines.length < 3; i++) await new Promise((r) => setTimeout(r, 10))
    await job.stop()
    const runs = lines.length
    expect(runs).toBeGreaterThanOrEqual(3)
    for (const l of lines) expect(JSON.parse(l)).toMatchObject({ msg: 'retention: purged ended sessions and expired rows', purged: { sessions: 0 } })
    await new Promise((r) => setTimeout(r, 60))
    expect(lines.length).toBe(runs)
    await store.close()
  })

  it('PURGE_INTERVAL_SECONDS=0 schedules nothing', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    const { lines, logger } = logged()
    const job = createRetentionJob({ store, clock: createFixedClock(Date.now()), logger, policy: { sessionRetentionDays: 30, batchSize: 1000 }, intervalMs: 0, firstDelayMs: 0 })
    job.start()
    await new Promise((r) => setTimeout(r, 50))
    await job.stop()
    expect(lines).toEqual([])
    await store.close()
  })

  it('a failed run is logged, counted in latchkey_purge_failures_total, and the schedule goes on', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    await store.close()
    const { lines, logger } = logged()
    const metrics = createMetrics()
    const job = createRetentionJob({ store, clock: createFixedClock(Date.now()), logger, metrics, policy: { sessionRetentionDays: 30, batchSize: 1000 }, intervalMs: 20, firstDelayMs: 0 })
    job.start()
    for (let i = 0; i < 100 && lines.length < 2; i++) await new Promise((r) => setTimeout(r, 10))
    await job.stop()
    expect(lines.length).toBeGreaterThanOrEqual(2)
    for (const l of lines) expect(JSON.parse(l)).toMatchObject({ level: 50, msg: 'retention: purge failed; trying again at the next interval' })
    expect(await metrics.registry.metrics()).toMatch(new RegExp(`^latchkey_purge_failures_total ${lines.length}$`, 'm'))
  })
})
