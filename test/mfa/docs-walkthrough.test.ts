import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ERROR_CATALOG } from '../../src/errors.ts'
import { startServer } from '../helpers/server-process.ts'

const root = new URL('../..', import.meta.url).pathname
const DOC = 'docs/mfa.md'
const THIS_TEST = 'test/mfa/docs-walkthrough.test.ts'
const doc = readFileSync(join(root, DOC), 'utf8')

/** The ```sh blocks of docs/mfa.md marked `test: ${THIS_TEST}`, in order. */
function ourBlocks(): string[] {
  const lines = doc.split('\n')
  const found: string[] = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```sh') continue
    let end = i + 1
    while (lines[end] !== '```') end++
    let before = i - 1
    while (before >= 0 && lines[before]!.trim() === '') before--
    if (lines[before] === `<!-- test: ${THIS_TEST} -->`) found.push(lines.slice(i + 1, end).join('\n'))
    i = end
  }
  return found
}

function bash(script: string, cwd: string, env: Record<string, string> = {}) {
  return spawnSync('bash', ['-euo', 'pipefail', '-c', script], { cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } })
}

/** docs/mfa.md runs as written against `npm start`'s defaults (a development data key is generated); only the port differs. */
describe(DOC, () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-mfa-docs-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('names every second-factor problem code', () => {
    for (const code of ['invalid_mfa_code', 'invalid_mfa_challenge', 'mfa_challenge_locked', 'mfa_account_locked', 'mfa_already_enabled', 'mfa_not_enabled', 'insufficient_user_authentication'] as const) {
      expect(ERROR_CATALOG[code], code).toBeDefined()
      expect(doc, code).toContain(`\`${code}\``)
    }
  })

  it('the walkthrough enrols, signs in with a TOTP code computed by the one-liner, steps up with a recovery code, and the CLI resets', async () => {
    const blocks = ourBlocks()
    expect(blocks).toHaveLength(5)
    const env = { KEYS_DIR: join(dir, 'keys'), DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}` }
    const server = await startServer(env)
    try {
      const res = bash(blocks.slice(0, 4).join('\n').replaceAll('http://127.0.0.1:3000', server.url), dir)
      expect(res.status, `${res.stderr}\n${server.output().slice(-2000)}`).toBe(0)
      const out = res.stdout.trim().split('\n')
      expect(out[0]).toBe('aal2')
      expect(out[1]).toMatch(/^WWW-Authenticate: Bearer realm="latchkey", error="insufficient_user_authentication", error_description="[^"]+", acr_values="aal2", max_age=300, DPoP /i)
      expect(out[2]).toBe('204')
      // No DATA_ENCRYPTION_KEY: the server made a development key, private to its owner, and said so.
      expect(statSync(join(dir, 'keys', 'data-encryption.key')).mode & 0o077).toBe(0)
      expect(server.output()).toContain('DATA_ENCRYPTION_KEY is not set')
    } finally {
      server.child.kill('SIGTERM')
      await server.exited
    }
    const cli = bash(blocks[4]!, root, { ...env, LOG_LEVEL: 'silent' })
    expect(cli.status, cli.stderr).toBe(0)
    expect(cli.stdout).toBe('ada@example.com had no second factor\n')
    expect(existsSync(join(dir, 'db.sqlite'))).toBe(true)
  })
})
