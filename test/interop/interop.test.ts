import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fastifyJwt, { type TokenOrHeader } from '@fastify/jwt'
import express from 'express'
import { auth } from 'express-oauth2-jwt-bearer'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import buildGetJwks from 'get-jwks'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildResourceServer } from '../../examples/resource-server/app.ts'
import { startInstance, type Instance } from '../helpers/instance.ts'

/**
 * The recipes of docs/verifier.md, each against a real Latchkey on a port that is not 3000 and with no
 * ISSUER set: the issuer a verifier learns (from the token, the metadata or its configuration) must be
 * where the keys are. Each accepts a real token and refuses the same token with one payload character
 * changed.
 */
describe('verifying Latchkey tokens in another service', () => {
  let dir: string
  let latchkey: Instance
  let token: string
  let tampered: string
  const audience = 'latchkey'

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-interop-'))
    latchkey = await startInstance('interop', { DATABASE_URL: 'sqlite::memory:', KEYS_DIR: join(dir, 'keys'), LOG_LEVEL: 'warn' })
    expect(new URL(latchkey.url).port).not.toBe('3000')
    const registered = await latchkey.fetch('/auth/register', { method: 'POST', body: { email: 'interop@example.com', password: 'correct horse battery staple' } })
    expect(registered.status).toBe(201)
    token = (registered.json() as { access_token: string }).access_token
    const [header, payload, signature] = token.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>
    tampered = [header, Buffer.from(JSON.stringify({ ...claims, scope: 'user admin' })).toString('base64url'), signature].join('.')
  })

  afterAll(async () => {
    await latchkey?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('the token names this instance as its issuer, and the metadata at that issuer points to its keys', async () => {
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { iss: string }
    expect(claims.iss).toBe(latchkey.url)
    const metadata = (await (await fetch(`${claims.iss}/.well-known/openid-configuration`)).json()) as { issuer: string; jwks_uri: string }
    expect(metadata.issuer).toBe(latchkey.url)
    expect(((await (await fetch(metadata.jwks_uri)).json()) as { keys: unknown[] }).keys.length).toBeGreaterThan(0)
  })

  async function listen(app: FastifyInstance): Promise<string> {
    await app.listen({ host: '127.0.0.1', port: 0 })
    return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  }

  async function statusOf(url: string, bearer: string): Promise<number> {
    return (await fetch(url, { headers: { authorization: `Bearer ${bearer}` } })).status
  }

  it('(a) @latchkey/verifier: the example resource server', async () => {
    const app = await buildResourceServer({ issuer: latchkey.url, audience, jwksUrl: `${latchkey.url}/.well-known/jwks.json` })
    try {
      const base = await listen(app)
      expect(await statusOf(`${base}/orders`, token)).toBe(200)
      const refused = await fetch(`${base}/orders`, { headers: { authorization: `Bearer ${tampered}` } })
      expect(refused.status).toBe(401)
      expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token"')
      expect(await statusOf(`${base}/reports`, token)).toBe(403)
    } finally {
      await app.close()
    }
  })

  it('(b) @fastify/jwt with get-jwks: keys found through the issuer\'s metadata, RS256 pinned, typ, iss and aud checked', async () => {
    const getJwks = buildGetJwks({ providerDiscovery: true, issuersWhitelist: [latchkey.url] })
    const app = Fastify()
    await app.register(fastifyJwt, {
      decode: { complete: true },
      secret: async (_request: FastifyRequest, token: TokenOrHeader): Promise<string> => {
        const { header, payload } = token as { header: { kid: string; alg: string }; payload: { iss: string } }
        return getJwks.getPublicKey({ kid: header.kid, alg: header.alg, domain: payload.iss })
      },
      verify: { algorithms: ['RS256'], allowedIss: latchkey.url, allowedAud: audience, checkTyp: 'at+jwt', requiredClaims: ['exp', 'iat', 'sub', 'sid'] },
    })
    app.get('/orders', async (request) => {
      await request.jwtVerify()
      return { owner: (request.user as { sub: string }).sub }
    })
    try {
      const base = await listen(app)
      expect(await statusOf(`${base}/orders`, token)).toBe(200)
      expect(await statusOf(`${base}/orders`, tampered)).toBe(401)
    } finally {
      await app.close()
    }
  })

  it('(c) jose: createRemoteJWKSet and jwtVerify with the algorithm, typ, issuer and audience pinned', async () => {
    const jwks = createRemoteJWKSet(new URL(`${latchkey.url}/.well-known/jwks.json`))
    const options = { issuer: latchkey.url, audience, algorithms: ['RS256'], typ: 'at+jwt', requiredClaims: ['exp', 'iat', 'sub', 'sid'] }
    const { payload, protectedHeader } = await jwtVerify(token, jwks, options)
    expect(protectedHeader.alg).toBe('RS256')
    expect(payload.iss).toBe(latchkey.url)
    await expect(jwtVerify(tampered, jwks, options)).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' })
    await expect(jwtVerify(token, jwks, { ...options, audience: 'someone-else' })).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' })
  })

  it('(d) Express with express-oauth2-jwt-bearer: the issuer discovered from its metadata, RS256 and typ pinned', async () => {
    const app = express()
    app.use(auth({ issuerBaseURL: latchkey.url, audience, tokenSigningAlg: 'RS256', validators: { typ: 'at+jwt' } }))
    app.get('/orders', (request, response) => {
      response.json({ owner: request.auth?.payload.sub })
    })
    // Its errors carry their HTTP status; answer them as such (Express would otherwise log a stack).
    app.use((err: { status?: number }, _request: express.Request, response: express.Response, _next: express.NextFunction) => {
      response.status(err.status ?? 500).json({ error: String(err.status ?? 500) })
    })
    const server = app.listen(0, '127.0.0.1')
    await new Promise<void>((resolve) => server.once('listening', () => resolve()))
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const accepted = await fetch(`${base}/orders`, { headers: { authorization: `Bearer ${token}` } })
      expect(accepted.status).toBe(200)
      expect(((await accepted.json()) as { owner: string }).owner).toMatch(/^[0-9a-f-]{36}$/)
      expect(await statusOf(`${base}/orders`, tampered)).toBe(401)
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})
