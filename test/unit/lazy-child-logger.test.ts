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

  it('write nothing for a request below the level, and a request\'s own line at or above it, with its id', async () => {
    t = await createTestApp({
      env: { LOG_LEVEL: 'warn' },
      routes: (app) => {
        app.get('/test/warns', { config: { public: true } }, async (request) => {
          request.log.info('below the level')
          request.log.warn({ detail: 1 }, 'from the request')
          return { ok: true }
        })
      },
    })
    const before = t.logs.length
    expect((await t.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200)
    expect((await t.inject({ method: 'GET', url: '/me/claims' })).statusCode).toBe(401)
    expect(t.logs.length).toBe(before)
    const res = await t.app.inject({ method: 'GET', url: '/test/warns' })
    expect(lines().slice(before).map((l) => [l.msg, l.reqId, l.detail])).toEqual([['from the request', res.headers['x-request-id'], 1]])
  })

  it('honour a route\'s own log level, below the server\'s', async () => {
    t = await createTestApp({
      env: { LOG_LEVEL: 'warn' },
      routes: (app) => {
        app.get('/test/chatty', { config: { public: true }, logLevel: 'debug' }, async (request) => {
          request.log.debug('route-level debug')
          return { ok: true }
        })
      },
    })
    const res = await t.app.inject({ method: 'GET', url: '/test/chatty' })
    const ours = lines().filter((l) => l.reqId === res.headers['x-request-id'])
    expect(ours.map((l) => l.msg)).toEqual(['incoming request', 'route-level debug', 'request completed'])
  })
})
