import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'

/**
 * Secrets at rest (TOTP seeds): AES-256-GCM with DATA_ENCRYPTION_KEY. A sealed value names the key
 * that sealed it, so keys rotate without a migration: the new key seals, the previous ones (in
 * DATA_ENCRYPTION_PREVIOUS_KEYS) still open, and whatever a previous key opened is sealed again
 * with the current one on its next use. The additional data binds a ciphertext to its owner and
 * purpose (e.g. `totp:<user id>`), so a sealed value copied to another row does not open.
 */
export interface DataKeys {
  /** 32 bytes: seals and opens. */
  current: Buffer
  /** 32 bytes each: open only. */
  previous: readonly Buffer[]
}

export interface SecretBox {
  seal(plaintext: string, aad: string): string
  /** The plaintext, and whether it was sealed with a previous key (seal it again). Throws when nothing opens it. */
  open(sealed: string, aad: string): { plaintext: string; stale: boolean }
}

const VERSION = 'v1'

/** A short, non-secret name for a key: the first 8 bytes of its SHA-256. */
export function dataKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest().subarray(0, 8).toString('base64url')
}

export function createSecretBox(keys: DataKeys): SecretBox {
  for (const key of [keys.current, ...keys.previous]) {
    if (key.length !== 32) throw new Error('a data encryption key must be 32 bytes')
  }
  const currentId = dataKeyId(keys.current)
  const byId = new Map<string, Buffer>([...keys.previous.map((k) => [dataKeyId(k), k] as const), [currentId, keys.current]])
  return {
    seal(plaintext, aad) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', keys.current, iv)
      cipher.setAAD(Buffer.from(aad))
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      return [VERSION, currentId, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.')
    },
    open(sealed, aad) {
      const [version, id, iv, body, tag, ...rest] = sealed.split('.')
      if (version !== VERSION || !id || !iv || !body || !tag || rest.length > 0) throw new Error('sealed secret is malformed')
      const key = byId.get(id)
      if (!key) throw new Error(`sealed secret names an unknown data encryption key (${id}): add it to DATA_ENCRYPTION_PREVIOUS_KEYS`)
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
      decipher.setAAD(Buffer.from(aad))
      decipher.setAuthTag(Buffer.from(tag, 'base64url'))
      const plaintext = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8')
      return { plaintext, stale: id !== currentId }
    },
  }
}

/** Decodes a DATA_ENCRYPTION_KEY value: base64url (or base64) of exactly 32 bytes; null otherwise. */
export function parseDataKey(value: string): Buffer | null {
  if (!/^[A-Za-z0-9_\-+/]{43}=?$/.test(value)) return null
  const key = Buffer.from(value.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''), 'base64url')
  return key.length === 32 ? key : null
}
