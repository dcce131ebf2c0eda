import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BARE_CHALLENGE, createTestApp, type TestApp } from '../helpers/app.ts'

describe('secure by default', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp()
  })
  afterAll(() => t.close())

  it('every registered route that is not marked public answers 401 without a token', async () => {
    const routes = t.app.registeredRoutes().filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS')
    const protectedRoutes = routes.filter((r) => !r.public)
    expect(protectedRoutes.length).toBeGreaterThanOrEqual(2)
    for (const route of protectedRoutes) {
      const url = route.url.replace(/:[A-Za-z0-9_]+/g, '00000000-0000-4000-8000-000000000000')
      const res = await t.inject({ method: route.method as 'GET', url, payload: route.method === 'GET' || route.method === 'DELETE' ? undefined : {} })
      expect(res.statusCode, `${route.method} ${route.url}`).toBe(401)
      expect(res.json().code).toBe('missing_token')
      expect(res.headers['www-authenticate']).toBe(BARE_CHALLENGE)
    }
  })

  it('the public routes are exactly the documented public ones', () => {
    const publicRoutes = t.app
      .registeredRoutes()
      .filter((r) => r.public && r.method !== 'HEAD')
      .map((r) => `${r.method} ${r.url}`)
      .sort()
    // A security contract: adding a public route means adding it here, on purpose.
    expect(publicRoutes).toEqual([
      'GET /.well-known/jwks.json',
      'GET /.well-known/oauth-authorization-server',
      'GET /.well-known/openid-configuration',
      'GET /docs',
      // Swagger UI's assets, /docs/json and /docs/yaml, served from the reference app built on first use
      'GET /docs/*',
      'GET /health/live',
      'GET /health/ready',
      'GET /openapi.yaml',
      // Mail links: the token in the body is the credential (issue 17)
      'POST /auth/email/verify',
      'POST /auth/login',
      'POST /auth/logout',
      // Passkey sign-in: the signed assertion is the credential (issue 22)
      'POST /auth/passkeys/login/options',
      'POST /auth/passkeys/login/verify',
      // Always the same 202, whether or not the account exists
      'POST /auth/password/forgot',
      'POST /auth/password/reset',
      'POST /auth/refresh',
      'POST /auth/register',
    ])
  })
})
