import { generateKeyPairSync } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { thumbprint, type GeneratedKey } from '../../src/keys/generate-key.ts'
import { loadKeySet, MANIFEST_FILE, writeManifest } from '../../src/keys/key-files.ts'
import { KeyRing } from '../../src/keys/key-ring.ts'
import { startKeyWatcher, type KeyWatcher } from '../../src/keys/key-watcher.ts'
import { entry, generateSigningKey, tempDir, writeKeyDir } from '../helpers/key-dir.ts'

interface LogLine { level: string; obj: object; msg: string }

function recordingLogger() {
  const lines: LogLine[] = []
  const log = (level: string) => (obj: object, msg: string) => void lines.push({ level, obj, msg })
  return { lines, info: log('info'), warn: log('warn'), error: log('error') }
}

async function eventually(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('the key watcher', () => {
  let a: GeneratedKey
  let b: GeneratedKey
  let dir: Awaited<ReturnType<typeof tempDir>>
  let ring: KeyRing
  let watcher: KeyWatcher | undefined
  let logger: ReturnType<typeof recordingLogger>

  beforeAll(async () => {
    ;[a, b] = await Promise.all([generateSigningKey(), generateSigningKey()])
  })
  beforeEach(async () => {
    dir = await tempDir('watch')
    await writeKeyDir(dir.path, [[a, 'current'], [b, 'next']])
    ring = new KeyRing(await loadKeySet(dir.path))
    logger = recordingLogger()
  })
  afterEach(async () => {
    watcher?.close()
    await dir.remove()
  })

  it('picks up a rotated manifest through the file watch, without waiting for the periodic reload', async () => {
    watcher = startKeyWatcher({ dir: dir.path, ring, logger, intervalMs: 60_000, debounceMs: 20 })
    await writeKeyDir(dir.path, [[a, 'previous'], [b, 'current']])
    await eventually(() => ring.current.signing?.kid === b.kid)
    expect([...ring.current.verificationKeys.keys()].sort()).toEqual([a.kid, b.kid].sort())
    expect(logger.lines.some((l) => l.msg === 'key set reloaded')).toBe(true)
  })

  it('drops a retired key from the verification keys at once', async () => {
    watcher = startKeyWatcher({ dir: dir.path, ring, logger, intervalMs: 60_000 })
    await writeManifest(dir.path, { version: 1, keys: [entry(a.kid, 'current'), entry(b.kid, 'retired')] })
    expect(await watcher.reload('SIGHUP')).toBe(true)
    expect([...ring.current.verificationKeys.keys()]).toEqual([a.kid])
    expect(ring.current.jwks.keys.map((k) => k.kid)).toEqual([a.kid])
  })

  it('keeps the last good set when the manifest is half-written, then loads the finished one', async () => {
    watcher = startKeyWatcher({ dir: dir.path, ring, logger, intervalMs: 60_000, debounceMs: 20 })
    const good = ring.current
    const full = JSON.stringify({ version: 1, keys: [entry(a.kid, 'previous'), entry(b.kid, 'current')] })
    // A writer that does not rename: the file is observed with only half of its bytes.
    await writeFile(join(dir.path, MANIFEST_FILE), full.slice(0, full.length / 2))
    expect(await watcher.reload('SIGHUP')).toBe(false)
    expect(ring.current).toBe(good)
    expect(logger.lines.find((l) => l.level === 'error')?.msg).toBe('key set failed to load; keeping the last good one')
    await writeFile(join(dir.path, MANIFEST_FILE), full)
    await eventually(() => ring.current.signing?.kid === b.kid)
  })

  it.each([
    ['an RSA key under 2048 bits', 'too weak', () => generateKeyPairSync('rsa', { modulusLength: 1024 })],
    ['an EC key', 'expected an RSA key', () => generateKeyPairSync('ec', { namedCurve: 'P-256' })],
  ])('keeps the last good set when a PEM holds %s', async (_name, message, make) => {
    watcher = startKeyWatcher({ dir: dir.path, ring, logger, intervalMs: 60_000 })
    const good = ring.current
    const weak = make()
    const kid = weak.publicKey.asymmetricKeyType === 'rsa' ? await thumbprint(weak.publicKey) : 'E'.repeat(43)
    await writeFile(join(dir.path, `${kid}.pem`), weak.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
    await writeManifest(dir.path, { version: 1, keys: [entry(a.kid, 'previous'), entry(kid, 'current')] })
    expect(await watcher.reload('SIGHUP')).toBe(false)
    expect(ring.current).toBe(good)
    expect(JSON.stringify(logger.lines.find((l) => l.level === 'error')?.obj)).toContain(message)
  })

  it('keeps the last good set when a PEM does not match its kid, is corrupt, or there is no signing key', async () => {
    watcher = startKeyWatcher({ dir: dir.path, ring, logger, intervalMs: 60_000 })
    const good = ring.current
    await writeFile(join(dir.path, `${'M'.repeat(43)}.pem`), a.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
    await writeManifest(dir.path, { version: 1, keys: [entry('M'.repeat(43), 'current')] })
    expect(await watcher.reload('SIGHUP')).toBe(false)
    await writeFile(join(dir.path, `${'C'.repeat(43)}.pem`), '-----BEGIN PRIVATE KEY-----\nnot a key\n', { mode: 0o600 })
    await writeManifest(dir.path, { version: 1, keys: [entry('C'.repeat(43), 'current')] })
    expect(await watcher.reload('SIGHUP')).toBe(false)
    await writeManifest(dir.path, { version: 1, keys: [entry(a.kid, 'previous'), entry(b.kid, 'next')] })
    expect(await watcher.reload('SIGHUP')).toBe(false)
    expect(ring.current).toBe(good)
    const errors = logger.lines.filter((l) => l.level === 'error').map((l) => JSON.stringify(l.obj))
    expect(errors).toHaveLength(3)
    expect(errors[0]).toContain('does not match its kid')
    expect(errors[1]).toContain('is not a PEM private key')
    expect(errors[2]).toContain('no current signing key')
  })

  it('reloads periodically, and coalesces overlapping triggers into one follow-up load', async () => {
    let loads = 0
    watcher = startKeyWatcher({
      dir: dir.path,
      ring,
      logger,
      intervalMs: 50,
      load: async (d) => {
        loads++
        await new Promise((r) => setTimeout(r, 30))
        return loadKeySet(d)
      },
    })
    await eventually(() => loads >= 2)
    watcher.close()
    await new Promise((r) => setTimeout(r, 100))
    const before = loads
    watcher = startKeyWatcher({ dir: dir.path, ring, logger, intervalMs: 60_000, load: async (d) => (loads++, await new Promise((r) => setTimeout(r, 30)), loadKeySet(d)) })
    await Promise.all([watcher.reload('x'), watcher.reload('y'), watcher.reload('z'), watcher.reload('w')])
    expect(loads - before).toBe(2)
  })
})
