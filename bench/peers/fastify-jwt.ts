import { readFileSync } from 'node:fs'
import fastifyJwt from '@fastify/jwt'
import Fastify from 'fastify'

// Reference peer: Fastify + @fastify/jwt with its defaults (RS256 inferred from the RSA key, no
// verify cache). It verifies with the public key the bench passes in (Latchkey's), so it is sent
// the very same first-seen tokens as Latchkey.
const publicKey = readFileSync(process.env.VERIFY_KEY_FILE!, 'utf8')
const app = Fastify({ logger: false })
await app.register(fastifyJwt, { secret: { public: publicKey } })

app.get('/health', async () => ({ status: 'ok' }))
app.get('/protected', { onRequest: [(request) => request.jwtVerify()] }, async (request) => request.user)

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) })
