import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ERROR_CATALOG } from '../../src/errors.ts'
import { startServer } from '../helpers/server-process.ts'

const root = new URL('../..', import.meta.url).pathname
const THIS_TEST = 'test/mail/docs-walkthrough.test.ts'
const doc = readFileSync(join(root, 'docs/mail.md'), 'utf8')

interface Block {
  marker: string | undefined
  /** The `## ` section the block is in. */
  section: string
  script: string
}

/** Every ```sh and ```http block of docs/mail.md, with the comment line in front of it and its section. */
function blocks(): Block[] {
  const found: Block[] = []
  let section = ''
  const lines = doc.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (line.startsWith('## ')) section = line.slice(3)
    const fence = /^```(sh|http)$/.exec(line)
    if (!fence) {
      // Skip over other fenced blocks whole, so their contents are never read as fences.
      if (/^```\S*$/.test(line)) while (++i < lines.length && lines[i] !== '```');
      continue
    }
    let end = i + 1
    while (lines[end] !== '```') end++
    let before = i - 1
    while (before >= 0 && lines[before]!.trim() === '') before--
    const marker = /^<!-- ((?:test|not-run): .+) -->$/.exec(lines[before] ?? '')?.[1]
    found.push({ marker, section, script: lines.slice(i + 1, end).join('\n') })
    i = end
  }
  return found
}

const ours = (section: string) => blocks().filter((b) => b.marker === `test: ${THIS_TEST}` && b.section.startsWith(section))

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

function bash(script: string, cwd: string, env: Record<string, string> = {}) {
  return spawnSync('bash', ['-euo', 'pipefail', '-c', script], { cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } })
}

/**
 * docs/mail.md runs as written: its curl walkthrough against a server started with the defaults
 * (no SMTP_URL: the .eml files under MAIL_DIR, which the commands read), the REQUIRE_VERIFIED_EMAIL
 * example against a second one, the metrics and CLI examples against the first one's listener and
 * database. Only host ports differ.
 */
describe('docs/mail.md', () => {
  const dirs: string[] = []
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'latchkey-mail-docs-'))
    dirs.push(d)
    return d
  }
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

  async function latchkey(dir: string, env: Record<string, string> = {}) {
    const server = await startServer({ KEYS_DIR: join(dir, 'keys'), DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`, MAIL_DIR: join(dir, 'data/mail'), ...env })
    return {
      url: server.url,
      output: server.output,
      stop: async () => {
        server.child.kill('SIGTERM')
        await server.exited
      },
    }
  }

  it('every sh and http block says which test runs it, or why none does', () => {
    const all = blocks()
    expect(all.length).toBeGreaterThanOrEqual(8)
    for (const b of all) {
      expect(b.marker, b.script.slice(0, 80)).toBeDefined()
      if (b.marker!.startsWith('test: ')) expect(existsSync(join(root, b.marker!.slice('test: '.length))), b.marker).toBe(true)
    }
    // Every block that names this file is one of those run below.
    const run = ['Walkthrough', 'Requiring', 'Metrics', 'CLI'].flatMap(ours)
    expect(run).toEqual(all.filter((b) => b.marker === `test: ${THIS_TEST}`))
  })

  it('names every mail problem code', () => {
    for (const code of ['link_token_invalid', 'link_token_expired', 'link_token_used', 'link_token_wrong_purpose', 'email_not_verified', 'email_already_verified', 'invalid_current_password', 'email_taken', 'weak_password', 'account_disabled', 'rate_limited'] as const) {
      expect(ERROR_CATALOG[code], code).toBeDefined()
      expect(doc, code).toContain(`\`${code}\``)
    }
  })

  it('the walkthrough, the metrics and the CLI examples work as written', async () => {
    const dir = tempDir()
    const metricsPort = await freePort()
    const server = await latchkey(dir, { METRICS_PORT: String(metricsPort) })
    try {
      const [helper, ...steps] = ours('Walkthrough')
      expect(steps).toHaveLength(3)
      const res = bash([helper!, ...steps].map((b) => b.script).join('\n').replaceAll('http://127.0.0.1:3000', server.url), dir)
      expect(res.status, `${res.stderr}\n${server.output().slice(-2000)}`).toBe(0)
      const out = res.stdout.split('\n')
      const expected = [
        '"email_verified": false',
        '"email_verified": true',
        'link_token_invalid',
        'link_token_used',
        'invalid_credentials',
        'invalid_current_password',
        '{"email":"ada@new.example.com","email_verified":true}',
      ]
      for (const text of expected) expect(res.stdout, text).toContain(text)
      // resend, forgot ×2, reset, email change: their status lines, in order
      expect(out.filter((l) => /^\d{3}$/.test(l))).toEqual(['202', '202', '202', '204', '202'])
      expect(out).toContain('ada@example.com')
      // The old address got the notice, the new one the link; nobody@ got nothing.
      expect(res.stdout).not.toContain('nobody@')
      expect(bash('grep -l "^To: nobody@example.com" data/mail/*.eml || true', dir).stdout).toBe('')

      const [metrics] = ours('Metrics')
      const scraped = bash(metrics!.script.replaceAll('127.0.0.1:9464', `127.0.0.1:${metricsPort}`), dir)
      expect(scraped.status, scraped.stderr).toBe(0)
      expect(scraped.stdout).toMatch(/^latchkey_mail_sent_total\{template="verify_email"\} 2$/m)
      expect(scraped.stdout).toMatch(/^latchkey_mail_sent_total\{template="reset_password"\} 1$/m)
      expect(scraped.stdout).toMatch(/^latchkey_outbox_depth 0$/m)

      const [cli] = ours('CLI')
      const ran = bash(cli!.script, root, { DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`, KEYS_DIR: join(dir, 'keys'), LOG_LEVEL: 'silent' })
      expect(ran.status, ran.stderr).toBe(0)
      expect(ran.stdout).toMatch(/^0 pending$/m)
      expect(ran.stdout).toMatch(/\tsent\tconfirm_email_change\tada@new\.example\.com\t1\t/)
      expect(ran.stdout).toContain('ada@new.example.com was already verified')
      expect(ran.stdout).toContain('0 message(s) queued again')
    } finally {
      await server.stop()
    }
  }, 120_000)

  it('the REQUIRE_VERIFIED_EMAIL=true example works as written', async () => {
    const dir = tempDir()
    const server = await latchkey(dir, { REQUIRE_VERIFIED_EMAIL: 'true' })
    try {
      const [helper] = ours('Walkthrough')
      const [required] = ours('Requiring')
      const res = bash(`${helper!.script}\n${required!.script}`.replaceAll('http://127.0.0.1:3000', server.url), dir)
      expect(res.status, res.stderr).toBe(0)
      expect(res.stdout.trim().split('\n')).toEqual([
        '{"verification_required":true}',
        'email_not_verified',
        '{"email":"grace@example.com","email_verified":true}',
        'Bearer',
      ])
    } finally {
      await server.stop()
    }
  }, 60_000)
})
