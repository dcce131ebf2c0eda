import type { AppError } from '../errors.ts'

function quote(value: string): string {
  // RFC 6750 §3: the attribute values are quoted-strings without backslash or quote.
  return `"${value.replace(/["\\\r\n]/g, '')}"`
}

/**
 * The RFC 6750 §3 challenge for a 401 or 403. `tokenPresented` decides whether an error code is
 * included: a request with no bearer token gets the bare challenge.
 */
export function bearerChallenge(realm: string, err: AppError, tokenPresented: boolean, requiredScopes: readonly string[] = []): string {
  const parts = [`Bearer realm=${quote(realm)}`]
  if (err.code === 'insufficient_scope') {
    parts.push('error="insufficient_scope"', `error_description=${quote(err.message)}`)
    if (requiredScopes.length) parts.push(`scope=${quote(requiredScopes.join(' '))}`)
  } else if (tokenPresented && err.status === 401 && err.code !== 'invalid_credentials') {
    // invalid_credentials on a bearer route (PUT /me/password) means the password in the body was
    // wrong while the token was fine: error="invalid_token" would tell the client to drop its token.
    parts.push('error="invalid_token"', `error_description=${quote(err.message)}`)
  }
  return parts.join(', ')
}
