/** The RFC 9068 claims Latchkey puts in every access token. */
export interface AccessTokenClaims {
  iss: string
  sub: string
  aud: string
  exp: number
  iat: number
  nbf: number
  jti: string
  /** The refresh session (token family) this access token was issued from. */
  sid: string
  /** Space-separated scopes, e.g. "user admin". */
  scope: string
  /** RFC 9449 §6.1: the thumbprint of the key a DPoP-bound token must be presented with. */
  cnf?: { jkt: string }
  /** Whether the user had proved control of their email when the token was issued (absent from older tokens). */
  email_verified?: boolean
  /** RFC 9068 §2.2: the client the token was issued to, when it identified itself (Latchkey's CLIENT_IDS). */
  client_id?: string
}

export const ACCESS_TOKEN_TYPE = 'at+jwt'

/** The longest lifetime a verifier accepts (exp − iat), whatever the issuer's configuration. */
export const MAX_ACCESS_TOKEN_LIFETIME = 3600

export function hasScopes(granted: string, required: readonly string[]): boolean {
  if (required.length === 0) return true
  const have = new Set(granted.split(' '))
  return required.every((s) => have.has(s))
}
