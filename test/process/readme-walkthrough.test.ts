import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = new URL('../..', import.meta.url).pathname

/** Runs the README's curl walkthrough verbatim (only the port is changed) against a live server. */
describe('README walkthrough', () => {
  let dir: string
  let url: string
  let stop: () => Promise<void>

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-readme-'))
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'src/server.ts'], {
      cwd: root,
      env: { ...process.env, PORT: '0', KEYS_DIR: join(dir, 'keys'), DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`, LOG_LEVEL: 'info', RATE_LIMIT_ENABLED: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 15_000)
      const onData = (c: Buffer) => {
        out += String(c)
        const m = /listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
        if (m) {
          clearTimeout(timer)
          resolve(m[1]!)
        }
      }
      child.stdout.on('data', onData)
      child.stderr.on('data', onData)
    })
    stop = () => new Promise((resolve) => (child.on('exit', () => resolve()), child.kill('SIGTERM')))
  })
  afterAll(async () => {
    await stop?.()
    rmSync(dir, { recursive: true, force: true })
  })

  it('every step works as written', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8')
    const section = /<!-- walkthrough:start -->\s*```sh\n([\s\S]*?)```\s*<!-- walkthrough:end -->/.exec(readme)
    expect(section, 'README has a walkthrough section').not.toBeNull()
    const script = section![1]!.replaceAll('http://127.0.0.1:3000', url)
    const res = spawnSync('bash', ['-euo', 'pipefail', '-c', script], { encoding: 'utf8', timeout: 30_000 })
    expect(res.status, res.stderr).toBe(0)
    // register printed a token response, /me the user, logout 204, the final refresh a problem
    expect(res.stdout).toContain('"token_type": "Bearer"')
    expect(res.stdout).toContain('"email": "ada@example.com"')
    expect(res.stdout).toMatch(/^204$/m)
    expect(res.stdout).toContain('"code": "session_revoked"')
  })
})
