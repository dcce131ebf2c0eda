import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, PASSWORD, type TestApp } from '../helpers/app.ts'

describe('bad input gets a problem document, never a 500', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp()
  })
  afterAll(() => t.close())

  const problem = (res: { statusCode: number; headers: Record<string, unknown>; json(): Record<string, unknown> }, status: number, code: string) => {
    expect(res.statusCode).toBe(status)
    expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/)
    expect(res.json()).toMatchObject({ status, code, type: expect.stringMatching(/^https:\/\//), title: expect.any(String), detail: expect.any(String) })
    expect(JSON.stringify(res.json())).not.toMatch(/at .*\.ts:\d+|node_modules|stack/i)
  }

  it('unknown paths are 404 not_found', async () => {
    problem(await t.inject({ method: 'GET', url: '/nope' }), 404, 'not_found')
    problem(await t.inject({ method: 'POST', url: '/auth/nope', payload: {} }), 404, 'not_found')
  })

  it('a known path with the wrong method is 405 with Allow', async () => {
    const res = await t.inject({ method: 'DELETE', url: '/auth/login' })
    problem(res, 405, 'method_not_allowed')
    expect(res.headers.allow).toBe('POST')
    // A trailing slash is another path, which the router does not serve: 404, not a 405 naming GET.
    problem(await t.inject({ method: 'GET', url: '/me/' }), 404, 'not_found')
  })

  it('malformed JSON is 400 malformed_json', async () => {
    for (const payload of ['{"email":', '{bad json}', '\u0000']) {
      problem(await t.inject({ method: 'POST', url: '/auth/login', payload, headers: { 'content-type': 'application/json' } }), 400, 'malformed_json')
    }
    problem(await t.inject({ method: 'POST', url: '/auth/login', payload: '', headers: { 'content-type': 'application/json' } }), 400, 'malformed_json')
  })

  it('prototype pollution attempts are refused', async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/auth/login',
      payload: '{"email":"a@b.co","password":"x","__proto__":{"admin":true}}',
      headers: { 'content-type': 'application/json' },
    })
    expect(res.statusCode).toBe(400)
  })

  it('a non-JSON content type is 415 unsupported_media_type', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) {
      problem(await t.inject({ method: 'POST', url: '/auth/login', payload: 'email=a', headers: { 'content-type': type } }), 415, 'unsupported_media_type')
    }
  })

  it('an oversized body is 413 payload_too_large', async () => {
    const res = await t.inject({ method: 'POST', url: '/auth/register', payload: { email: 'a@b.co', password: 'x'.repeat(20_000) } })
    problem(res, 413, 'payload_too_large')
  })

  it('validation failures are 400 validation_failed listing each offending field', async () => {
    const res = await t.inject({ method: 'POST', url: '/auth/register', payload: { email: 'not-an-email', password: 42, extra: true } })
    problem(res, 400, 'validation_failed')
    const fields = (res.json().errors as Array<{ field: string }>).map((e) => e.field).sort()
    expect(fields).toEqual(['(body)', 'email', 'password'])
    for (const payload of [[], 'str', 7, null]) {
      problem(await t.inject({ method: 'POST', url: '/auth/login', payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } }), 400, 'validation_failed')
    }
    problem(await t.inject({ method: 'POST', url: '/auth/login' }), 400, 'validation_failed')
    problem(await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 12 } }), 400, 'validation_failed')
  })

  it('emails are normalised: trim, NFKC, lowercase', async () => {
    const res = await t.inject({ method: 'POST', url: '/auth/register', payload: { email: '  Ｕｓｅｒ@Example.COM ', password: PASSWORD } })
    expect(res.statusCode).toBe(201)
    expect(await t.store.findUserByEmail('user@example.com')).not.toBeNull()
    const again = await t.inject({ method: 'POST', url: '/auth/login', payload: { email: 'USER@example.com', password: PASSWORD } })
    expect(again.statusCode).toBe(200)
  })
})
