import { PROBLEM_CATALOG, ProblemError, type ProblemCatalogEntry, type ProblemErrorOptions } from '@latchkey/verifier'

/**
 * One error shape for the whole API: AppError carries a stable snake_case code; the error handler
 * turns it into an RFC 9457 problem document. Internal causes are logged, never sent. The catalog
 * extends the verifier package's, so Latchkey and the services verifying its tokens share one shape.
 */

export const ERROR_CATALOG = {
  ...PROBLEM_CATALOG,
  malformed_request: { status: 400, title: 'Malformed HTTP request' },
  invalid_cursor: { status: 400, title: 'Invalid pagination cursor' },
  invalid_credentials: { status: 401, title: 'Invalid email or password' },
  invalid_refresh_token: { status: 401, title: 'Invalid refresh token' },
  refresh_token_reused: { status: 401, title: 'Refresh token reused' },
  account_disabled: { status: 403, title: 'Account disabled' },
  csrf_rejected: { status: 403, title: 'Cross-site request rejected' },
  // 403, not 401, and no Bearer challenge: the token was fine, the password in the body was not.
  invalid_current_password: { status: 403, title: 'Current password is incorrect', challenge: false },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  request_timeout: { status: 408, title: 'Request timeout' },
  email_taken: { status: 409, title: 'Email already registered' },
  header_too_large: { status: 431, title: 'Request header fields too large' },
  weak_password: { status: 422, title: 'Password does not meet the rules' },
  // Mail links (issue 17): one code per way a link token fails.
  link_token_invalid: { status: 400, title: 'Invalid link token' },
  link_token_expired: { status: 400, title: 'Link token expired' },
  link_token_used: { status: 400, title: 'Link token already used' },
  link_token_wrong_purpose: { status: 400, title: 'Link token is for another purpose' },
  email_not_verified: { status: 403, title: 'Email address not verified' },
  email_already_verified: { status: 409, title: 'Email address already verified' },
  // Passkeys (issue 22): one code per way a WebAuthn ceremony fails.
  passkey_response_invalid: { status: 400, title: 'Malformed WebAuthn response' },
  passkey_challenge_unknown: { status: 400, title: 'Unknown WebAuthn challenge' },
  passkey_challenge_used: { status: 400, title: 'WebAuthn challenge already used' },
  passkey_challenge_expired: { status: 400, title: 'WebAuthn challenge expired' },
  passkey_origin_mismatch: { status: 400, title: 'WebAuthn origin not allowed' },
  passkey_rp_id_mismatch: { status: 400, title: 'WebAuthn relying party id mismatch' },
  passkey_unknown_credential: { status: 401, title: 'Unknown passkey' },
  passkey_verification_failed: { status: 401, title: 'Passkey verification failed' },
  passkey_counter_regression: { status: 401, title: 'Passkey signature counter went backwards' },
  passkey_already_registered: { status: 409, title: 'Passkey already registered' },
  // Second factor (issue 18). A wrong code is not about the access token: no challenge, as for a wrong current password.
  invalid_mfa_code: { status: 403, title: 'Second-factor code is incorrect', challenge: false },
  invalid_mfa_challenge: { status: 400, title: 'Invalid or expired MFA challenge' },
  mfa_challenge_locked: { status: 403, title: 'Too many wrong codes: sign in again', challenge: false },
  // Across challenges: a new sign-in does not help, waiting does (Retry-After), hence 429 rather than the challenge's 403.
  mfa_account_locked: { status: 429, title: 'Too many wrong codes for this account: try again later' },
  mfa_already_enabled: { status: 409, title: 'Second factor already enabled' },
  mfa_not_enabled: { status: 409, title: 'No second factor to use or change' },
  service_unavailable: { status: 503, title: 'Service temporarily unavailable' },
  server_busy: { status: 503, title: 'Server busy' },
} as const satisfies Record<string, ProblemCatalogEntry>

export type ErrorCode = keyof typeof ERROR_CATALOG

export const ERROR_CODES = Object.keys(ERROR_CATALOG) as ErrorCode[]

export type { FieldError, Problem } from '@latchkey/verifier'
export { PROBLEM_TYPE_BASE, ProblemError, toProblem } from '@latchkey/verifier'

export type AppErrorOptions = ProblemErrorOptions

/** A problem with one of Latchkey's codes; verification failures are the package's VerifierError. */
export class AppError extends ProblemError {
  declare readonly code: ErrorCode

  constructor(code: ErrorCode, detail?: string, options: AppErrorOptions = {}) {
    super(code, ERROR_CATALOG[code], detail, options)
    this.name = 'AppError'
  }
}
