import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseDataKey } from '../accounts/secret-box.ts'

/** Where a development DATA_ENCRYPTION_KEY lives when none is configured (git-ignored with the other keys). */
export const DEV_DATA_KEY_FILE = 'data-encryption.key'

/**
 * The development data key of `dir`, made (mode 0600) on first use; `created` says it was just made.
 * Server startup only: deployments set DATA_ENCRYPTION_KEY.
 */
export async function loadOrCreateDevDataKey(dir: string): Promise<{ key: Buffer; created: boolean }> {
  const path = join(dir, DEV_DATA_KEY_FILE)
  try {
    const key = parseDataKey((await readFile(path, 'utf8')).trim())
    if (!key) throw new Error(`${path} does not hold a 32-byte base64url key`)
    return { key, created: false }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await mkdir(dir, { recursive: true })
  const key = randomBytes(32)
  try {
    // wx: another process starting at the same moment keeps its own file, and we read it.
    await writeFile(path, `${key.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' })
    return { key, created: true }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    return loadOrCreateDevDataKey(dir)
  }
}
