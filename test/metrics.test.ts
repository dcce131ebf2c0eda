import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startMetricsListener, type MetricsListener } from '../src/metrics-listener.ts'
import { createMetrics, type Metrics } from '../src/metrics.ts'
import { bearer, createTestApp, registerUser, type TestApp } from './helpers/app.ts'

/** The value of one sample line, e.g. `latchkey_auth_failures_total{status="401",code="invalid_credentials"}`. */
function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line ? Number(line.slice(name.length + 1)) : 0
}

describe('metrics on their own listener', () => {
  let t: TestApp
  let metrics: Metrics
  let listener: MetricsListener
  beforeEach(async () => {
    metrics = createMetrics()
    t = await createTestApp({ deps: { metrics } })
    listener = await startMetricsListener(metrics.registry, '127.0.0.1', 0)
  })
  afterEach(async () => {
    await listener.close()
    await t.close()
  })

  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${listener.address.port}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    return res.text()
  }

  it('exports every second-factor event and the purge failures from 0, before any happens', async () => {
    const text = await scrape()
    for (const event of ['challenge', 'success', 'failure', 'lockout', 'account_lockout', 'account_locked_refusal']) {
      expect(text).toMatch(new RegExp(`^latchkey_mfa_events_total\\{event="${event}"\\} 0$`, 'm'))
    }
    expect(text).toMatch(/^latchkey_purge_failures_total 0$/m)
  })

  it('counts a failed login and a refresh-token reuse after they happen', async () => {
    const before = await scrape()
    expect(sample(before, 'latchkey_audit_events_total{type="login_failed"}')).toBe(0)
    expect(sample(before, 'latchkey_refresh_reuse_detections_total')).toBe(0)

    const user = await registerUser(t)
    const failed = await t.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: 'not the password at all' } })
    expect(failed.statusCode).toBe(401)
    const rotated = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.refresh_token } })
    expect(rotated.statusCode).toBe(200)
    t.clock.advance((t.config.refreshGracePeriod + 1) * 1000)
    const reused = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.refresh_token } })
    expect(reused.json().code).toBe('refresh_token_reused')

    const after = await scrape()
    expect(sample(after, 'latchkey_audit_events_total{type="login_failed"}')).toBe(1)
    expect(sample(after, 'latchkey_audit_events_total{type="refresh_reuse_detected"}')).toBe(1)
    expect(sample(after, 'latchkey_auth_failures_total{status="401",code="invalid_credentials"}')).toBe(1)
    expect(sample(after, 'latchkey_auth_failures_total{status="401",code="refresh_token_reused"}')).toBe(1)
    expect(sample(after, 'latchkey_refresh_reuse_detections_total')).toBe(1)
    expect(sample(after, 'latchkey_refresh_rotations_total')).toBe(1)
    expect(sample(after, 'latchkey_token_sign_duration_seconds_count')).toBe(2)
  })

  it('reports the active sessions, read from the store when scraped', async () => {
    expect(sample(await scrape(), 'latchkey_active_sessions')).toBe(0)
    const a = await registerUser(t)
    await registerUser(t)
    expect(sample(await scrape(), 'latchkey_active_sessions')).toBe(2)
    await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: a.refresh_token } })
    expect(sample(await scrape(), 'latchkey_active_sessions')).toBe(1)
  })

  it('times token verification and counts 403s by code', async () => {
    const user = await registerUser(t)
    await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(user.access_token) })
    await t.inject({ method: 'GET', url: '/admin/users', headers: bearer(user.access_token) })
    await t.inject({ method: 'GET', url: '/me/claims', headers: bearer('not.a.token') })
    const text = await scrape()
    expect(sample(text, 'latchkey_token_verify_duration_seconds_count')).toBe(3)
    expect(sample(text, 'latchkey_auth_failures_total{status="403",code="insufficient_scope"}')).toBe(1)
    expect(sample(text, 'latchkey_auth_failures_total{status="401",code="invalid_token"}')).toBe(1)
  })

  it('counts argon2 durations when the app builds its own hasher', async () => {
    const own = createMetrics()
    const app = await createTestApp({ deps: { metrics: own }, env: { ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '1' }, realArgon2: true })
    try {
      await registerUser(app)
      expect(sample(await own.registry.metrics(), 'latchkey_argon2_duration_seconds_count')).toBe(1)
    } finally {
      await app.close()
    }
  })

  it('counts responses by status class and times them by route pattern', async () => {
    const before = await scrape()
    expect(sample(before, 'latchkey_http_requests_total{status_class="5xx"}')).toBe(0)
    const user = await registerUser(t)
    await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(user.access_token) })
    await t.inject({ method: 'GET', url: '/me/claims', headers: bearer('not.a.token') })
    await t.inject({ method: 'GET', url: '/no/such/route' })
    const text = await scrape()
    expect(sample(text, 'latchkey_http_requests_total{status_class="2xx"}')).toBe(2)
    expect(sample(text, 'latchkey_http_requests_total{status_class="4xx"}')).toBe(2)
    expect(sample(text, 'latchkey_http_requests_total{status_class="5xx"}')).toBe(0)
    expect(sample(text, 'latchkey_http_request_duration_seconds_count{route="/me/claims"}')).toBe(2)
    expect(sample(text, 'latchkey_http_request_duration_seconds_count{route="/auth/register"}')).toBe(1)
    expect(sample(text, 'latchkey_http_request_duration_seconds_count{route="unmatched"}')).toBe(1)
  })

  it('reports the signing keys by state and the age of the current one', async () => {
    const text = await scrape()
    const current = t.keys.current.records.find((k) => k.state === 'current')!
    const expectedAge = (t.clock.now() - Date.parse(current.activatedAt ?? current.createdAt)) / 1000
    expect(sample(text, 'latchkey_signing_keys{state="current"}')).toBe(1)
    expect(sample(text, 'latchkey_signing_keys{state="next"}')).toBe(t.keys.current.records.filter((k) => k.state === 'next').length)
    expect(sample(text, 'latchkey_signing_key_age_seconds')).toBe(Math.max(0, expectedAge))
    t.clock.advance(3600_000)
    expect(sample(await scrape(), 'latchkey_signing_key_age_seconds')).toBe(Math.max(0, expectedAge) + 3600)
  })

  it('reports the store up while it answers', async () => {
    expect(sample(await scrape(), 'latchkey_dependency_up{dependency="store"}')).toBe(1)
  })

  it('serves nothing but /metrics', async () => {
    const res = await fetch(`http://127.0.0.1:${listener.address.port}/`)
    expect(res.status).toBe(404)
    await res.text()
  })
})

describe('active sessions while the store is down', () => {
  it('a scrape still answers 200 with every other metric', async () => {
    const metrics = createMetrics()
    const t = await createTestApp({ deps: { metrics } })
    const listener = await startMetricsListener(metrics.registry, '127.0.0.1', 0)
    try {
      await registerUser(t)
      await t.store.close()
      const res = await fetch(`http://127.0.0.1:${listener.address.port}/metrics`)
      expect(res.status).toBe(200)
      const text = await res.text()
      expect(text).toMatch(/^latchkey_audit_events_total\{type="register"\} 1$/m)
      expect(text).toMatch(/^latchkey_dependency_up\{dependency="store"\} 0$/m)
    } finally {
      await listener.close()
      await t.app.close()
    }
  })
})
