import { buildResourceServer } from './app.ts'

/** Run: LATCHKEY_URL=http://127.0.0.1:3000 node examples/resource-server/server.ts */
const latchkeyUrl = process.env.LATCHKEY_URL ?? 'http://127.0.0.1:3000'
const app = await buildResourceServer(
  {
    issuer: process.env.LATCHKEY_ISSUER ?? latchkeyUrl,
    audience: process.env.LATCHKEY_AUDIENCE ?? 'latchkey',
    jwksUrl: `${latchkeyUrl}/.well-known/jwks.json`,
  },
  { logger: { level: process.env.LOG_LEVEL ?? 'info' } },
)
process.on('SIGHUP', () => void app.latchkeyKeys.refresh('SIGHUP'))
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void app.close().then(() => process.exit(0)))
await app.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 4000) })
