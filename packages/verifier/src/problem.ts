/**
 * One error shape: a ProblemError carries a stable snake_case code and becomes an RFC 9457 problem
 * document. These are the codes a verifying service can answer with; Latchkey's own catalog
 * (src/errors.ts) extends this one, so both speak the same documents.
 */

export const PROBLEM_CATALOG = {
  validation_failed: { status: 400, title: 'Request validation failed' },
  malformed_json: { status: 400, title: 'Malformed JSON body' },
  // RFC 6750 §3.1: e.g. two Authorization headers, or a token in the header and the query.
  invalid_request: { status: 400, title: 'Invalid request' },
  missing_token: { status: 401, title: 'Access token required' },
  invalid_token: { status: 401, title: 'Invalid access token' },
  token_expired: { status: 401, title: 'Access token expired' },
  session_revoked: { status: 401, title: 'Session revoked' },
  // RFC 9449 §7.1, §8: the proof of possession, not the token, was at fault.
  invalid_dpop_proof: { status: 401, title: 'Invalid DPoP proof' },
  use_dpop_nonce: { status: 401, title: 'DPoP nonce required' },
  // RFC 9470 §3: the token is valid, but the sign-in behind it is too weak or too old for this route.
  insufficient_user_authentication: { status: 401, title: 'Stronger or more recent authentication required' },
  insufficient_scope: { status: 403, title: 'Insufficient scope' },
  not_found: { status: 404, title: 'Not found' },
  payload_too_large: { status: 413, title: 'Request body too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal_error: { status: 500, title: 'Internal server error' },
} as const satisfies Record<string, ProblemCatalogEntry>

export type ProblemCode = keyof typeof PROBLEM_CATALOG

export const PROBLEM_TYPE_BASE = 'https://latchkey.dev/problems/'

export interface FieldError {
  field: string
  message: string
}

export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code: string
  instance?: string
  errors?: FieldError[]
}

export interface ProblemErrorOptions {
  cause?: unknown
  /** Extra response headers, e.g. Retry-After or Allow. */
  headers?: Record<string, string>
  errors?: FieldError[]
}

/** One code of a catalog. `challenge: false` marks a 401/403 that is not about the access token. */
export interface ProblemCatalogEntry {
  status: number
  title: string
  challenge?: boolean
}

/** An error that is answered as a problem document; the message is its `detail`. */
export class ProblemError extends Error {
  readonly code: string
  readonly status: number
  readonly title: string
  readonly headers: Record<string, string>
  readonly errors: FieldError[] | undefined
  /**
   * Whether a 401/403 carries a `WWW-Authenticate: Bearer` challenge. False for refusals about
   * something other than the token (a wrong password in the body): a client that refreshes its token
   * on every challenge would otherwise loop or sign the user out.
   */
  readonly challenge: boolean

  constructor(code: string, entry: ProblemCatalogEntry, detail?: string, options: ProblemErrorOptions = {}) {
    super(detail ?? entry.title, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'ProblemError'
    this.code = code
    this.status = entry.status
    this.title = entry.title
    this.headers = options.headers ?? {}
    this.errors = options.errors
    this.challenge = entry.challenge !== false
  }
}

/** A ProblemError with one of the verifier's own codes. */
export class VerifierError extends ProblemError {
  declare readonly code: ProblemCode
  constructor(code: ProblemCode, detail?: string, options?: ProblemErrorOptions) {
    super(code, PROBLEM_CATALOG[code], detail, options)
    this.name = 'VerifierError'
  }
}

export function toProblem(err: ProblemError, instance?: string): Problem {
  const problem: Problem = {
    type: `${PROBLEM_TYPE_BASE}${err.code.replaceAll('_', '-')}`,
    title: err.title,
    status: err.status,
    detail: err.message,
    code: err.code,
  }
  if (instance) problem.instance = instance
  if (err.errors) problem.errors = err.errors
  return problem
}

/** RFC 9470 §3: a step-up refusal, with what the challenge tells the client to come back with. */
export class StepUpError extends VerifierError {
  readonly acrValues: string | undefined
  readonly maxAge: number | undefined
  constructor(detail: string, policy: { acr?: string | undefined; maxAge?: number | undefined }) {
    super('insufficient_user_authentication', detail)
    this.name = 'StepUpError'
    this.acrValues = policy.acr
    this.maxAge = policy.maxAge
  }
}
