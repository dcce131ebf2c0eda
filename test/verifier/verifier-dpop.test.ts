import type { AddressInfo } from 'node:net'
import { atTokenEndpoint, createMemoryDpopNonces, DpopError, isDpopProblem, VerifierError, type VerifierOptions } from '@latchkey/verifier'
import type { FastifyInstance } from 'fastify'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { buildResourceServer } from '../../examples/resource-server/app.ts'
import { generateSigningKey, type GeneratedKey } from '../../src/keys/generate-key.ts'
import { signAccessTokenSync } from '../../src/tokens/sign-access-token.ts'
import { createDpopClient, thumbprintOf, type DpopClient } from '../helpers/dpop.ts'
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.ts'
import { parseRawResponse, rawExchange } from '../helpers/raw-http.ts'

/** The resource-server verifier with its `dpop` option: RFC 9449 §7 at another service, over real HTTP. */
const ISSUER = 'https://auth.example.test'
const AUDIENCE = 'orders-api'
const PUBLIC_URL = 'https://orders.example.test'

describe('the verifier plugin with DPoP', () => {
  let key: GeneratedKey
  let jwks: JwksServer
  let app: FastifyInstance
  let base: string

  beforeAll(async () => {
    key = await generateSigningKey()
  })
  afterEach(async () => {
    await app?.close()
    await jwks?.close()
  })

  async function start(dpop: Omit<NonNullable<VerifierOptions['dpop']>, 'publicUrl'> | undefined) {
    jwks = await startJwksServer([key])
    app = await buildResourceServer({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: jwks.url, ...(dpop ? { dpop: { publicUrl: PUBLIC_URL, ...dpop } } : {}) })
    await app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  }

  const now = () => Math.floor(Date.now() / 1000)
  const tokenFor = (client?: DpopClient) =>
    signAccessTokenSync(
      { issuer: ISSUER, audience: AUDIENCE, subject: 'user-1', sessionId: 's-1', scope: 'user', now: now(), ttl: 600, ...(client ? { dpopJkt: thumbprintOf(client) } : {}) },
      { kid: key.kid, privateKey: key.privateKey },
    ).token
  const call = (token: string, scheme: string, proof?: string) =>
    fetch(`${base}/orders`, { headers: { authorization: `${scheme} ${token}`, ...(proof ? { dpop: proof } : {}) } })
  const proof = (client: DpopClient, token: string, extra: Record<string, unknown> = {}) =>
    client.proof({ htm: 'GET', htu: `${PUBLIC_URL}/orders`, iat: now(), accessToken: token, ...extra })

  it('accepts a bound token with a proof once, refuses it as Bearer, and keeps Bearer tokens working', async () => {
    await start({})
    const client = createDpopClient('ES256')
    const token = tokenFor(client)
    const p = proof(client, token)
    expect((await call(token, 'DPoP', p)).status).toBe(200)
    const replay = await call(token, 'DPoP', p)
    expect(replay.status).toBe(401)
    expect(((await replay.json()) as { code: string }).code).toBe('invalid_dpop_proof')
    expect(replay.headers.get('www-authenticate')).toMatch(/^Bearer realm="api", DPoP realm="api", error="invalid_dpop_proof", error_description="[^"]+", algs="RS256 PS256 ES256 EdDSA"$/)
    const asBearer = await call(token, 'Bearer')
    expect(asBearer.status).toBe(401)
    expect(((await asBearer.json()) as { code: string }).code).toBe('invalid_token')
    const other = await call(token, 'DPoP', proof(createDpopClient('EdDSA'), token))
    expect(((await other.json()) as { code: string }).code).toBe('invalid_dpop_proof')
    expect((await call(tokenFor(), 'Bearer')).status).toBe(200)
  })

  it('with mode required refuses Bearer tokens; with nonces it hands one out and then accepts it', async () => {
    await start({ mode: 'required', nonces: createMemoryDpopNonces(300, () => 'nonce-of-this-window') })
    expect(((await (await call(tokenFor(), 'Bearer')).json()) as { code: string }).code).toBe('invalid_token')
    const client = createDpopClient('PS256')
    const token = tokenFor(client)
    const refused = await call(token, 'DPoP', proof(client, token))
    expect(refused.status).toBe(401)
    expect(((await refused.json()) as { code: string }).code).toBe('use_dpop_nonce')
    expect(refused.headers.get('dpop-nonce')).toBe('nonce-of-this-window')
    expect((await call(token, 'DPoP', proof(client, token, { nonce: 'nonce-of-this-window' }))).status).toBe(200)
  })

  it('two Authorization headers, or a token in the query as well, are a 400 invalid_request over real HTTP', async () => {
    await start({})
    const client = createDpopClient()
    const token = tokenFor(client)
    const port = Number(new URL(base).port)
    const twice = async (scheme: string, extra: string) =>
      parseRawResponse((await rawExchange(port, [`GET /orders HTTP/1.1\r\nHost: x\r\nAuthorization: ${scheme} ${token}\r\nAuthorization: ${scheme} ${token}\r\n${extra}Connection: close\r\n\r\n`], { waitMs: 5000 })).data)
    for (const res of [await twice('DPoP', `DPoP: ${proof(client, token)}\r\n`), await twice('Bearer', '')]) {
      expect(res.status).toBe(400)
      expect((JSON.parse(res.body) as { code: string }).code).toBe('invalid_request')
    }
    const query = await fetch(`${base}/orders?access_token=${token}`, { headers: { authorization: `DPoP ${token}`, dpop: proof(client, token) } })
    expect(query.status).toBe(400)
    expect(((await query.json()) as { code: string }).code).toBe('invalid_request')
    // The same token presented once, in the header only, is accepted.
    expect((await call(token, 'DPoP', proof(client, token))).status).toBe(200)
  })

  it('without the dpop option a DPoP-bound token is refused in either scheme', async () => {
    await start(undefined)
    const client = createDpopClient()
    const token = tokenFor(client)
    expect((await call(token, 'Bearer')).status).toBe(401)
    const asDpop = await call(token, 'DPoP', proof(client, token))
    expect(asDpop.status).toBe(401)
    expect(asDpop.headers.get('www-authenticate')).toBe('Bearer realm="api"')
  })
})

describe('where a DPoP refusal is answered (RFC 9449 §5, §7.1)', () => {
  it('at a resource a 401 with a challenge; at a token endpoint the same code, detail and DPoP-Nonce as a 400 without one', () => {
    const atResource = new DpopError('use_dpop_nonce', 'use the nonce', { 'DPoP-Nonce': 'n1' })
    expect({ status: atResource.status, challenge: atResource.challenge, site: atResource.site }).toEqual({ status: 401, challenge: true, site: 'resource' })
    const atToken = atTokenEndpoint(atResource)
    expect(atToken).toBeInstanceOf(DpopError)
    expect({ status: atToken.status, challenge: atToken.challenge, code: atToken.code, message: atToken.message, headers: atToken.headers, title: atToken.title })
      .toEqual({ status: 400, challenge: false, code: 'use_dpop_nonce', message: 'use the nonce', headers: { 'DPoP-Nonce': 'n1' }, title: atResource.title })
    expect(atTokenEndpoint(atToken)).toBe(atToken)
    // Any problem with a DPoP code (Latchkey's refresh key mismatch is an AppError), and nothing else.
    const mismatch = new VerifierError('invalid_dpop_proof', 'another key')
    expect(isDpopProblem(mismatch)).toBe(true)
    expect(atTokenEndpoint(mismatch).status).toBe(400)
    const expired = new VerifierError('token_expired', 'expired')
    expect(isDpopProblem(expired)).toBe(false)
    expect(atTokenEndpoint(expired)).toBe(expired)
  })
})
