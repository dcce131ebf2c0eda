/**
 * One error shape for the whole API: AppError carries a stable snake_case code; the error handler
 * turns it into an RFC 9457 problem document. Internal causes are logged, never sent.
 */

export const ERROR_CATALOG = {
  validation_failed: { status: 400, title: 'Request validation failed' },
  malformed_request: { status: 400, title: 'Malformed HTTP request' },
  malformed_json: { status: 400, title: 'Malformed JSON body' },
  invalid_cursor: { status: 400, title: 'Invalid pagination cursor' },
  invalid_credentials: { status: 401, title: 'Invalid email or password' },
  missing_token: { status: 401, title: 'Access token required' },
  invalid_token: { status: 401, title: 'Invalid access token' },
  token_expired: { status: 401, title: 'Access token expired' },
  invalid_refresh_token: { status: 401, title: 'Invalid refresh token' },
  refresh_token_reused: { status: 401, title: 'Refresh token reused' },
  session_revoked: { status: 401, title: 'Session revoked' },
  account_disabled: { status: 403, title: 'Account disabled' },
  insufficient_scope: { status: 403, title: 'Insufficient scope' },
  csrf_rejected: { status: 403, title: 'Cross-site request rejected' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  request_timeout: { status: 408, title: 'Request timeout' },
  email_taken: { status: 409, title: 'Email already registered' },
  payload_too_large: { status: 413, title: 'Request body too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  header_too_large: { status: 431, title: 'Request header fields too large' },
  weak_password: { status: 422, title: 'Password does not meet the rules' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal_error: { status: 500, title: 'Internal server error' },
  // Mail links (issue 17): one code per way a link token fails.
  link_token_invalid: { status: 400, title: 'Invalid link token' },
  link_token_expired: { status: 400, title: 'Link token expired' },
  link_token_used: { status: 400, title: 'Link token already used' },
  link_token_wrong_purpose: { status: 400, title: 'Link token is for another purpose' },
  email_not_verified: { status: 403, title: 'Email address not verified' },
  email_already_verified: { status: 409, title: 'Email address already verified' },
  service_unavailable: { status: 503, title: 'Service temporarily unavailable' },
  server_busy: { status: 503, title: 'Server busy' },
} as const satisfies Record<string, { status: number; title: string }>

export type ErrorCode = keyof typeof ERROR_CATALOG

export const ERROR_CODES = Object.keys(ERROR_CATALOG) as ErrorCode[]

export interface FieldError {
  field: string
  message: string
}

export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code: ErrorCode
  instance?: string
  errors?: FieldError[]
}

export interface AppErrorOptions {
  cause?: unknown
  /** Extra response headers, e.g. Retry-After or Allow. */
  headers?: Record<string, string>
  errors?: FieldError[]
}

export class AppError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly headers: Record<string, string>
  readonly errors: FieldError[] | undefined

  constructor(code: ErrorCode, detail?: string, options: AppErrorOptions = {}) {
    super(detail ?? ERROR_CATALOG[code].title, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AppError'
    this.code = code
    this.status = ERROR_CATALOG[code].status
    this.headers = options.headers ?? {}
    this.errors = options.errors
  }
}

export const PROBLEM_TYPE_BASE = 'https://latchkey.dev/problems/'

export function toProblem(err: AppError, instance?: string): Problem {
  const problem: Problem = {
    type: `${PROBLEM_TYPE_BASE}${err.code.replaceAll('_', '-')}`,
    title: ERROR_CATALOG[err.code].title,
    status: err.status,
    detail: err.message,
    code: err.code,
  }
  if (instance) problem.instance = instance
  if (err.errors) problem.errors = err.errors
  return problem
}
