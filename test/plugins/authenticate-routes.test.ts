import Fastify from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { AppError } from '../../src/errors.ts'
import { authenticatePlugin } from '@latchkey/verifier'
import { bearer, createTestApp, registerUser, type TestApp } from '../helpers/app.ts'

describe('per-route verification hooks', () => {
  let t: TestApp
  afterEach(() => t.close())

  async function appWithTestRoutes() {
    t = await createTestApp({
      routes: (app) => {
        app.get('/test/plain', async (request) => ({ sub: request.auth?.sub }))
        app.get('/test/admin', { config: { scopes: ['admin'] } }, async () => ({ ok: true }))
        app.get('/test/open', { config: { public: true } }, async (request) => ({ auth: request.auth }))
      },
    })
  }

  it('protects a route registered without any auth config (secure by default), GET and HEAD alike', async () => {
    await appWithTestRoutes()
    expect((await t.app.inject({ method: 'GET', url: '/test/plain' })).statusCode).toBe(401)
    expect((await t.app.inject({ method: 'HEAD', url: '/test/plain' })).statusCode).toBe(401)
    const user = await registerUser(t)
    const ok = await t.app.inject({ method: 'GET', url: '/test/plain', headers: bearer(user.access_token) })
    expect(ok.statusCode).toBe(200)
    expect(ok.json().sub).toBeTruthy()
  })

  it('refuses a valid token without the route scope with 403 insufficient_scope', async () => {
    await appWithTestRoutes()
    const user = await registerUser(t)
    const res = await t.app.inject({ method: 'GET', url: '/test/admin', headers: bearer(user.access_token) })
    expect(res.statusCode).toBe(403)
    expect(res.headers['www-authenticate']).toContain('insufficient_scope')
  })

  it('does not look at the Authorization header of a public route', async () => {
    await appWithTestRoutes()
    const res = await t.app.inject({ method: 'GET', url: '/test/open', headers: { authorization: 'Bearer not-a-token' } })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ auth: null })
  })
})

describe('routes the plugin did not see being added', () => {
  it('are protected too: registered before the plugin, or in a plugin registered before it', async () => {
    const app = Fastify()
    app.get('/early', async () => ({ secret: true }))
    await app.register(async (child) => {
      child.get('/child', { config: { scopes: ['admin'] } }, async () => ({ secret: true }))
    })
    app.get('/early-public', { config: { public: true } }, async () => ({ open: true }))
    await app.register(authenticatePlugin, {
      realm: 'test',
      verifyToken: (token) => {
        if (token !== 'good') throw new AppError('invalid_token', 'bad token')
        return { iss: 'i', sub: 's', aud: 'a', exp: 2, iat: 1, nbf: 1, jti: 'j', sid: 'sid', scope: 'user' }
      },
    })
    await app.ready()
    expect((await app.inject({ url: '/early' })).statusCode).toBe(401)
    expect((await app.inject({ url: '/child' })).statusCode).toBe(401)
    expect((await app.inject({ url: '/early', headers: { authorization: 'Bearer good' } })).statusCode).toBe(200)
    expect((await app.inject({ url: '/child', headers: { authorization: 'Bearer good' } })).statusCode).toBe(403)
    expect((await app.inject({ url: '/early-public' })).statusCode).toBe(200)
    await app.close()
  })
})
