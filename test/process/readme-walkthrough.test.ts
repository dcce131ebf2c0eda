import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { EnvSchema } from '../../src/config.ts'
import { ERROR_CODES } from '../../src/errors.ts'
import { startServer } from '../helpers/server-process.ts'

const root = new URL('../..', import.meta.url).pathname
const readme = readFileSync(join(root, 'README.md'), 'utf8')

/** Every shell block of the README that calls curl, with the marker in front of it. */
function curlBlocks(): Array<{ marker: string | undefined; script: string }> {
  const blocks: Array<{ marker: string | undefined; script: string }> = []
  const pattern = /(?:<!-- (walkthrough:start|example:[a-z-]+) -->\s*)?```sh\n([\s\S]*?)```/g
  for (const m of readme.matchAll(pattern)) if (m[2]!.includes('curl ')) blocks.push({ marker: m[1], script: m[2]! })
  return blocks
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

async function startLatchkey(dir: string, env: Record<string, string> = {}) {
  const server = await startServer({ KEYS_DIR: join(dir, 'keys'), DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`, RATE_LIMIT_ENABLED: 'false', ...env })
  return {
    url: server.url,
    stop: async () => {
      server.child.kill('SIGTERM')
      await server.exited
    },
  }
}

const bash = (script: string) => spawnSync('bash', ['-euo', 'pipefail', '-c', script], { encoding: 'utf8', timeout: 30_000 })

/** The README's shell examples run verbatim (only host ports change) against a live server. */
describe('README examples', () => {
  const dirs: string[] = []
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'latchkey-readme-'))
    dirs.push(d)
    return d
  }
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

  it('every curl example is one the tests run', () => {
    const blocks = curlBlocks()
    expect(blocks.length).toBeGreaterThanOrEqual(2)
    for (const block of blocks) expect(block.marker, block.script.slice(0, 80)).toMatch(/^(walkthrough:start|example:metrics)$/)
  })

  it('the walkthrough works as written', async () => {
    const server = await startLatchkey(tempDir())
    try {
      const block = curlBlocks().find((b) => b.marker === 'walkthrough:start')!
      const res = bash(block.script.replaceAll('http://127.0.0.1:3000', server.url))
      expect(res.status, res.stderr).toBe(0)
      // register printed a token response, /me the user, logout 204, the final refresh a problem
      expect(res.stdout).toContain('"token_type": "Bearer"')
      expect(res.stdout).toContain('"email": "ada@example.com"')
      expect(res.stdout).toMatch(/^204$/m)
      expect(res.stdout).toContain('"code": "session_revoked"')
    } finally {
      await server.stop()
    }
  })

  it('the metrics example prints the failed-login counter', async () => {
    const port = await freePort()
    const server = await startLatchkey(tempDir(), { METRICS_PORT: String(port) })
    try {
      await fetch(`${server.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'no@example.com', password: 'wrong password!!' }) })
      const block = curlBlocks().find((b) => b.marker === 'example:metrics')!
      const res = bash(block.script.replaceAll('127.0.0.1:9464', `127.0.0.1:${port}`))
      expect(res.status, res.stderr).toBe(0)
      expect(res.stdout).toMatch(/^latchkey_audit_events_total\{type="login_failed"\} 1$/m)
    } finally {
      await server.stop()
    }
  })

  it('the error section names every problem code the API can answer with', () => {
    const errors = readme.slice(readme.indexOf('### Errors'), readme.indexOf('### Passwords'))
    for (const code of ERROR_CODES) expect(errors, code).toContain(`\`${code}\``)
  })

  it('the configuration table names every environment variable the server reads', () => {
    const table = readme.slice(readme.indexOf('\n## Configuration'))
    for (const name of Object.keys(EnvSchema.shape)) expect(table, name).toContain(`\`${name}\``)
  })
})
