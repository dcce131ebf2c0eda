import { readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readManifest } from '../../src/keys/key-files.ts'
import { openStore } from '../../src/store/open-store.ts'
import { runLatchkey, type CliRunOptions } from '../helpers/cli.ts'
import { tempDir } from '../helpers/key-dir.ts'

describe('latchkey keys (and the CLI shell)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let env: Record<string, string>
  const run = (args: string[], options: CliRunOptions = {}) => runLatchkey(args, { ...options, env: { ...env, ...options.env } })

  beforeEach(async () => {
    dir = await tempDir('cli')
    env = { KEYS_DIR: join(dir.path, 'keys'), DATABASE_URL: `sqlite:${join(dir.path, 'data', 'latchkey.db')}`, ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '1' }
  })
  afterEach(() => dir.remove())

  it('exits 2 with usage for a missing or unknown command, a bad option or a bad --bits', async () => {
    const none = await run([])
    expect(none.code).toBe(2)
    expect(none.stdout).toContain('usage: latchkey <command>')
    const cases = [['keys', 'frob'], ['keys', 'generate', '--bits', '1024'], ['keys', 'list', '--verbose'], ['keys', 'retire'], ['users', 'create']]
    const results = await Promise.all(cases.map((args) => run(args)))
    results.forEach((res, i) => {
      expect(res.code, cases[i]!.join(' ')).toBe(2)
      expect(res.stderr).toMatch(/^latchkey: .+\nrun `latchkey --help` for usage/)
    })
    expect((await run(['--help'])).code).toBe(0)
    // A kid may start with "-": it is still the kid, not an unknown option (exit 1, not 2).
    const dashed = await run(['keys', 'retire', '-abcdefghij', '--force'])
    expect(dashed.code).toBe(1)
    expect(dashed.stderr).toContain('no keys in')
  })

  it('exits 1 naming the variable when the configuration is invalid', async () => {
    const res = await run(['keys', 'list'], { env: { ACCESS_TOKEN_TTL: 'ten' } })
    expect(res.code).toBe(1)
    expect(res.stderr).toContain('ACCESS_TOKEN_TTL="ten"')
  })

  it('generates the first key as current and the next one as next, private keys mode 0600', async () => {
    const first = await run(['keys', 'generate'])
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/generated key [\w-]{43} \(RS256, RSA-2048\) as current/)
    const second = await run(['keys', 'generate', '--bits', '3072'])
    expect(second.code).toBe(0)
    expect(second.stdout).toMatch(/as next; run `latchkey keys rotate` from \d{4}-/)
    const third = await run(['keys', 'generate'])
    expect(third.code).toBe(1)
    expect(third.stderr).toContain('is already waiting as next')

    const manifest = (await readManifest(env.KEYS_DIR!))!
    expect(manifest.keys.map((k) => k.state)).toEqual(['current', 'next'])
    for (const file of (await readdir(env.KEYS_DIR!)).filter((f) => f.endsWith('.pem'))) {
      expect((await stat(join(env.KEYS_DIR!, file))).mode & 0o777, file).toBe(0o600)
    }
    const list = await run(['keys', 'list'])
    expect(list.code).toBe(0)
    const lines = list.stdout.trim().split('\n')
    expect(lines[0]).toMatch(/^KID\s+ALG\s+STATE\s+KEY\s+CREATED\s+ACTIVATED\s+RETIRED\s+NOTE$/)
    expect(lines[1]).toMatch(new RegExp(`^${manifest.keys[0]!.kid}\\s+RS256\\s+current\\s+RSA-2048\\s+.*signs$`))
    expect(lines[2]).toMatch(new RegExp(`^${manifest.keys[1]!.kid}\\s+RS256\\s+next\\s+RSA-3072\\s+.*published; may sign from`))
  })

  it('generates keys of every algorithm, each fixed in the manifest, and refuses what does not fit', async () => {
    const first = await run(['keys', 'generate', '--alg', 'EdDSA'])
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toMatch(/generated key [\w-]{43} \(EdDSA, Ed25519\) as current/)
    const second = await run(['keys', 'generate', '--alg', 'ES256'])
    expect(second.stdout).toMatch(/\(ES256, P-256\) as next/)
    expect((await readManifest(env.KEYS_DIR!))!.keys.map((k) => k.alg)).toEqual(['EdDSA', 'ES256'])
    const list = (await run(['keys', 'list'])).stdout.trim().split('\n')
    expect(list[1]).toMatch(/\s+EdDSA\s+current\s+Ed25519\s+/)
    expect(list[2]).toMatch(/\s+ES256\s+next\s+P-256\s+/)

    const hs = await run(['keys', 'rotate', '--alg', 'HS256'])
    expect(hs.code).toBe(2)
    expect(hs.stderr).toContain('--alg must be one of RS256, PS256, ES256, EdDSA (got HS256)')
    const bits = await run(['keys', 'rotate', '--alg', 'EdDSA', '--bits', '4096'])
    expect(bits.code).toBe(2)
    expect(bits.stderr).toContain('--bits applies to RSA keys only, not EdDSA')
  })

  it('rotates only once the next key is old enough, and retires only once its tokens expired (unless --force)', async () => {
    await run(['keys', 'generate'])
    await run(['keys', 'generate'])
    const [a, b] = (await readManifest(env.KEYS_DIR!))!.keys.map((k) => k.kid)

    const early = await run(['keys', 'rotate'])
    expect(early.code).toBe(1)
    expect(early.stderr).toContain('verifiers may not have it until')

    // JWKS_MAX_AGE 300 + KEYS_RELOAD_INTERVAL 30 later, the next key may sign.
    const rotated = await run(['keys', 'rotate'], { laterBySeconds: 331 })
    expect(rotated.code, rotated.stderr).toBe(0)
    expect(rotated.stdout).toContain(`rotated: ${b} now signs; ${a} is previous`)
    const m = (await readManifest(env.KEYS_DIR!))!
    expect(m.keys.map((k) => [k.kid, k.state])).toEqual([[a, 'previous'], [b, 'current'], [m.keys[2]!.kid, 'next']])

    const current = await run(['keys', 'retire', b!, '--force'], { laterBySeconds: 99999 })
    expect(current.code, current.stderr).toBe(1)
    expect(current.stderr).toContain('is the current signing key')

    // a stopped signing at +331 s; its tokens can be valid for 30 + 600 + 30 s more.
    const tooSoon = await run(['keys', 'retire', a!], { laterBySeconds: 400 })
    expect(tooSoon.code).toBe(1)
    expect(tooSoon.stderr).toMatch(/tokens signed by key .+ can be valid until/)
    const retired = await run(['keys', 'retire', a!.slice(0, 10)], { laterBySeconds: 992 })
    expect(retired.code, retired.stderr).toBe(0)
    expect(retired.stdout).toContain(`retired ${a}`)
    expect((await readdir(env.KEYS_DIR!)).includes(`${a}.pem`)).toBe(false)
    expect((await run(['keys', 'retire', a!])).stderr).toContain('was retired at')

    // Both changes are in the audit log of the store DATABASE_URL names (DESIGN §8).
    const store = await openStore(env.DATABASE_URL!)
    try {
      const events = await store.listAudit({ type: 'key_rotated', limit: 10 })
      expect(events.map((e) => e.details)).toEqual([
        { action: 'retire', retired: a, forced: false },
        { action: 'rotate', activated: b, deactivated: a, next: m.keys[2]!.kid, retired: '', forced: false },
      ])
      expect(events[0]!.userAgent).toBe('latchkey-cli')
    } finally {
      await store.close()
    }
  })

  it('retire --force takes a compromised previous key out at once', async () => {
    await run(['keys', 'generate'])
    await run(['keys', 'generate'])
    await run(['keys', 'rotate', '--force'])
    const previous = (await readManifest(env.KEYS_DIR!))!.keys[0]!.kid
    const res = await run(['keys', 'retire', previous, '--force'])
    expect(res.code, res.stderr).toBe(0)
    expect((await readManifest(env.KEYS_DIR!))!.keys[0]?.state).toBe('retired')
  })

  it('refuses a corrupt manifest with a message naming it', async () => {
    await run(['keys', 'generate'])
    await writeFile(join(env.KEYS_DIR!, 'manifest.json'), '{"version":1,"keys":[{"kid":')
    const cases = [['keys', 'list'], ['keys', 'rotate'], ['keys', 'generate']]
    const results = await Promise.all(cases.map((args) => run(args)))
    results.forEach((res, i) => {
      expect(res.code, cases[i]!.join(' ')).toBe(1)
      expect(res.stderr).toContain('manifest.json is not valid JSON')
    })
  })
})
