import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateSigningKey, type GeneratedKey } from '../../src/keys/generate-key.ts'
import { writeManifest, writePrivateKey, type Manifest, type ManifestEntry } from '../../src/keys/key-files.ts'

export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `latchkey-${prefix}-`))
  return { path, remove: () => rm(path, { recursive: true, force: true }) }
}

export function entry(kid: string, state: ManifestEntry['state'], at = new Date().toISOString(), alg: ManifestEntry['alg'] = 'RS256'): ManifestEntry {
  return { kid, alg, state, createdAt: at, activatedAt: state === 'next' ? null : at, deactivatedAt: state === 'previous' ? at : null, retiredAt: state === 'retired' ? at : null }
}

export async function writeKey(dir: string, key: GeneratedKey): Promise<void> {
  await writePrivateKey(dir, key.kid, key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
}

/** A key dir holding the given keys in the given states. */
export async function writeKeyDir(dir: string, keys: Array<[GeneratedKey, ManifestEntry['state']]>): Promise<Manifest> {
  for (const [key] of keys) await writeKey(dir, key).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err
  })
  const manifest: Manifest = { version: 1, keys: keys.map(([key, state]) => entry(key.kid, state, undefined, key.alg)) }
  await writeManifest(dir, manifest)
  return manifest
}

export { generateSigningKey }
