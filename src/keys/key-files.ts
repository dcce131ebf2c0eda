import { createPrivateKey, createPublicKey } from 'node:crypto'
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { assertKeyFitsAlgorithm, SIGNING_ALGORITHMS } from '@latchkey/verifier'
import { generateSigningKey, thumbprint } from './generate-key.ts'
import { createKeySet, type KeyRecord, type KeySet } from './key-set.ts'

/**
 * The key directory: `manifest.json` (states and times) plus one `<kid>.pem` (PKCS#8, mode 0600)
 * per key. Writers replace the manifest by rename, so a reader never sees a half-written one.
 */

export const ManifestSchema = z.object({
  version: z.literal(1),
  keys: z.array(
    z.object({
      kid: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'kid must be an RFC 7638 SHA-256 thumbprint'),
      // Manifests written before v1.1 hold RSA keys only, all RS256.
      alg: z.enum(SIGNING_ALGORITHMS).default('RS256'),
      state: z.enum(['next', 'current', 'previous', 'retired']),
      createdAt: z.iso.datetime(),
      activatedAt: z.iso.datetime().nullable(),
      // When it stopped signing (became previous): its last tokens expire one lifetime later.
      deactivatedAt: z.iso.datetime().nullable().default(null),
      retiredAt: z.iso.datetime().nullable(),
    }),
  ),
})

export type Manifest = z.infer<typeof ManifestSchema>
export type ManifestEntry = Manifest['keys'][number]

export const MANIFEST_FILE = 'manifest.json'

export class KeyDirError extends Error {
  override name = 'KeyDirError'
}

export async function readManifest(dir: string): Promise<Manifest | null> {
  let text: string
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new KeyDirError(`cannot read ${join(dir, MANIFEST_FILE)}: ${(err as Error).message}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new KeyDirError(`${join(dir, MANIFEST_FILE)} is not valid JSON`)
  }
  const parsed = ManifestSchema.safeParse(json)
  if (!parsed.success) {
    throw new KeyDirError(`${join(dir, MANIFEST_FILE)} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  }
  return parsed.data
}

export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  const tmp = join(dir, `.${MANIFEST_FILE}.${process.pid}.tmp`)
  await writeFile(tmp, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 })
  await rename(tmp, join(dir, MANIFEST_FILE))
}

export async function writePrivateKey(dir: string, kid: string, pem: string): Promise<void> {
  const path = join(dir, `${kid}.pem`)
  await writeFile(path, pem, { mode: 0o600, flag: 'wx' })
  await chmod(path, 0o600)
}

/** A retired key's private material serves nothing any more: remove it. */
export async function removePrivateKey(dir: string, kid: string): Promise<void> {
  await rm(join(dir, `${kid}.pem`), { force: true })
}

/** Loads the whole directory into a key set a server can sign with, or throws KeyDirError. */
export async function loadKeySet(dir: string): Promise<KeySet> {
  const manifest = await readManifest(dir)
  if (!manifest) throw new KeyDirError(`no ${MANIFEST_FILE} in ${dir}`)
  let keySet: KeySet
  try {
    keySet = createKeySet(await loadKeyRecords(dir, manifest))
  } catch (err) {
    if (err instanceof KeyDirError) throw err
    throw new KeyDirError(`${join(dir, MANIFEST_FILE)}: ${(err as Error).message}`)
  }
  if (!keySet.signing) throw new KeyDirError(`${join(dir, MANIFEST_FILE)} has no current signing key`)
  return keySet
}

/** Loads every non-retired key of the manifest, checking each PEM's strength and that its kid matches. */
export async function loadKeyRecords(dir: string, manifest: Manifest): Promise<KeyRecord[]> {
  const records: KeyRecord[] = []
  for (const entry of manifest.keys) {
    if (entry.state === 'retired') continue
    const path = join(dir, `${entry.kid}.pem`)
    let pem: string
    try {
      pem = await readFile(path, 'utf8')
    } catch (err) {
      throw new KeyDirError(`cannot read private key ${path}: ${(err as Error).message}`)
    }
    let privateKey
    try {
      privateKey = createPrivateKey(pem)
    } catch {
      throw new KeyDirError(`${path} is not a PEM private key`)
    }
    try {
      assertKeyFitsAlgorithm(privateKey, entry.alg, path)
    } catch (err) {
      throw new KeyDirError((err as Error).message)
    }
    const publicKey = createPublicKey(privateKey)
    const actual = await thumbprint(publicKey)
    if (actual !== entry.kid) throw new KeyDirError(`${path} does not match its kid (thumbprint ${actual})`)
    records.push({ ...entry, privateKey, publicKey })
  }
  return records
}

/**
 * Makes sure the directory holds a usable key set: on first start with no manifest, generates a
 * development key as `current`. Returns true when it generated one (the caller logs a warning).
 */
export async function ensureKeyDir(dir: string, now: Date): Promise<boolean> {
  await mkdir(dir, { recursive: true })
  if (await readManifest(dir)) return false
  const key = await generateSigningKey()
  await writePrivateKey(dir, key.kid, key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
  const at = now.toISOString()
  await writeManifest(dir, {
    version: 1,
    keys: [{ kid: key.kid, alg: key.alg, state: 'current', createdAt: at, activatedAt: at, deactivatedAt: null, retiredAt: null }],
  })
  return true
}
