import { afterEach, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.ts'

/** Each request's logger is made only when the request logs; what it logs is unchanged. */
describe('per-request loggers', () => {
  let t: TestApp
  afterEach(() => t.close())

  const lines = () => t.logs.map((l) => JSON.parse(l) as Record<string, unknown>)

  it('write every line of a request with its request id, as a pino child would', async () => {
    t = await createTestApp({ env: { LOG_LEVEL: 'info' } })
    const res = await t.inject({ method: 'GET', url: '/me/claims' })
    expect(res.statusCode).toBe(401)
    const ours = lines().filter((l) => l.reqId === res.headers['x-request-id'])
    expect(ours.map((l) => l.msg)).toEqual(['incoming request', 'authentication refused', 'request completed'])
    // The child keeps the logger's redaction and base fields.
    expect(ours.every((l) => l.service === 'latchkey')).toBe(true)
  })

  it('write nothing for a request below the level, and still log what is at or above it', async () => {
    t = await createTestApp({ env: { LOG_LEVEL: 'warn' } })
    const before = t.logs.length
    expect((await t.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200)
    expect((await t.inject({ method: 'GET', url: '/me/claims' })).statusCode).toBe(401)
    expect(t.logs.length).toBe(before)
    t.app.log.warn('after the requests')
    expect(lines().at(-1)?.msg).toBe('after the requests')
  })
})
