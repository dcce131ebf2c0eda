// Generated from openapi.yaml (components.schemas.ErrorCode) by `npm run generate:codes -w @latchkey/client`.
// Do not edit: a test fails when this file no longer matches the spec.

/** Every problem `code` the Latchkey API documents. */
export const ERROR_CODES = [
  "validation_failed",
  "malformed_request",
  "malformed_json",
  "invalid_cursor",
  "invalid_credentials",
  "missing_token",
  "invalid_token",
  "token_expired",
  "invalid_refresh_token",
  "refresh_token_reused",
  "session_revoked",
  "account_disabled",
  "insufficient_scope",
  "csrf_rejected",
  "invalid_current_password",
  "invalid_request",
  "invalid_dpop_proof",
  "use_dpop_nonce",
  "not_found",
  "method_not_allowed",
  "request_timeout",
  "email_taken",
  "payload_too_large",
  "unsupported_media_type",
  "header_too_large",
  "weak_password",
  "rate_limited",
  "internal_error",
  "service_unavailable",
  "server_busy",
  "link_token_invalid",
  "link_token_expired",
  "link_token_used",
  "link_token_wrong_purpose",
  "email_not_verified",
  "email_already_verified",
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]
