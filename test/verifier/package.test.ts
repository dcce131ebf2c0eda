import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startInstance, type Instance } from '../helpers/instance.ts'

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
// npm as this test's Node runs it (the project pins Node 24 for its scripts; npm itself is the system's).
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } })

/** The Node versions to run the installed package on: this one, and the system's if it differs (engines says >= 20.11). */
function nodeBinaries(): string[] {
  const binaries = [process.execPath]
  const system = '/usr/bin/node'
  if (existsSync(system)) {
    const version = execFileSync(system, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim()
    const [major = 0, minor = 0] = version.split('.').map(Number)
    if ((major > 20 || (major === 20 && minor >= 11)) && version !== process.versions.node) binaries.push(system)
  }
  return binaries
}

const SERVICE = `
import Fastify from 'fastify'
import { latchkeyVerifier } from '@latchkey/verifier'

const app = Fastify()
await app.register(latchkeyVerifier, { issuer: process.env.ISSUER, audience: 'latchkey', jwksUrl: process.env.ISSUER + '/.well-known/jwks.json' })
app.get('/orders', async (request) => ({ owner: request.auth.sub }))
const url = await app.listen({ host: '127.0.0.1', port: 0 })
console.log('listening ' + url)
process.on('SIGTERM', () => app.close().then(() => process.exit(0)))
`

const TYPED_SERVICE = `
import Fastify from 'fastify'
import { latchkeyVerifier, verifyAccessToken, type AccessTokenClaims, type VerifierOptions } from '@latchkey/verifier'

const options: VerifierOptions = { issuer: 'https://auth.example.com', audience: 'latchkey', jwksUrl: 'https://auth.example.com/.well-known/jwks.json', clockTolerance: 10 }
const app = Fastify()
await app.register(latchkeyVerifier, options)
app.get('/orders', { config: { scopes: ['orders:read'], revocationCheck: false } }, async (request) => {
  const claims: AccessTokenClaims | null = request.auth
  return { owner: claims?.sub, keys: app.latchkeyKeys.keys.size }
})
export const check: (token: string) => AccessTokenClaims = (token) => verifyAccessToken(token, new Map(), { issuer: 'i', audience: 'a', clockTolerance: 30 }, 0)

// The declarations are real types, not any: each of these must be refused.
// @ts-expect-error issuer is required
const missingIssuer: VerifierOptions = { audience: 'latchkey', jwksUrl: 'https://auth.example.com/.well-known/jwks.json' }
// @ts-expect-error clockTolerance is a number of seconds
const wrongTolerance: VerifierOptions = { ...options, clockTolerance: '30s' }
app.get('/typed', async (request) => {
  // @ts-expect-error claims have no such field
  return request.auth?.not_a_claim
})
export { missingIssuer, wrongTolerance }
`

describe('@latchkey/verifier as a user installs it (npm pack)', () => {
  let dir: string
  let tarball: string
  let latchkey: Instance
  let token: string

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-pack-'))
    const packed = JSON.parse(npm(['pack', '--workspace', '@latchkey/verifier', '--pack-destination', dir, '--json'], repoRoot)) as Array<{ filename: string; files: Array<{ path: string }> }>
    const [entry] = packed
    tarball = join(dir, entry!.filename)
    // What ships: compiled JavaScript and declarations, the README and the manifest; no TypeScript source.
    const files = entry!.files.map((f) => f.path)
    expect(files).toContain('dist/index.js')
    expect(files).toContain('dist/index.d.ts')
    expect(files).toContain('README.md')
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([])

    latchkey = await startInstance('pack', { DATABASE_URL: 'sqlite::memory:', KEYS_DIR: join(dir, 'keys'), LOG_LEVEL: 'warn' })
    const registered = await latchkey.fetch('/auth/register', { method: 'POST', body: { email: 'pack@example.com', password: 'correct horse battery staple' } })
    token = (registered.json() as { access_token: string }).access_token
  }, 180_000)

  afterAll(async () => {
    await latchkey?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('installs into a project with no TypeScript and serves on plain Node: a Latchkey token is accepted, a tampered one refused', async () => {
    const project = join(dir, 'plain')
    mkdirSync(project)
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'plain-consumer', private: true, type: 'module' }))
    npm(['install', tarball, 'fastify@5'], project)
    expect(existsSync(join(project, 'node_modules', 'typescript'))).toBe(false)
    writeFileSync(join(project, 'service.js'), SERVICE)

    const [header, payload, signature] = token.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>
    const tampered = [header, Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url'), signature].join('.')

    for (const node of nodeBinaries()) {
      const child = spawn(node, ['service.js'], { cwd: project, env: { PATH: process.env.PATH ?? '', ISSUER: latchkey.url }, stdio: ['ignore', 'pipe', 'pipe'] })
      let output = ''
      child.stderr.on('data', (d) => (output += String(d)))
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d) => {
          output += String(d)
          const match = /listening (\S+)/.exec(output)
          if (match) resolve(match[1]!)
        })
        child.once('exit', (code) => reject(new Error(`${node} service.js exited ${code}:\n${output}`)))
      })
      try {
        const accepted = await fetch(`${url}/orders`, { headers: { authorization: `Bearer ${token}` } })
        expect(accepted.status, `${node}: ${output}`).toBe(200)
        expect(((await accepted.json()) as { owner: string }).owner).toBe(claims.sub)
        const refused = await fetch(`${url}/orders`, { headers: { authorization: `Bearer ${tampered}` } })
        expect(refused.status).toBe(401)
        expect(refused.headers.get('content-type')).toBe('application/problem+json; charset=utf-8')
        expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="api", error="invalid_token", error_description="signature is invalid"')
      } finally {
        child.kill('SIGTERM')
      }
    }
  }, 180_000)

  it('type-checks a consumer with tsc against the shipped declarations', () => {
    const project = join(dir, 'typed')
    mkdirSync(project)
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'typed-consumer', private: true, type: 'module' }))
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] }, include: ['service.ts'] }),
    )
    npm(['install', tarball, 'fastify@5', 'typescript@5', '@types/node@22'], project)
    writeFileSync(join(project, 'service.ts'), TYPED_SERVICE)
    const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc')
    expect(() => execFileSync(process.execPath, [tsc, '-p', '.'], { cwd: project, encoding: 'utf8' })).not.toThrow()

    // A control: the same check fails on a consumer that misuses the package.
    writeFileSync(join(project, 'service.ts'), `${TYPED_SERVICE}\nconst bad: VerifierOptions = { issuer: 1, audience: 'a', jwksUrl: 'u' }\nexport { bad }\n`)
    let failure = ''
    try {
      execFileSync(process.execPath, [tsc, '-p', '.'], { cwd: project, encoding: 'utf8' })
    } catch (err) {
      failure = String((err as { stdout?: string }).stdout)
    }
    expect(failure).toMatch(/service\.ts\(\d+,\d+\): error TS2322/)
  }, 180_000)
})
