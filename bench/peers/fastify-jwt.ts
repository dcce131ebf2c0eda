import { generateKeyPairSync } from 'node:crypto'
import fastifyJwt from '@fastify/jwt'
import Fastify from 'fastify'

// Reference peer: Fastify + @fastify/jwt with its defaults (RS256 inferred from an RSA key pair).
const { privateKey, publicKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
})
const app = Fastify({ logger: false })
await app.register(fastifyJwt, { secret: { private: privateKey, public: publicKey }, sign: { expiresIn: '10m' } })

app.get('/health', async () => ({ status: 'ok' }))
app.get('/token', async () => ({ token: app.jwt.sign({ sub: 'user-1', scope: 'user', sid: 'session-1' }) }))
app.get('/protected', { onRequest: [(request) => request.jwtVerify()] }, async (request) => request.user)

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) })
