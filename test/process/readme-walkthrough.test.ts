import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { EnvSchema } from '../../src/config.ts'
import { ERROR_CODES } from '../../src/errors.ts'
import { AUDIT_EVENT_TYPES } from '../../src/store/store.ts'
import { docBlock, readDoc } from '../helpers/doc-blocks.ts'
import { startServer } from '../helpers/server-process.ts'

const THIS = 'test/process/readme-walkthrough.test.ts'
const readme = readDoc('README.md')

/** The text of one `## …` section of a Markdown document, up to the next heading of that level. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n${heading}\n`)
  if (start < 0) throw new Error(`no section ${heading}`)
  const next = markdown.indexOf('\n## ', start + heading.length + 2)
  return markdown.slice(start, next < 0 ? undefined : next)
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

  it('the walkthrough works as written', async () => {
    const dir = tempDir()
    const server = await startServer({ KEYS_DIR: join(dir, 'keys'), DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`, RATE_LIMIT_ENABLED: 'false' })
    try {
      const block = docBlock('README.md', 'curl -s -X POST http://127.0.0.1:3000/auth/register', THIS)
      const res = bash(block.replaceAll('http://127.0.0.1:3000', server.url))
      expect(res.status, res.stderr).toBe(0)
      // register printed a token response, /me the user, logout 204, the final refresh a problem
      expect(res.stdout).toContain('"token_type": "Bearer"')
      expect(res.stdout).toContain('"email": "ada@example.com"')
      expect(res.stdout).toMatch(/^204$/m)
      expect(res.stdout).toContain('"code": "session_revoked"')
    } finally {
      server.child.kill('SIGTERM')
      await server.exited
    }
  })

  it('the README stays a guide: at most 20 KB', () => {
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(20 * 1024)
  })

  it("the API guide's error section names every problem code the API can answer with", () => {
    const errors = section(readDoc('docs/api.md'), '## Errors')
    for (const code of ERROR_CODES) expect(errors, code).toContain(`\`${code}\``)
  })

  it("the operations guide's audit counter row names exactly the audit event types", () => {
    const row = readDoc('docs/operations.md').split('\n').find((l) => l.startsWith('| `latchkey_audit_events_total` |'))
    const types = /by type(.*)Every type is exported/.exec(row ?? '')?.[1] ?? ''
    const named = [...types.matchAll(/`([a-z_]+)`/g)].map((m) => m[1])
    expect(named.toSorted()).toEqual([...AUDIT_EVENT_TYPES].sort())
  })

  it('the configuration reference names every environment variable the server reads', () => {
    const table = section(readDoc('docs/configuration.md'), '## Configuration')
    for (const name of Object.keys(EnvSchema.shape)) expect(table, name).toContain(`\`${name}\``)
  })

  it("the README's configuration table names only variables the server reads", () => {
    const rows = section(readme, '## Configuration')
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .map((l) => /^\| `([A-Z0-9_]+)`/.exec(l)?.[1])
    expect(rows.length).toBeGreaterThanOrEqual(10)
    for (const name of rows) expect(Object.keys(EnvSchema.shape), String(name)).toContain(name)
  })
})
