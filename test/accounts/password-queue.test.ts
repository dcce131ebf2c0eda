import { afterEach, describe, expect, it } from 'vitest'
import { createPasswordHasher } from '../../src/accounts/passwords.ts'
import { createTestApp, PASSWORD, registerUser, type TestApp } from '../helpers/app.ts'

describe('argon2 isolation under a login storm', () => {
  let t: TestApp
  afterEach(() => t.close())

  it('sheds logins beyond the queue with 503 server_busy at once, while the event loop keeps serving', async () => {
    // One hash at a time, two waiting: the third concurrent login onwards must be refused, not queued.
    // Hashes slow enough (64 MiB, 3 passes: ~0.1 s here) that all eight logins reach the queue before
    // the first one finishes, even on a loaded machine; with faster ones the queue could drain first
    // and the wait below would never end.
    const passwords = createPasswordHasher({ memoryCost: 65536, timeCost: 3, parallelism: 1, concurrency: 1, queueLimit: 2 })
    t = await createTestApp({ deps: { passwords } })
    const { email } = await registerUser(t)

    const finished: string[] = []
    const logins = Array.from({ length: 8 }, (_, i) =>
      t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD } }).then((res) => {
        finished.push(`login${i}:${res.statusCode}`)
        return res
      }),
    )
    // Asked once the queue is full, i.e. while hashes are certainly running and waiting.
    while (passwords.queue.queued < 2) await new Promise((r) => setImmediate(r))
    const live = await t.inject({ method: 'GET', url: '/health/live' })
    const busyAtHealth = passwords.queue.running + passwords.queue.queued
    finished.push('live')
    const responses = await Promise.all(logins)

    expect(live.statusCode).toBe(200)
    expect(busyAtHealth).toBeGreaterThan(0)
    const statuses = responses.map((r) => r.statusCode).sort()
    expect(statuses).toEqual([200, 200, 200, 503, 503, 503, 503, 503])
    for (const res of responses.filter((r) => r.statusCode === 503)) {
      expect(res.json().code).toBe('server_busy')
      expect(res.headers['retry-after']).toBe('1')
    }
    // The refusals and the health check came back before any hash finished: nothing stalled behind argon2.
    const firstSuccess = finished.findIndex((e) => e.endsWith(':200'))
    expect(finished.slice(0, firstSuccess).filter((e) => e.endsWith(':503') || e === 'live')).toHaveLength(6)
  })
})
