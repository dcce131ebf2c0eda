import { afterEach, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.ts'

/** What a new user tripped over (issue 24), each answered as documented. */
describe('discovery and the papercuts of a first integration', () => {
  let t: TestApp | undefined
  afterEach(async () => {
    await t?.close()
    t = undefined
  })

  it('publishes RFC 8414 metadata at both well-known paths: the issuer of its tokens and where the keys are, cacheable like the JWKS', async () => {
    t = await createTestApp({ env: { PUBLIC_URL: 'https://auth.example.com', JWKS_MAX_AGE: '120' } })
    for (const url of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const res = await t.inject({ method: 'GET', url })
      expect(res.statusCode).toBe(200)
      expect(res.headers['cache-control']).toBe('public, max-age=120')
      expect(res.json()).toEqual({
        issuer: 'https://auth.example.com',
        jwks_uri: 'https://auth.example.com/.well-known/jwks.json',
        response_types_supported: [],
        grant_types_supported: [],
        service_documentation: 'https://auth.example.com/docs',
      })
    }
  })

  it('with CORS on, an unknown path is a 404 problem and a known path with the wrong method a 405 that does not list OPTIONS alone', async () => {
    t = await createTestApp({ env: { CORS_ORIGINS: 'http://localhost:5173' } })
    const unknown = await t.inject({ method: 'GET', url: '/nope' })
    expect(unknown.statusCode).toBe(404)
    expect(unknown.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    expect(unknown.json()).toMatchObject({ code: 'not_found', status: 404 })
    expect(unknown.headers.allow).toBeUndefined()

    const wrongMethod = await t.inject({ method: 'DELETE', url: '/auth/login' })
    expect(wrongMethod.statusCode).toBe(405)
    expect(wrongMethod.headers.allow).toBe('POST')

    // The preflight route still answers for every path (CORS preflights are outside the OpenAPI contract).
    const preflight = await t.app.inject({ method: 'OPTIONS', url: '/nope', headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'GET' } })
    expect(preflight.statusCode).toBe(204)
    expect(preflight.headers['access-control-allow-origin']).toBe('http://localhost:5173')
  })
})
