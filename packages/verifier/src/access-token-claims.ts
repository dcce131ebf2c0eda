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
  /** RFC 8176 methods of the sign-in this token descends from, e.g. ["pwd"] or ["pwd","otp"]. */
  amr?: string[]
  /** The assurance level of that sign-in, e.g. "aal1" or "aal2" (names are the issuer's). */
  acr?: string
  /** When the user last actively authenticated (seconds since the epoch); kept across refreshes. */
  auth_time?: number
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

/** What a route demands of the sign-in behind a token (RFC 9470): an assurance level, and how recent it must be. */
export interface StepUpPolicy {
  /** The weakest acceptable `acr`; stronger levels (later in the level list) pass too. */
  acr?: string
  /** Seconds since `auth_time` beyond which the user must authenticate again. */
  maxAge?: number
}

/** The default order of assurance levels, weakest first (NIST SP 800-63B's AAL names). */
export const DEFAULT_ACR_LEVELS: readonly string[] = Object.freeze(['aal1', 'aal2', 'aal3'])

/**
 * Whether a token's acr is at least `required`: by rank when both are in `levels`, otherwise only
 * when equal (an unknown name is never assumed strong).
 */
export function meetsAcr(acr: string | undefined, required: string, levels: readonly string[] = DEFAULT_ACR_LEVELS): boolean {
  if (acr === undefined) return false
  if (acr === required) return true
  const have = levels.indexOf(acr)
  const need = levels.indexOf(required)
  return have >= 0 && need >= 0 && have >= need
}
