import { createHash } from 'node:crypto'
import { algorithmOfJwk, importVerificationKey, SIGNING_ALGORITHMS, signatureLength, verifySignature, type SigningAlgorithm, type VerificationKey } from './algorithms.ts'
import { PROBLEM_CATALOG, ProblemError, type ProblemCatalogEntry } from './problem.ts'

/**
 * DPoP proofs (RFC 9449 §4.3): a JWS the client signs with its own key for each request, binding
 * the request (method and URL), the moment and, at a resource, the access token to that key. A token
 * bound to the key's thumbprint (`cnf.jkt`) is then useless without the private key.
 */

export type DpopErrorCode = 'invalid_dpop_proof' | 'use_dpop_nonce'

/**
 * Where a proof was refused, which decides how the refusal is answered. At a protected resource
 * (RFC 9449 §7.1, §9) it is a 401 with a `DPoP error="…"` challenge. At a token endpoint (§5, §8) it
 * is an RFC 6749 §5.2 error response: a 400 without WWW-Authenticate (the request presented no
 * access token, so there is no scheme to challenge). Same code, detail and headers (`DPoP-Nonce`).
 */
export type DpopRefusalSite = 'resource' | 'token_endpoint'

/** The one rule of a DPoP refusal's status: 401 and a challenge at a resource, 400 at a token endpoint. */
function dpopCatalogEntry(code: DpopErrorCode, site: DpopRefusalSite): ProblemCatalogEntry {
  const entry = PROBLEM_CATALOG[code]
  return site === 'resource' ? entry : { status: 400, title: entry.title, challenge: false }
}

/** A refused proof, answered as its site requires (see DpopRefusalSite). */
export class DpopError extends ProblemError {
  declare readonly code: DpopErrorCode
  readonly site: DpopRefusalSite
  constructor(code: DpopErrorCode, detail: string, headers?: Record<string, string>, site: DpopRefusalSite = 'resource') {
    super(code, dpopCatalogEntry(code, site), detail, headers ? { headers } : {})
    this.name = 'DpopError'
    this.site = site
  }
}

/** Whether a problem is about the DPoP proof rather than the token or the request. */
export function isDpopProblem(err: ProblemError): err is ProblemError & { code: DpopErrorCode } {
  return err.code === 'invalid_dpop_proof' || err.code === 'use_dpop_nonce'
}

/**
 * A problem as a token endpoint answers it: a DPoP refusal becomes its `token_endpoint` form (400,
 * no challenge, the same code, detail and `DPoP-Nonce`); any other problem is returned as it is.
 */
export function atTokenEndpoint(err: ProblemError): ProblemError {
  if (!isDpopProblem(err) || (err instanceof DpopError && err.site === 'token_endpoint')) return err
  return new DpopError(err.code, err.message, err.headers, 'token_endpoint')
}

/** The proof algorithms accepted: asymmetric only, as RFC 9449 §4.2 requires. */
export const DPOP_ALGORITHMS: readonly SigningAlgorithm[] = SIGNING_ALGORITHMS

export interface DpopRequest {
  /** The HTTP method of the request the proof came with. */
  method: string
  /** The request's URL as the client addressed it: the deployment's public base + the path. Query and fragment are ignored. */
  url: string
  /** At a resource: the access token the request carries (the proof's `ath` must hash it). */
  accessToken?: string
  /** A nonce the server requires in the proof, if any (one fixed value; DpopNonces for rotating ones). */
  nonce?: string
}

export interface DpopPolicy {
  /** Seconds since the epoch. */
  now: number
  /** How old a proof may be, in seconds (its `iat`), besides the clock tolerance. */
  maxAge: number
  /** Seconds of leeway for clocks ahead of ours and behind. */
  clockTolerance: number
}

export interface VerifiedDpopProof {
  /** RFC 7638 thumbprint of the proof's key: the `cnf.jkt` a bound token carries. */
  jkt: string
  jti: string
  iat: number
  /** The proof's `nonce` claim, if it has one (RFC 9449 §8). */
  nonce?: string
}

const MAX_PROOF_LENGTH = 8192
const SEGMENT = /^[A-Za-z0-9_-]+$/
const ALLOWED_HEADER_PARAMS = new Set(['typ', 'alg', 'jwk'])
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

function refuse(detail: string): DpopError {
  return new DpopError('invalid_dpop_proof', detail)
}

function decodeJson(segment: string, what: string): Record<string, unknown> {
  if (!SEGMENT.test(segment)) throw refuse(`the proof's ${what} is not base64url`)
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
  } catch {
    throw refuse(`the proof's ${what} is not JSON`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw refuse(`the proof's ${what} is not a JSON object`)
  return value as Record<string, unknown>
}

/** The RFC 7638 SHA-256 thumbprint of a public JWK: its required members, sorted, no whitespace. */
export function jwkThumbprint(jwk: Record<string, unknown>): string {
  const members = jwk.kty === 'RSA' ? ['e', 'kty', 'n'] : jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : ['crv', 'kty', 'x']
  const canonical = `{${members.map((m) => `${JSON.stringify(m)}:${JSON.stringify(jwk[m])}`).join(',')}}`
  return createHash('sha256').update(canonical).digest('base64url')
}

/** base64url(SHA-256(token)): the `ath` of a proof sent with that access token. */
export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url')
}

/** The request URL as RFC 9449 compares it: scheme, host and port (defaults dropped), path; no query or fragment. */
export function normalizeHtu(url: string): string | undefined {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return undefined
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return undefined
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`
}

/**
 * The key of a proof header, checked and imported once per distinct header: a client signs every
 * proof with one key, so its header segment repeats byte for byte, and importing the JWK (a new
 * KeyObject, whose first verification is slower too) and hashing its thumbprint would otherwise cost
 * more than the signature check itself. Only headers that pass every check are kept; bounded.
 */
const proofKeys = new Map<string, { key: VerificationKey; jkt: string }>()
const MAX_PROOF_KEYS = 1024

function proofKey(h: string): { key: VerificationKey; jkt: string } {
  const known = proofKeys.get(h)
  if (known) return known
  const header = decodeJson(h, 'header')
  for (const name of Object.keys(header)) if (!ALLOWED_HEADER_PARAMS.has(name)) throw refuse('the proof header has a parameter that is not accepted')
  if (header.typ !== 'dpop+jwt') throw refuse('the proof typ must be dpop+jwt')
  const alg = header.alg
  if (typeof alg !== 'string' || !(DPOP_ALGORITHMS as readonly string[]).includes(alg)) throw refuse(`the proof alg must be one of ${DPOP_ALGORITHMS.join(', ')}`)
  const jwk = header.jwk
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw refuse('the proof header must carry the public key as jwk')
  const publicJwk = jwk as Record<string, unknown>
  if (PRIVATE_JWK_MEMBERS.some((m) => m in publicJwk)) throw refuse('the proof jwk must not contain private key material')
  // The key's type decides which algorithm it can verify; the header's alg must be that one.
  if (algorithmOfJwk({ ...publicJwk, alg, use: undefined }) !== alg) throw refuse(`the proof jwk is not a key for ${alg}`)
  let key: VerificationKey
  try {
    key = importVerificationKey({ ...publicJwk, alg, use: undefined }, 'proof key')
  } catch {
    throw refuse('the proof jwk is not a usable public key')
  }
  const entry = { key, jkt: jwkThumbprint(publicJwk) }
  if (proofKeys.size >= MAX_PROOF_KEYS) proofKeys.delete(proofKeys.keys().next().value as string)
  proofKeys.set(h, entry)
  return entry
}

/**
 * Checks one proof against the request it came with; returns its key's thumbprint, jti and iat, or
 * throws DpopError. Replay (the jti seen before) is the caller's check: it needs shared state.
 */
export function verifyDpopProof(proof: string, request: DpopRequest, policy: DpopPolicy): VerifiedDpopProof {
  if (proof.length > MAX_PROOF_LENGTH) throw refuse('the proof is too large')
  const parts = proof.split('.')
  if (parts.length !== 3) throw refuse('the proof must be a compact JWS of three segments')
  const [h, p, s] = parts as [string, string, string]
  const { key, jkt } = proofKey(h)
  if (!SEGMENT.test(s)) throw refuse("the proof's signature is not base64url")
  const signature = Buffer.from(s, 'base64url')
  if (signature.length !== signatureLength(key) || !verifySignature(key, Buffer.from(`${h}.${p}`, 'latin1'), signature)) throw refuse('the proof signature is invalid')

  const claims = decodeJson(p, 'payload')
  const { jti, htm, htu, iat, ath, nonce } = claims
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw refuse('the proof must carry a jti of at most 256 characters')
  if (htm !== request.method) throw refuse(`the proof htm must be ${request.method}`)
  const expectedHtu = htu === request.url ? request.url : normalizeHtu(request.url)
  // The exact URL (what clients send) needs no parsing; any other spelling is compared normalised.
  if (typeof htu !== 'string' || (htu !== request.url && (expectedHtu === undefined || normalizeHtu(htu) !== expectedHtu))) throw refuse(`the proof htu must be ${expectedHtu ?? request.url}`)
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw refuse('the proof must carry iat')
  if (iat > policy.now + policy.clockTolerance) throw refuse('the proof was issued in the future')
  if (iat < policy.now - policy.maxAge - policy.clockTolerance) throw refuse('the proof is too old')
  if (request.accessToken !== undefined) {
    if (typeof ath !== 'string') throw refuse('the proof must carry ath, the hash of the access token')
    if (ath !== accessTokenHash(request.accessToken)) throw refuse('the proof ath does not match the access token')
  }
  if (request.nonce !== undefined && nonce !== request.nonce) throw new DpopError('use_dpop_nonce', 'the proof must carry the nonce in the DPoP-Nonce header')
  if (nonce !== undefined && (typeof nonce !== 'string' || nonce.length === 0 || nonce.length > 256)) throw refuse('the proof nonce must be a string of at most 256 characters')
  return { jkt, jti, iat, ...(nonce === undefined ? {} : { nonce }) }
}

/**
 * Server-provided nonces (RFC 9449 §8): when a deployment requires them, a proof must carry a nonce
 * the server handed out recently (in a `DPoP-Nonce` header), which bounds how far ahead a stolen
 * device can mint proofs. Shared by every instance behind one public URL.
 */
export interface DpopNonces {
  /** The nonce clients should put in their next proofs. */
  current(now: number): string | Promise<string>
  /** Whether a proof's nonce is one this deployment issued and still accepts. */
  accepts(nonce: string, now: number): boolean | Promise<boolean>
}

/**
 * Nonces that change every `lifetime` seconds; the one before the current stays accepted, so a client
 * that just learned a nonce keeps it for at least one lifetime. Random per window, kept in the
 * process: a single instance, or the resource-server verifier of one service.
 */
export function createMemoryDpopNonces(lifetime: number, random: () => string): DpopNonces {
  const byWindow = new Map<number, string>()
  const nonceOf = (window: number): string => {
    let nonce = byWindow.get(window)
    if (nonce === undefined) {
      nonce = random()
      byWindow.set(window, nonce)
      for (const w of byWindow.keys()) if (w < window - 1) byWindow.delete(w)
    }
    return nonce
  }
  return {
    current: (now) => nonceOf(Math.floor(now / lifetime)),
    accepts(nonce, now) {
      const window = Math.floor(now / lifetime)
      return nonce === nonceOf(window) || nonce === byWindow.get(window - 1)
    },
  }
}

/**
 * Proof ids seen, so a proof is accepted once: per (key, jti), kept as long as the proof could still
 * be accepted. This one lives in the process; Latchkey shares one through Redis across instances.
 */
export interface DpopReplayCache {
  /** True the first time (jkt, jti) is offered before `expiresAt` (seconds); false for a replay. */
  firstUse(jkt: string, jti: string, expiresAt: number, now: number): boolean | Promise<boolean>
}

/** The in-process cache; `size` is the number of proofs it remembers (tests and metrics). */
export interface MemoryDpopReplayCache extends DpopReplayCache {
  readonly size: number
}

export function createMemoryDpopReplayCache(maxEntries = 100_000): MemoryDpopReplayCache {
  const seen = new Map<string, number>()
  // Keys by the whole second they expire in, so forgetting expired proofs costs only what expired:
  // a full scan of `seen` on every request would make each proof O(n) once the cache is large.
  const buckets = new Map<number, string[]>()
  let sweptUpTo = -Infinity
  // Keys in arrival order, to forget the oldest when full. (Iterating the Map from its start instead
  // steps over every slot deleted since its last rehash: that grows with churn, not with size.)
  let order: string[] = []
  let head = 0
  // Keys filed in buckets or order, counting ones already forgotten; past twice the cap both are
  // rebuilt from what is remembered, so a flood cannot grow them (amortised O(1) per proof).
  let filed = 0

  function file(key: string, expiresAt: number) {
    const second = Math.ceil(expiresAt)
    const bucket = buckets.get(second)
    if (bucket) bucket.push(key)
    else buckets.set(second, [key])
    order.push(key)
    filed++
  }

  function rebuild() {
    buckets.clear()
    order = []
    head = 0
    filed = 0
    for (const [key, until] of seen) file(key, until)
  }

  function sweep(now: number) {
    const upTo = Math.floor(now)
    if (upTo <= sweptUpTo) return
    const forget = (second: number) => {
      for (const key of buckets.get(second) ?? []) {
        const until = seen.get(key)
        // The same key seen again after expiry sits in a later bucket with a later time: keep it.
        if (until !== undefined && until <= now) seen.delete(key)
      }
      buckets.delete(second)
    }
    // Step second by second unless the clock jumped further than there are buckets.
    if (upTo - sweptUpTo <= buckets.size) for (let s = sweptUpTo + 1; s <= upTo; s++) forget(s)
    else for (const s of [...buckets.keys()]) if (s <= upTo) forget(s)
    sweptUpTo = upTo
  }

  function forgetOldest() {
    while (head < order.length) if (seen.delete(order[head++] as string)) return
  }

  return {
    get size() {
      return seen.size
    },
    firstUse(jkt, jti, expiresAt, now) {
      sweep(now)
      const key = `${jkt}.${jti}`
      const until = seen.get(key)
      if (until !== undefined && until > now) return false
      // Full of live proofs: refusing everything would be an outage, forgetting the oldest a window
      // for replays of the oldest proofs only. Forget the oldest.
      if (until === undefined && seen.size >= maxEntries) forgetOldest()
      seen.delete(key)
      seen.set(key, expiresAt)
      file(key, expiresAt)
      if (filed > 2 * maxEntries) rebuild()
      return true
    },
  }
}
