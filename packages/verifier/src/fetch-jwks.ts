import { createPublicKey, type KeyObject } from 'node:crypto'
import { z } from 'zod'
import { assertStrongRsaKey } from './rsa-key.ts'

/**
 * Fetching and importing a JWKS defensively: the endpoint may be down, slow, huge or wrong, and none
 * of that may crash or stall the service that verifies tokens. Every failure is a JwksError; the
 * caller keeps its last good keys.
 */

export type JwksErrorCode = 'unreachable' | 'timeout' | 'http_status' | 'too_large' | 'malformed' | 'no_usable_keys'

export class JwksError extends Error {
  override name = 'JwksError'
  readonly code: JwksErrorCode
  constructor(code: JwksErrorCode, message: string) {
    super(message)
    this.code = code
  }
}

export interface FetchJwksOptions {
  url: string
  timeoutMs: number
  maxBytes: number
  fetch?: typeof fetch
}

const JwksDocumentSchema = z.object({ keys: z.array(z.record(z.string(), z.unknown())).max(100) })

// Only what RS256 verification needs; other keys in a shared JWKS (EC, encryption) are skipped.
const Rs256JwkSchema = z.object({
  kty: z.literal('RSA'),
  kid: z.string().min(1).max(256),
  n: z.string().regex(/^[A-Za-z0-9_-]+$/),
  e: z.string().regex(/^[A-Za-z0-9_-]+$/),
  alg: z.literal('RS256').optional(),
  use: z.literal('sig').optional(),
})

/** Reads the body up to maxBytes; a longer body is cut off and refused, never buffered whole. */
async function readCapped(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'))
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel()
    throw new JwksError('too_large', `JWKS response of ${declared} bytes exceeds ${maxBytes}`)
  }
  if (!response.body) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of response.body) {
    size += chunk.byteLength
    if (size > maxBytes) {
      await response.body.cancel().catch(() => {})
      throw new JwksError('too_large', `JWKS response exceeds ${maxBytes} bytes`)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** GETs the JWKS document and returns its raw key entries. */
export async function fetchJwks(options: FetchJwksOptions): Promise<Array<Record<string, unknown>>> {
  const doFetch = options.fetch ?? fetch
  // One deadline for connect, headers and body: a server that trickles bytes is as slow as one that never answers.
  const signal = AbortSignal.timeout(options.timeoutMs)
  let text: string
  try {
    const response = await doFetch(options.url, { signal, headers: { accept: 'application/json' }, redirect: 'error' })
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {})
      throw new JwksError('http_status', `JWKS endpoint answered ${response.status}`)
    }
    text = await readCapped(response, options.maxBytes)
  } catch (err) {
    if (err instanceof JwksError) throw err
    if (signal.aborted) throw new JwksError('timeout', `JWKS endpoint did not answer within ${options.timeoutMs} ms`)
    throw new JwksError('unreachable', `JWKS endpoint unreachable: ${(err as Error).message}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new JwksError('malformed', 'JWKS response is not JSON')
  }
  const parsed = JwksDocumentSchema.safeParse(json)
  if (!parsed.success) throw new JwksError('malformed', 'JWKS response is not a {keys:[…]} document of at most 100 keys')
  return parsed.data.keys
}

interface ImportedKey {
  n: string
  e: string
  key: KeyObject
}

/**
 * Turns JWK entries into kid → KeyObject, reusing keys imported before (`known`) so a refresh costs
 * no key parsing when nothing changed. Refuses duplicate kids; skips keys that are not RS256-capable
 * RSA of at least 2048 bits; refuses a document with no usable key at all.
 */
export function importJwks(entries: Array<Record<string, unknown>>, known: ReadonlyMap<string, ImportedKey>): Map<string, ImportedKey> {
  const imported = new Map<string, ImportedKey>()
  for (const entry of entries) {
    const jwk = Rs256JwkSchema.safeParse(entry)
    if (!jwk.success) continue
    const { kid, n, e } = jwk.data
    if (imported.has(kid)) throw new JwksError('malformed', `JWKS lists kid ${kid} twice`)
    const previous = known.get(kid)
    if (previous && previous.n === n && previous.e === e) {
      imported.set(kid, previous)
      continue
    }
    let key: KeyObject
    try {
      key = createPublicKey({ key: { kty: 'RSA', n, e }, format: 'jwk' })
      assertStrongRsaKey(key, `JWKS key ${kid}`)
    } catch {
      continue
    }
    imported.set(kid, { n, e, key })
  }
  if (imported.size === 0) throw new JwksError('no_usable_keys', 'JWKS holds no usable RS256 key')
  return imported
}
