import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, PASSWORD, registerUser, type TestApp } from '../helpers/app.ts'

const expectSecurityHeaders = (res: LightMyRequestResponse, what: string) => {
  expect(res.headers['x-content-type-options'], what).toBe('nosniff')
  expect(res.headers['x-frame-options'], what).toBe('DENY')
  expect(res.headers['referrer-policy'], what).toBe('no-referrer')
  const csp = String(res.headers['content-security-policy'])
  if (/ \/docs(\/|$| )/.test(what)) {
    // The reference page runs Swagger UI: its own strict policy (same-origin assets, hashed inline code).
    expect(csp, what).toMatch(/^default-src 'self';/)
    expect(csp, what).toContain("object-src 'none'")
    expect(csp, what).toContain("frame-ancestors 'none'")
    expect(csp, what).not.toContain('unsafe-inline')
    // An HTML page also gets helmet's document-only headers.
    expect(res.headers['cross-origin-opener-policy'], what).toBe('same-origin')
    expect(res.headers['x-permitted-cross-domain-policies'], what).toBe('none')
    expect(res.headers['x-dns-prefetch-control'], what).toBe('off')
  } else {
    expect(csp, what).toBe("default-src 'none';frame-ancestors 'none'")
    // JSON is never rendered as a document: those headers would only cost every response.
    expect(res.headers['cross-origin-opener-policy'], what).toBeUndefined()
    expect(res.headers['x-xss-protection'], what).toBeUndefined()
  }
  expect(res.headers['strict-transport-security'], what).toBe('max-age=31536000; includeSubDomains')
  expect(res.headers['cross-origin-resource-policy'], what).toBe('same-origin')
  expect(res.headers['x-powered-by'], what).toBeUndefined()
}

/** What the /docs/* route serves (the API reference's own app): walked as concrete URLs. */
const REFERENCE_FILES = ['/docs/json', '/docs/static/index.html', '/docs/static/swagger-initializer.js', '/docs/yaml']
const urlsOf = (route: { url: string }) => (route.url === '/docs/*' ? REFERENCE_FILES : [route.url])

describe('security headers', () => {
  let t: TestApp
  let access: string
  beforeAll(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_ENABLED: 'false' } })
    access = (await registerUser(t)).access_token
  })
  afterAll(() => t.close())

  it('every registered route answers with them, with a token, without one, and on refusals', async () => {
    for (const route of t.app.registeredRoutes()) {
      for (const path of urlsOf(route)) {
        const url = path.replace(/:[A-Za-z0-9_]+/g, '00000000-0000-4000-8000-000000000000')
        const payload = route.method === 'POST' || route.method === 'PUT' ? {} : undefined
        for (const headers of [bearer(access), {}, bearer('not.a.token')]) {
          const res = await t.app.inject({ method: route.method as 'GET', url, headers, ...(payload ? { payload } : {}) })
          expectSecurityHeaders(res, `${route.method} ${path} → ${res.statusCode}`)
        }
      }
    }
  })

  it('unknown paths, wrong methods, bad bodies and oversized bodies carry them too', async () => {
    const cases = [
      await t.inject({ method: 'GET', url: '/nope' }),
      await t.inject({ method: 'GET', url: '/docs/static/nope.js' }),
      await t.inject({ method: 'POST', url: '/docs/json' }),
      await t.inject({ method: 'DELETE', url: '/auth/login' }),
      await t.inject({ method: 'POST', url: '/auth/login', payload: '{', headers: { 'content-type': 'application/json' } }),
      await t.inject({ method: 'POST', url: '/auth/login', payload: 'x', headers: { 'content-type': 'text/plain' } }),
      await t.inject({ method: 'POST', url: '/auth/login', payload: { email: 'a@b.co', password: 'x'.repeat(20_000) } }),
    ]
    for (const res of cases) expectSecurityHeaders(res, String(res.statusCode))
    expect(cases.map((r) => r.statusCode)).toEqual([404, 404, 405, 405, 400, 415, 413])
    expect(cases[1]!.headers['cache-control']).toBe('no-store')
    expect(cases[2]!.headers.allow).toBe('GET, HEAD')
  })

  it('every response that carries a token, and every error, is Cache-Control: no-store', async () => {
    const { email, refresh_token } = await registerUser(t)
    const carrying = [
      await t.inject({ method: 'POST', url: '/auth/register', payload: { email: `n-${email}`, password: PASSWORD } }),
      await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD } }),
      await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token } }),
      await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(access) }),
      await t.inject({ method: 'GET', url: '/me', headers: bearer(access) }),
      await t.inject({ method: 'GET', url: '/me', headers: bearer('x.y.z') }),
      await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'wrong password here' } }),
    ]
    for (const res of carrying) expect(res.headers['cache-control'], String(res.statusCode)).toBe('no-store')
    expect(carrying.slice(0, 5).every((r) => r.statusCode < 300)).toBe(true)
  })

  it('only public, token-free documents are cacheable', async () => {
    const cacheable = []
    for (const url of t.app.registeredRoutes().filter((r) => r.method === 'GET').flatMap(urlsOf)) {
      const res = await t.app.inject({ method: 'GET', url, headers: bearer(access) })
      if (res.headers['cache-control'] !== 'no-store') cacheable.push(url)
    }
    // The key set, the metadata, the spec and the reference page carry no secret; adding anything here means reviewing it.
    expect(cacheable.sort()).toEqual([
      '/.well-known/jwks.json',
      '/.well-known/oauth-authorization-server',
      '/.well-known/openid-configuration',
      '/docs',
      '/docs/json',
      '/docs/static/index.html',
      '/docs/static/swagger-initializer.js',
      '/docs/yaml',
      '/openapi.yaml',
    ])
  })
})
