import { createPrivateKey } from 'node:crypto'
import type { SigningAlgorithm } from '@latchkey/verifier'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Config } from '../config.ts'
import { generateSigningKey } from '../keys/generate-key.ts'
import { readManifest, removePrivateKey, writeManifest, writePrivateKey, type Manifest, type ManifestEntry } from '../keys/key-files.ts'
import { addKey, lifecycleTiming, retirableAt, retire, rotate, signableAt } from '../keys/key-lifecycle.ts'
import { CommandError, type CliIo } from './cli-io.ts'

/** `latchkey keys …`: the CLI writes KEYS_DIR; running servers pick the change up (key-watcher.ts). */

const stamp = (iso: string | null) => (iso ? iso.replace(/\.\d{3}Z$/, 'Z') : '-')

async function requireManifest(config: Config): Promise<Manifest> {
  const manifest = await readManifest(config.keysDir)
  if (!manifest) throw new CommandError(`no keys in ${config.keysDir}: run \`latchkey keys generate\` to create the first one`)
  return manifest
}

/** What the key is: RSA and its modulus size, or the curve. */
async function pemKind(dir: string, kid: string): Promise<string> {
  try {
    const key = createPrivateKey(await readFile(join(dir, `${kid}.pem`), 'utf8'))
    if (key.asymmetricKeyType === 'rsa') return `RSA-${key.asymmetricKeyDetails?.modulusLength ?? '?'}`
    return key.asymmetricKeyType === 'ec' ? 'P-256' : key.asymmetricKeyType === 'ed25519' ? 'Ed25519' : (key.asymmetricKeyType ?? '?')
  } catch {
    return 'unreadable'
  }
}

/** How a generated key is described: "RSA-2048 RS256", "ES256 (P-256)", "EdDSA (Ed25519)". */
export interface KeySpec {
  alg: SigningAlgorithm
  bits: number
}

function describe(spec: KeySpec): string {
  if (spec.alg === 'RS256' || spec.alg === 'PS256') return `${spec.alg}, RSA-${spec.bits}`
  return spec.alg === 'ES256' ? 'ES256, P-256' : 'EdDSA, Ed25519'
}

function note(entry: ManifestEntry, config: Config, now: Date): string {
  const timing = lifecycleTiming(config)
  switch (entry.state) {
    case 'current':
      return 'signs'
    case 'next': {
      const at = signableAt(entry, timing)
      return at <= now ? 'published; ready to sign (`keys rotate`)' : `published; may sign from ${stamp(at.toISOString())}`
    }
    case 'previous': {
      const at = retirableAt(entry, timing)
      if (!at) return 'verifies; stop time unknown'
      return at <= now ? 'verifies; safe to retire' : `verifies; tokens valid until ${stamp(at.toISOString())}`
    }
    case 'retired':
      return 'not published, not trusted'
  }
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd())
}

export async function listKeys(config: Config, io: CliIo): Promise<void> {
  const manifest = await readManifest(config.keysDir)
  if (!manifest || manifest.keys.length === 0) {
    io.out(`no keys in ${config.keysDir} (run \`latchkey keys generate\`)`)
    return
  }
  const now = io.now()
  const rows = [['KID', 'ALG', 'STATE', 'KEY', 'CREATED', 'ACTIVATED', 'RETIRED', 'NOTE']]
  for (const k of manifest.keys) {
    const kind = k.state === 'retired' ? '-' : await pemKind(config.keysDir, k.kid)
    rows.push([k.kid, k.alg, k.state, kind, stamp(k.createdAt), stamp(k.activatedAt), stamp(k.retiredAt), note(k, config, now)])
  }
  for (const line of table(rows)) io.out(line)
}

export async function generateKey(config: Config, io: CliIo, spec: KeySpec): Promise<void> {
  await mkdir(config.keysDir, { recursive: true, mode: 0o700 })
  const manifest = (await readManifest(config.keysDir)) ?? { version: 1 as const, keys: [] }
  const key = await generateSigningKey(spec.alg, spec.bits)
  const now = io.now()
  // Decide before writing anything, so a refusal leaves the directory untouched.
  const added = addKey(manifest, key.kid, now, key.alg)
  await writePrivateKey(config.keysDir, key.kid, key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
  await writeManifest(config.keysDir, added.manifest)
  if (added.state === 'current') {
    io.out(`generated key ${key.kid} (${describe(spec)}) as current: it signs from now on`)
  } else {
    const entry = added.manifest.keys.at(-1)!
    io.out(`generated key ${key.kid} (${describe(spec)}) as next; run \`latchkey keys rotate\` from ${stamp(signableAt(entry, lifecycleTiming(config)).toISOString())}`)
  }
}

/**
 * Records a key change in the audit log (DESIGN §8) of the store DATABASE_URL names. The key change
 * has already happened, so a store that cannot be reached is reported, not turned into a failure.
 */
async function auditKeyChange(config: Config, io: CliIo, details: Record<string, string | boolean>): Promise<void> {
  try {
    const { withStore, CLI_CONTEXT } = await import('./cli-store.ts')
    const { createAuditLog } = await import('../accounts/audit-log.ts')
    await withStore(config, (store) =>
      createAuditLog(store, { now: () => io.now().getTime() }).record('key_rotated', CLI_CONTEXT, { details }),
    )
  } catch (err) {
    io.err(`warning: the key change is done, but its audit event could not be stored: ${(err as Error).message}`)
  }
}

export async function rotateKeys(config: Config, io: CliIo, spec: KeySpec, force: boolean): Promise<void> {
  const manifest = await requireManifest(config)
  const key = await generateSigningKey(spec.alg, spec.bits)
  const result = rotate(manifest, key.kid, io.now(), lifecycleTiming(config), { force, alg: key.alg })
  await writePrivateKey(config.keysDir, key.kid, key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
  await writeManifest(config.keysDir, result.manifest)
  for (const kid of result.retired) await removePrivateKey(config.keysDir, kid)
  io.out(`rotated: ${result.activated} now signs; ${result.deactivated} is previous (verifies until its tokens expire); new next key ${key.kid} (${describe(spec)})`)
  for (const kid of result.retired) io.out(`retired ${kid}: every token it signed has expired`)
  await auditKeyChange(config, io, { action: 'rotate', activated: result.activated, deactivated: result.deactivated ?? '', next: key.kid, retired: result.retired.join(' '), forced: force })
}

export async function retireKey(config: Config, io: CliIo, kid: string, force: boolean): Promise<void> {
  const manifest = await requireManifest(config)
  const result = retire(manifest, kid, io.now(), lifecycleTiming(config), { force })
  await writeManifest(config.keysDir, result.manifest)
  await removePrivateKey(config.keysDir, result.kid)
  io.out(`retired ${result.kid}: no longer published; servers refuse its tokens once they reload (within KEYS_RELOAD_INTERVAL=${config.keysReloadInterval}s)`)
  await auditKeyChange(config, io, { action: 'retire', retired: result.kid, forced: force })
}
