import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'

const root = new URL('../..', import.meta.url).pathname
const UNIT = readFileSync(join(root, 'deploy/systemd/latchkey.service'), 'utf8')
const DOCKERFILE = readFileSync(join(root, 'deploy/Dockerfile'), 'utf8')

interface Instruction {
  keyword: string
  args: string
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
export function instructions(text: string): Instruction[] {
  const logical = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ')
  return logical
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => {
      const [keyword, ...rest] = l.split(/\s+/)
      return { keyword: keyword!.toUpperCase(), args: rest.join(' ') }
    })
}

/** `KEY=value KEY2="v 2"` pairs of an ENV instruction. */
function envPairs(args: string): Record<string, string> {
  return Object.fromEntries([...args.matchAll(/(\w+)=("([^"]*)"|\S+)/g)].map((m) => [m[1]!, m[3] ?? m[2]!]))
}

/** systemd `Key=value` lines of one section (repeated keys kept in order). */
function unitSettings(text: string, section: string): Array<[string, string]> {
  const out: Array<[string, string]> = []
  let current = ''
  for (const line of text.split('\n')) {
    const header = /^\[(\w+)\]$/.exec(line.trim())
    if (header) current = header[1]!
    else if (current === section && /^\w+=/.test(line)) {
      const i = line.indexOf('=')
      out.push([line.slice(0, i), line.slice(i + 1)])
    }
  }
  return out
}

describe('deploy/Dockerfile', () => {
  const all = instructions(DOCKERFILE)
  const lastFrom = all.map((i) => i.keyword).lastIndexOf('FROM')
  const final = all.slice(lastFrom)

  it('builds on Node 24 with pinned, non-latest base images', () => {
    const froms = all.filter((i) => i.keyword === 'FROM').map((i) => i.args.split(/\s+/)[0]!)
    expect(froms.length).toBeGreaterThanOrEqual(1)
    for (const image of froms) {
      expect(image).toMatch(/^node:24[\w.-]*$/)
      expect(image).not.toMatch(/latest/)
    }
  })

  it('runs as a non-root user, set after the last RUN of the final stage', () => {
    const users = final.filter((i) => i.keyword === 'USER')
    expect(users.length).toBeGreaterThan(0)
    const user = users.at(-1)!.args.split(':')[0]!
    expect(['root', '0', '']).not.toContain(user)
    const lastUser = final.lastIndexOf(users.at(-1)!)
    expect(final.slice(lastUser).some((i) => i.keyword === 'RUN')).toBe(false)
  })

  it('writes only to a volume, so the root filesystem can be read-only', () => {
    const env = Object.assign({}, ...final.filter((i) => i.keyword === 'ENV').map((i) => envPairs(i.args))) as Record<string, string>
    const volumes = final.filter((i) => i.keyword === 'VOLUME').flatMap((i) => JSON.parse(i.args) as string[])
    expect(volumes).toContain('/var/lib/latchkey')
    expect(env.NODE_ENV).toBe('production')
    expect(env.DATABASE_URL).toMatch(/^sqlite:\/var\/lib\/latchkey\//)
    expect(env.MAIL_DIR).toMatch(/^\/var\/lib\/latchkey\//)
    // the compile cache would write under node_modules
    expect(env.NODE_DISABLE_COMPILE_CACHE).toBe('1')
    expect(DOCKERFILE).toContain('docker run --read-only')
    // the configuration it sets is one the server accepts
    expect(() => loadConfig({ ...env, PUBLIC_URL: 'https://auth.example.com' })).not.toThrow()
  })

  it('starts the server in exec form, with a health check, a stop signal and the ports it listens on', () => {
    const cmd = final.filter((i) => i.keyword === 'CMD').at(-1)!
    const argv = JSON.parse(cmd.args) as string[]
    expect(argv[0]).toBe('node')
    expect(argv).toContain('bin/latchkey-server.js')
    expect(final.some((i) => i.keyword === 'HEALTHCHECK' && i.args.includes('/health/live'))).toBe(true)
    expect(final.find((i) => i.keyword === 'STOPSIGNAL')?.args).toBe('SIGTERM')
    const exposed = final.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/))
    expect(exposed).toEqual(expect.arrayContaining(['3000', '9464']))
  })

  it('copies only files that exist, never with ADD', () => {
    expect(all.some((i) => i.keyword === 'ADD')).toBe(false)
    const sources = all
      .filter((i) => i.keyword === 'COPY' && !i.args.includes('--from='))
      .flatMap((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1))
    expect(sources.length).toBeGreaterThan(0)
    for (const source of sources) expect(existsSync(join(root, source)), source).toBe(true)
  })

  it('the parser joins continuation lines and drops comments', () => {
    expect(instructions('# c\nRUN a \\\n  && b\nUSER x')).toEqual([
      { keyword: 'RUN', args: 'a && b' },
      { keyword: 'USER', args: 'x' },
    ])
  })
})

describe('deploy/systemd/latchkey.service', () => {
  const service = unitSettings(UNIT, 'Service')
  const get = (key: string) => service.filter(([k]) => k === key).map(([, v]) => v)

  it('runs as a non-root user on a read-only root with the state directory writable', () => {
    expect(get('User')).toEqual(['latchkey'])
    expect(get('ProtectSystem')).toEqual(['strict'])
    expect(get('NoNewPrivileges')).toEqual(['true'])
    expect(get('StateDirectory')).toEqual(['latchkey'])
    expect(get('CapabilityBoundingSet')).toEqual([''])
    const env = Object.fromEntries(get('Environment').map((e) => e.split(/=(.*)/s).slice(0, 2) as [string, string]))
    expect(env.DATABASE_URL).toBe('sqlite:/var/lib/latchkey/latchkey.db')
    expect(env.NODE_DISABLE_COMPILE_CACHE).toBe('1')
    expect(() => loadConfig({ ...env, PUBLIC_URL: 'https://auth.example.com' })).not.toThrow()
    expect(get('ExecStart')[0]).toMatch(/\/node .*bin\/latchkey-server\.js$/)
    expect(get('ExecReload')[0]).toContain('-HUP $MAINPID')
  })

  const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' })
  const available = analyze.status === 0
  if (!available) console.warn('systemd-analyze verify SKIPPED: systemd-analyze is not installed here')

  it.skipIf(!available)('passes systemd-analyze verify, with no warning either', () => {
    // verify insists that ExecStart's program exists: point the unit's install prefix at this checkout.
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-unit-'))
    try {
      const unit = join(dir, 'latchkey.service')
      writeFileSync(unit, UNIT.replaceAll('/opt/latchkey', root.replace(/\/$/, '')))
      const res = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' })
      expect(res.status, res.stderr).toBe(0)
      expect(res.stdout + res.stderr).toBe('')
      // a control: a broken setting is reported (systemd-analyze exits 0 on warnings, hence the empty-output check)
      const broken = join(dir, 'broken.service')
      writeFileSync(broken, readFileSync(unit, 'utf8').replace('ProtectSystem=strict', 'ProtectSystem=bogus'))
      const control = spawnSync('systemd-analyze', ['verify', broken], { encoding: 'utf8' })
      expect(control.stdout + control.stderr).toMatch(/ProtectSystem|protect system/i)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
