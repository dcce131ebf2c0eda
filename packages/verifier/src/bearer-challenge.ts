import type { ProblemError } from './problem.ts'

function quote(value: string): string {
  // RFC 6750 §3: error_description is limited to %x20-21 / %x23-5B / %x5D-7E. Anything else is
  // dropped, so no input can make the header invalid (Node refuses to send it: a 500).
  return `"${value.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '')}"`
}

/**
 * The RFC 6750 §3 challenge for a 401 or 403. `tokenPresented` decides whether an error code is
 * included: a request with no bearer token gets the bare challenge.
 */
export function bearerChallenge(realm: string, err: ProblemError, tokenPresented: boolean, requiredScopes: readonly string[] = []): string {
  const parts = [`Bearer realm=${quote(realm)}`]
  if (err.code === 'insufficient_scope') {
    parts.push('error="insufficient_scope"', `error_description=${quote(err.message)}`)
    if (requiredScopes.length) parts.push(`scope=${quote(requiredScopes.join(' '))}`)
  } else if (tokenPresented && err.status === 401) {
    parts.push('error="invalid_token"', `error_description=${quote(err.message)}`)
  }
  return parts.join(', ')
}
