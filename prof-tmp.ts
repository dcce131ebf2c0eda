import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import type { Request } from 'autocannon'
import { loadConfig } from './src/config.ts'
import { ensureKeyDir, loadKeyRecords, readManifest } from './src/keys/key-files.ts'
import { signAccessToken } from './src/tokens/sign-access-token.ts'
import { bearerPerConnection, runLoad } from './bench/load.ts'
const dir = mkdtempSync(join(tmpdir(), 'prof-'))
const keysDir = join(dir, 'keys')
await ensureKeyDir(keysDir, new Date())
const config = loadConfig({})
const recs = await loadKeyRecords(keysDir, (await readManifest(keysDir))!)
const key = { kid: recs[0]!.kid, privateKey: recs[0]!.privateKey! }
const mode = process.argv[2] ?? 'hit'
const extraEnv = JSON.parse(process.argv[3] ?? '{}')
const prof = process.argv[4] === 'prof' ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []
const B = 'http://127.0.0.1:39555'
const child = spawn(process.execPath, [...prof, 'src/server.ts'], { env: { ...process.env, PORT: '39555', KEYS_DIR: keysDir, DATABASE_URL: `sqlite:${join(dir, 'db')}`, LOG_LEVEL: 'warn', ...extraEnv }, stdio: 'inherit' })
await new Promise((r) => setTimeout(r, 2500))
console.log('health', (await runLoad({ url: B + '/health/live', connections: 10, duration: 3 })).rps.toFixed(0))
if (mode === 'miss') {
  const tokens = Array.from({ length: 40000 }, (_, i) => signAccessToken({ issuer: config.issuer, audience: config.audience, subject: `u${i}`, sessionId: `s${i}`, scope: 'user', now: Math.floor(Date.now() / 1000), ttl: 600 }, key).token)
  console.log(mode, (await runLoad({ url: B, connections: 10, duration: 4, ...bearerPerConnection('/me/claims', tokens, 10) })).rps.toFixed(0))
} else {
  const post = async (p: string, b: unknown) => (await (await fetch(B + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) })).json()) as Record<string, string>
  await post('/auth/register', { email: 'p@example.com', password: 'correct horse battery staple' })
  const pool: string[] = []
  for (let i = 0; i < 14; i++) pool.push((await post('/auth/login', { email: 'p@example.com', password: 'correct horse battery staple' })).refresh_token!)
  const requests: Request[] = [{ method: 'POST', path: '/auth/refresh', headers: { 'content-type': 'application/json' }, setupRequest: (r) => ({ ...r, body: JSON.stringify({ refresh_token: pool.shift() }) }), onResponse: (s, b) => { if (s === 200) pool.push(JSON.parse(b).refresh_token) } }]
  const r = await runLoad({ url: B, connections: 10, duration: 5, requests })
  console.log('refresh', r.rps.toFixed(0), 'p50', r.p50.toFixed(2), 'p99', r.p99.toFixed(2), 'non2xx', r.non2xx)
}
child.kill('SIGINT')
await new Promise((r) => child.once('exit', r))
