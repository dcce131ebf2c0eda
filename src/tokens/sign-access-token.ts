import { randomUUID, sign, type KeyObject } from 'node:crypto'
import { ACCESS_TOKEN_TYPE, cryptoParameters, type AccessTokenClaims, type SigningAlgorithm } from '@latchkey/verifier'

export interface AccessTokenInput {
  issuer: string
  audience: string
  subject: string
  sessionId: string
  scope: string
  emailVerified?: boolean
  /** RFC 9449: the thumbprint of the client's DPoP key; the token then carries `cnf.jkt` and is useless without that key. */
  dpopJkt?: string
  /** The assurance of the sign-in behind the session (accounts/assurance.ts): `amr`, `acr`, `auth_time` (seconds). */
  amr?: string[]
  acr?: string
  authTime?: number
  /** RFC 9068 `client_id`: the known client the session was signed in by. */
  clientId?: string
  /** Seconds since the epoch. */
  now: number
  ttl: number
}

export interface SigningKey {
  kid: string
  /** The key's own algorithm (RS256 when absent, as for keys made before v1.1). */
  alg?: SigningAlgorithm
  privateKey: KeyObject
}

const headerCache = new Map<string, string>()

function encodedHeader(kid: string, alg: SigningAlgorithm): string {
  let header = headerCache.get(kid)
  if (!header) {
    header = Buffer.from(JSON.stringify({ alg, typ: ACCESS_TOKEN_TYPE, kid })).toString('base64url')
    if (headerCache.size > 16) headerCache.clear()
    headerCache.set(kid, header)
  }
  return header
}

function signingInputOf(input: AccessTokenInput, kid: string, alg: SigningAlgorithm): { signingInput: Buffer; claims: AccessTokenClaims } {
  const claims: AccessTokenClaims = {
    iss: input.issuer,
    sub: input.subject,
    aud: input.audience,
    exp: input.now + input.ttl,
    iat: input.now,
    nbf: input.now,
    jti: randomUUID(),
    sid: input.sessionId,
    scope: input.scope,
    ...(input.emailVerified === undefined ? {} : { email_verified: input.emailVerified }),
    ...(input.dpopJkt === undefined ? {} : { cnf: { jkt: input.dpopJkt } }),
    ...(input.amr === undefined ? {} : { amr: input.amr }),
    ...(input.acr === undefined ? {} : { acr: input.acr }),
    ...(input.authTime === undefined ? {} : { auth_time: input.authTime }),
    ...(input.clientId === undefined ? {} : { client_id: input.clientId }),
  }
  return { signingInput: Buffer.from(`${encodedHeader(kid, alg)}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`), claims }
}

function compact(signingInput: Buffer, signature: Buffer): string {
  return `${signingInput.toString('latin1')}.${signature.toString('base64url')}`
}

/**
 * Algorithms whose signature costs about as much as handling a request (Ed25519 and P-256: 20–40 µs
 * here): signed on the event loop, because a trip to the thread pool and back costs as much again
 * in CPU (measured: ~20 µs more per Ed25519 signature, sequentially awaited).
 */
const INLINE_ALGORITHMS: ReadonlySet<SigningAlgorithm> = new Set(['EdDSA', 'ES256'])

/**
 * Signs the JWS with node:crypto directly, in the key's own algorithm, so issuing a token costs one
 * signature and nothing else. RSA signatures (RS256, PS256) are computed on libuv's thread pool: an
 * RSA-2048 private-key operation takes ~0.3–1 ms, which would otherwise stall every request on the
 * event loop (the stateless verification path above all) for each token issued, and would keep
 * signing to one core. EdDSA and ES256 are cheap enough to sign inline (INLINE_ALGORITHMS).
 */
export async function signAccessToken(input: AccessTokenInput, key: SigningKey): Promise<{ token: string; claims: AccessTokenClaims }> {
  const alg = key.alg ?? 'RS256'
  if (INLINE_ALGORITHMS.has(alg)) return signAccessTokenSync(input, key)
  const { signingInput, claims } = signingInputOf(input, key.kid, alg)
  const p = cryptoParameters(alg, key.privateKey)
  const signature = await new Promise<Buffer>((resolve, reject) => sign(p.digest, signingInput, p.key, (err, sig) => (err ? reject(err) : resolve(sig))))
  return { token: compact(signingInput, signature), claims }
}

/** The same token, signed on the calling thread: for tools and tests that mint tokens outside a server. */
export function signAccessTokenSync(input: AccessTokenInput, key: SigningKey): { token: string; claims: AccessTokenClaims } {
  const alg = key.alg ?? 'RS256'
  const { signingInput, claims } = signingInputOf(input, key.kid, alg)
  const p = cryptoParameters(alg, key.privateKey)
  return { token: compact(signingInput, sign(p.digest, signingInput, p.key)), claims }
}
