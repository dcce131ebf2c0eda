import { isSigningAlgorithm, SIGNING_ALGORITHMS, signatureLength, verifySignature, type SigningAlgorithm, type VerificationKey } from './algorithms.ts'
import { VerifierError } from './problem.ts'
import { ACCESS_TOKEN_TYPE, MAX_ACCESS_TOKEN_LIFETIME, type AccessTokenClaims } from './access-token-claims.ts'

/**
 * The one verification policy (DESIGN §4), shared by Latchkey's routes and the exported verifier.
 * Hand-written on node:crypto rather than a JOSE library because the policy rejects things before
 * any crypto that libraries accept (non-canonical base64url, any header parameter beyond
 * alg/typ/kid, oversized input), and because a synchronous verify lets the auth hook stay sync.
 */
export interface VerificationPolicy {
  issuer: string
  audience: string
  /** Seconds of leeway for exp, nbf and iat. */
  clockTolerance: number
  /** Largest accepted exp − iat, in seconds. */
  maxLifetime?: number
  /** Tokens longer than this are refused before any parsing. */
  maxTokenLength?: number
}

export const DEFAULT_MAX_TOKEN_LENGTH = 4096

const SEGMENT = /^[A-Za-z0-9_-]+$/
const ALLOWED_HEADER_PARAMS = new Set(['alg', 'typ', 'kid'])

/**
 * The token names a key this verifier does not hold. Still an `invalid_token` 401 to the client; a
 * verifier that fetches its keys (src/verifier) catches it to refresh its key set once and retry.
 * Thrown only after the header passed every other check, so junk headers never cause a fetch.
 */
export class UnknownKeyError extends VerifierError {
  readonly kid: string
  constructor(kid: string) {
    super('invalid_token', 'unknown key id')
    this.kid = kid
  }
}

function invalid(description: string): VerifierError {
  return new VerifierError('invalid_token', description)
}

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/**
 * True when the unused low bits of the last character are zero (RFC 4648 §3.5): the only way a
 * well-formed unpadded base64url string can be non-canonical. Checking that one character spares
 * re-encoding every segment (the 342-character signature above all) on each verification.
 */
function hasCanonicalTail(segment: string): boolean {
  const rest = segment.length % 4
  if (rest === 0) return true
  const value = BASE64URL_ALPHABET.indexOf(segment.charAt(segment.length - 1))
  return (value & (rest === 2 ? 0x0f : 0x03)) === 0
}

/** Decodes one base64url segment, refusing padding, foreign characters and non-canonical trailing bits. */
function decodeSegment(segment: string, what: string): Buffer {
  if (!SEGMENT.test(segment) || segment.length % 4 === 1) throw invalid(`${what} is not base64url`)
  if (!hasCanonicalTail(segment)) throw invalid(`${what} is not canonical base64url`)
  return Buffer.from(segment, 'base64url')
}

function parseJsonObject(bytes: Buffer, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(bytes.toString('utf8'))
  } catch {
    throw invalid(`${what} is not JSON`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${what} is not a JSON object`)
  return value as Record<string, unknown>
}

/** A claim value for an error description: a string as it is, anything else as JSON, at most 100 characters. */
function shown(value: unknown): string {
  const text = value === undefined ? '(none)' : typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value))
  return text.length > 100 ? `${text.slice(0, 97)}...` : text
}

function isNumericDate(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 1e11
}

/**
 * Verifies a compact JWS access token; returns its claims or throws VerifierError
 * (`invalid_token` or `token_expired`) with a description fit for an RFC 6750 challenge.
 * `now` is in seconds since the epoch.
 */
export function verifyAccessToken(
  token: string,
  keys: ReadonlyMap<string, VerificationKey>,
  policy: VerificationPolicy,
  now: number,
): AccessTokenClaims {
  if (token.length > (policy.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH)) throw invalid('token is too large')
  const parts = token.split('.')
  if (parts.length !== 3) throw invalid('token must have three segments')
  const [h, p, s] = parts as [string, string, string]

  const remembered = verifiedHeaders.get(h)
  const header = remembered ?? checkHeader(h)
  const key = keys.get(header.kid)
  if (!key) throw new UnknownKeyError(header.kid)
  // The key's own algorithm decides; the header may only agree with it.
  if (header.alg !== key.alg) throw invalid(`algorithm must be ${key.alg} for this key`)

  const payloadBytes = decodeSegment(p, 'payload')
  const signature = decodeSegment(s, 'signature')
  if (signature.length !== signatureLength(key)) throw invalid('signature has the wrong length')
  // The signing input as it stands in the token; every character of it passed SEGMENT, so latin1
  // encodes it exactly, without UTF-8's scan.
  const signingInput = Buffer.from(token.slice(0, h.length + 1 + p.length), 'latin1')
  if (!verifySignature(key, signingInput, signature)) throw invalid('signature is invalid')
  if (remembered === undefined) rememberHeader(h, header)

  return checkClaims(parseJsonObject(payloadBytes, 'payload'), policy, now)
}

/**
 * Header segments of tokens whose signature verified, with the kid each names. A signer emits the
 * same header for every token of a key, so a verifier meets a handful of distinct segments:
 * remembering them spares decoding and parsing the header of each token seen for the first time.
 * The header checks are a pure function of the segment's exact string, so the answer is the same;
 * the kid is still looked up in the keys in force, and its algorithm compared, on every call. Only a segment signed by a key in
 * force gets in, so a stream of forged tokens can neither fill it nor skip a check.
 */
interface CheckedHeader {
  kid: string
  alg: SigningAlgorithm
}

const verifiedHeaders = new Map<string, CheckedHeader>()
const MAX_VERIFIED_HEADERS = 16

function rememberHeader(segment: string, header: CheckedHeader): void {
  if (verifiedHeaders.size >= MAX_VERIFIED_HEADERS) verifiedHeaders.clear()
  verifiedHeaders.set(segment, header)
}

/** The kid and alg of a header segment that passes the policy; throws `invalid_token` otherwise. */
function checkHeader(segment: string): CheckedHeader {
  const header = parseJsonObject(decodeSegment(segment, 'header'), 'header')
  for (const name of Object.keys(header)) {
    // The name is attacker-chosen: never echo it (it would reach the WWW-Authenticate header).
    if (!ALLOWED_HEADER_PARAMS.has(name)) throw invalid('the header has a parameter that is not accepted')
  }
  // `none`, HS256 and anything else no key can be bound to stop here, before any key is looked up.
  if (!isSigningAlgorithm(header.alg)) throw invalid(`algorithm must be one of ${SIGNING_ALGORITHMS.join(', ')}`)
  if (typeof header.typ !== 'string' || !isAccessTokenType(header.typ)) throw invalid('typ must be at+jwt')
  if (typeof header.kid !== 'string') throw invalid('kid is missing')
  return { kid: header.kid, alg: header.alg }
}

function isAccessTokenType(typ: string): boolean {
  const t = typ.toLowerCase()
  return t === ACCESS_TOKEN_TYPE || t === `application/${ACCESS_TOKEN_TYPE}`
}

function checkClaims(c: Record<string, unknown>, policy: VerificationPolicy, now: number): AccessTokenClaims {
  // Only a token whose signature verified gets here, so what it says is the issuer's own words; both
  // values are still cut short and stripped of unsafe characters by the challenge's quoting.
  if (c.iss !== policy.issuer) throw invalid(`issuer ${shown(c.iss)} is not accepted; expected ${shown(policy.issuer)}`)
  const audienceOk = c.aud === policy.audience || (Array.isArray(c.aud) && c.aud.includes(policy.audience))
  if (!audienceOk) throw invalid(`audience ${shown(c.aud)} is not accepted; expected ${shown(policy.audience)}`)
  for (const name of ['sub', 'jti', 'sid', 'scope'] as const) {
    if (typeof c[name] !== 'string' || (name !== 'scope' && c[name] === '')) throw invalid(`${name} claim is missing`)
  }
  const { exp, iat, nbf } = c
  if (!isNumericDate(exp)) throw invalid('exp claim is missing or not a number')
  if (!isNumericDate(iat)) throw invalid('iat claim is missing or not a number')
  if (nbf !== undefined && !isNumericDate(nbf)) throw invalid('nbf claim is not a number')
  if (exp <= iat || exp - iat > (policy.maxLifetime ?? MAX_ACCESS_TOKEN_LIFETIME)) throw invalid('token lifetime is not acceptable')
  const tolerance = policy.clockTolerance
  if (iat > now + tolerance) throw invalid('token was issued in the future')
  if (nbf !== undefined && nbf > now + tolerance) throw invalid('token is not yet valid')
  if (exp <= now - tolerance) throw new VerifierError('token_expired', 'token has expired')
  const cnf = confirmation(c.cnf)
  if (c.client_id !== undefined && (typeof c.client_id !== 'string' || c.client_id === '')) throw invalid('client_id claim is not a string')
  const claims: AccessTokenClaims = {
    iss: c.iss as string,
    sub: c.sub as string,
    aud: policy.audience,
    exp,
    iat,
    nbf: (nbf as number | undefined) ?? iat,
    jti: c.jti as string,
    sid: c.sid as string,
    scope: c.scope as string,
    ...(typeof c.email_verified === 'boolean' ? { email_verified: c.email_verified } : {}),
    ...(typeof c.client_id === 'string' ? { client_id: c.client_id } : {}),
  }
  if (cnf) claims.cnf = cnf
  // Assurance claims (RFC 8176, OIDC Core §2): absent from older tokens; present, they must be well formed.
  if (c.amr !== undefined) {
    if (!Array.isArray(c.amr) || c.amr.length > 16 || !c.amr.every((m) => typeof m === 'string' && m !== '')) throw invalid('amr claim is not a list of methods')
    claims.amr = c.amr as string[]
  }
  if (c.acr !== undefined) {
    if (typeof c.acr !== 'string' || c.acr === '') throw invalid('acr claim is not a string')
    claims.acr = c.acr
  }
  if (c.auth_time !== undefined) {
    if (!isNumericDate(c.auth_time) || c.auth_time > iat + tolerance) throw invalid('auth_time claim is not acceptable')
    claims.auth_time = c.auth_time
  }
  return claims
}

/** The `cnf` claim (RFC 7800) as Latchkey uses it: a DPoP key thumbprint, or nothing. Any other form is refused. */
function confirmation(cnf: unknown): { jkt: string } | undefined {
  if (cnf === undefined) return undefined
  const jkt = typeof cnf === 'object' && cnf !== null ? (cnf as { jkt?: unknown }).jkt : undefined
  if (typeof jkt !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(jkt)) throw invalid('cnf claim is not a DPoP key thumbprint')
  return { jkt }
}
