import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startInstance, type Instance } from '../helpers/instance.ts'

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } })

// A browser app and a Node/React Native app: each must type-check against the shipped declarations.
const BROWSER_APP = `
import { createLatchkeyClient, LatchkeyError, type AuthEvent, type Session } from '@latchkey/client'

const latchkey = createLatchkeyClient({ baseUrl: 'https://auth.example.com' })
latchkey.onAuthStateChange((event: AuthEvent, session: Session | null) => console.log(event, session?.expiresAt))
export async function load(): Promise<string> {
  if (!(await latchkey.restore())) await latchkey.signIn('ada@example.com', 'a long passphrase')
  const res: Response = await latchkey.authFetch('/me')
  try {
    await latchkey.changePassword('old one', 'new one')
  } catch (err) {
    if (err instanceof LatchkeyError && err.code === 'weak_password') return 'weak'
  }
  return (await latchkey.me()).email + res.status
}
`

const NATIVE_APP = `
import { createLatchkeyClient, memoryStorage, type RefreshTokenStorage } from '@latchkey/client'

const secureStore: RefreshTokenStorage = memoryStorage()
export const latchkey = createLatchkeyClient({ baseUrl: 'https://auth.example.com', mode: 'body', storage: secureStore })
export const sessions = latchkey.listSessions().then((list) => list.map((s) => s.id))
`

const MISUSE = `
import { createLatchkeyClient, LatchkeyError } from '@latchkey/client'
createLatchkeyClient({ baseUrl: 'https://auth.example.com', mode: 'header' })
export const c = (e: LatchkeyError) => e.code === 'not_a_code'
`

const RUN = `
import { createLatchkeyClient, memoryStorage } from '@latchkey/client'
const latchkey = createLatchkeyClient({ baseUrl: process.env.LATCHKEY_URL, mode: 'body', storage: memoryStorage() })
const events = []
latchkey.onAuthStateChange((e) => events.push(e))
await latchkey.signUp('pack-client@example.com', 'correct horse battery staple')
const me = await latchkey.me()
await latchkey.refresh()
await latchkey.signOut()
console.log(JSON.stringify({ email: me.email, events }))
`

describe('@latchkey/client as a user installs it (npm pack)', () => {
  let dir: string
  let tarball: string

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-client-pack-'))
    const [entry] = JSON.parse(npm(['pack', '--workspace', '@latchkey/client', '--pack-destination', dir, '--json'], repoRoot)) as Array<{ filename: string; files: Array<{ path: string }> }>
    tarball = join(dir, entry!.filename)
    const files = entry!.files.map((f) => f.path)
    expect(files).toContain('dist/index.js')
    expect(files).toContain('dist/index.d.ts')
    expect(files).toContain('README.md')
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([])
  }, 120_000)
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('type-checks a browser app and a body-mode app against the shipped declarations, and refuses misuse', () => {
    const project = join(dir, 'typed')
    mkdirSync(project)
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'typed-consumer', private: true, type: 'module' }))
    npm(['install', tarball, 'typescript@5'], project)
    const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc')
    const check = (file: string, source: string, lib: string[]) => {
      writeFileSync(join(project, file), source)
      writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'es2022', lib, module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: [] }, files: [file] }))
      try {
        execFileSync(process.execPath, [tsc, '-p', '.'], { cwd: project, encoding: 'utf8' })
        return ''
      } catch (err) {
        return String((err as { stdout?: string }).stdout)
      }
    }
    expect(check('browser.ts', BROWSER_APP, ['es2022', 'dom'])).toBe('')
    expect(check('native.ts', NATIVE_APP, ['es2022', 'dom'])).toBe('')
    const failure = check('misuse.ts', MISUSE, ['es2022', 'dom'])
    expect(failure).toMatch(/misuse\.ts\(3,\d+\): error TS2322/)
    expect(failure).toMatch(/misuse\.ts\(4,\d+\): error TS2367/)
  }, 180_000)

  describe('on plain Node', () => {
    let latchkey: Instance
    beforeAll(async () => {
      latchkey = await startInstance('client-pack', { DATABASE_URL: 'sqlite::memory:', KEYS_DIR: join(dir, 'keys'), LOG_LEVEL: 'warn' })
    }, 60_000)
    afterAll(() => latchkey?.stop())

    it('signs up, calls /me, refreshes and signs out with the installed package', () => {
      const project = join(dir, 'plain')
      mkdirSync(project)
      writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'plain-consumer', private: true, type: 'module' }))
      npm(['install', tarball], project)
      writeFileSync(join(project, 'run.js'), RUN)
      const out = execFileSync(process.execPath, ['run.js'], { cwd: project, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', LATCHKEY_URL: latchkey.url } })
      expect(JSON.parse(out)).toEqual({ email: 'pack-client@example.com', events: ['signed_in', 'token_refreshed', 'signed_out'] })
    }, 120_000)
  })
})
