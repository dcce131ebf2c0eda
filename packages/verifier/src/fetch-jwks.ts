import { z } from 'zod'
import { algorithmOfJwk, importVerificationKey, type VerificationKey } from './algorithms.ts'

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

const b64u = z.string().regex(/^[A-Za-z0-9_-]+$/).max(4096)
// Only what verification needs; other keys in a shared JWKS (encryption keys, other curves) are skipped.
const SigningJwkSchema = z.object({
  kty: z.enum(['RSA', 'EC', 'OKP']),
  kid: z.string().min(1).max(256),
  n: b64u.optional(),
  e: b64u.optional(),
  crv: z.string().max(16).optional(),
  x: b64u.optional(),
  y: b64u.optional(),
  alg: z.string().max(16).optional(),
  use: z.string().max(16).optional(),
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
  /** The key's public members and algorithm, as published: an unchanged entry is not imported again. */
  fingerprint: string
  key: VerificationKey
}

/**
 * Turns JWK entries into kid → key and its bound algorithm (RS256, PS256, ES256 or EdDSA), reusing
 * keys imported before (`known`) so a refresh costs no key parsing when nothing changed. Refuses
 * duplicate kids; skips keys Latchkey would not sign with (weak RSA, other curves, `use` other than
 * sig, an `alg` that does not fit the key); refuses a document with no usable key at all.
 */
export function importJwks(entries: Array<Record<string, unknown>>, known: ReadonlyMap<string, ImportedKey>): Map<string, ImportedKey> {
  const imported = new Map<string, ImportedKey>()
  for (const entry of entries) {
    const jwk = SigningJwkSchema.safeParse(entry)
    if (!jwk.success) continue
    const { kid } = jwk.data
    if (imported.has(kid)) throw new JwksError('malformed', `JWKS lists kid ${kid} twice`)
    const alg = algorithmOfJwk(jwk.data)
    if (!alg) continue
    const { n, e, crv, x, y } = jwk.data
    const fingerprint = JSON.stringify([alg, n, e, crv, x, y])
    const previous = known.get(kid)
    if (previous && previous.fingerprint === fingerprint) {
      imported.set(kid, previous)
      continue
    }
    try {
      imported.set(kid, { fingerprint, key: importVerificationKey(jwk.data, `JWKS key ${kid}`) })
    } catch {
      continue
    }
  }
  if (imported.size === 0) throw new JwksError('no_usable_keys', 'JWKS holds no usable signing key')
  return imported
}
