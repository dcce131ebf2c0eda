// A mobile-style client in Node: both tokens in the body, every token DPoP-bound to a key the app
// cannot export. `node examples/mobile/client.ts <base-url> <email> <password>` signs in, calls
// GET /me, refreshes, calls it again, and signs out, printing each step as one JSON line.
import { createDpopFetch, createDpopKey } from './dpop.ts'

const [base = 'http://127.0.0.1:3000', email, password] = process.argv.slice(2)
if (!email || !password) {
  process.stderr.write('usage: node examples/mobile/client.ts <base-url> <email> <password>\n')
  process.exit(2)
}

const key = await createDpopKey()
const dpopFetch = createDpopFetch(key)
const json = { 'content-type': 'application/json' }
const step = (name: string, res: Response, body: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ step: name, status: res.status, ...body })}\n`)

async function call(name: string, path: string, init: RequestInit, accessToken?: string): Promise<Record<string, unknown>> {
  const res = await dpopFetch(`${base}${path}`, init, accessToken)
  const body = res.status === 204 ? {} : ((await res.json()) as Record<string, unknown>)
  step(name, res, body.access_token ? { token_type: body.token_type } : body.code ? { code: body.code } : {})
  if (!res.ok) process.exit(1)
  return body
}

const signIn = await call('login', '/auth/login', { method: 'POST', headers: json, body: JSON.stringify({ email, password }) })
await call('me', '/me', { method: 'GET' }, String(signIn.access_token))
const refreshed = await call('refresh', '/auth/refresh', { method: 'POST', headers: json, body: JSON.stringify({ refresh_token: signIn.refresh_token }) })
await call('me again', '/me', { method: 'GET' }, String(refreshed.access_token))
await call('logout', '/auth/logout', { method: 'POST', headers: json, body: JSON.stringify({ refresh_token: refreshed.refresh_token }) })
