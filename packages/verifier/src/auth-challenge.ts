import { isDpopProblem } from './dpop-proof.ts'
import { StepUpError, type ProblemError } from './problem.ts'

/** How a request presented its access token: `Authorization: Bearer …`, `Authorization: DPoP …`, or not at all. */
export type PresentedScheme = 'bearer' | 'dpop' | null

/** What every 401/403 challenge of one app says: its realm, and the DPoP proof algorithms when DPoP is accepted. */
export interface ChallengeOptions {
  realm: string
  /** Set when the app accepts DPoP: each 401/403 then also carries a `DPoP algs="…"` challenge (RFC 9449 §7.1). */
  dpopAlgs?: readonly string[]
}

function quote(value: string): string {
  // RFC 6750 §3: error_description is limited to %x20-21 / %x23-5B / %x5D-7E. Anything else is
  // dropped, so no input can make the header invalid (Node refuses to send it: a 500).
  return `"${value.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '')}"`
}

/** The error parameters of a challenge, or none when this scheme is not the one at fault. */
function errorParams(err: ProblemError, requiredScopes: readonly string[]): string[] {
  if (err.code === 'insufficient_scope') {
    const params = ['error="insufficient_scope"', `error_description=${quote(err.message)}`]
    if (requiredScopes.length) params.push(`scope=${quote(requiredScopes.join(' '))}`)
    return params
  }
  if (err instanceof StepUpError) {
    // RFC 9470 §3: acr_values and max_age tell the client what sign-in to come back with.
    const params = ['error="insufficient_user_authentication"', `error_description=${quote(err.message)}`]
    if (err.acrValues !== undefined) params.push(`acr_values=${quote(err.acrValues)}`)
    if (err.maxAge !== undefined) params.push(`max_age=${Math.trunc(err.maxAge)}`)
    return params
  }
  const code = isDpopProblem(err) ? err.code : 'invalid_token'
  return [`error="${code}"`, `error_description=${quote(err.message)}`]
}

/**
 * The WWW-Authenticate value for a 401 or 403 (RFC 6750 §3, RFC 9449 §7.1): a Bearer challenge, and
 * a DPoP one where DPoP is accepted. The error goes with the scheme the request used — or with DPoP
 * when the proof was at fault; a request that presented no token gets bare challenges.
 */
export function authChallenge(options: ChallengeOptions, err: ProblemError, presented: PresentedScheme, requiredScopes: readonly string[] = []): string {
  const proofError = isDpopProblem(err)
  const tokenError = err.code === 'insufficient_scope' || (err.status === 401 && presented !== null)
  const bearer = [`Bearer realm=${quote(options.realm)}`]
  if (presented === 'bearer' && tokenError && !proofError) bearer.push(...errorParams(err, requiredScopes))
  if (!options.dpopAlgs) return bearer.join(', ')
  const dpop = [`DPoP realm=${quote(options.realm)}`]
  if (proofError || (presented === 'dpop' && tokenError)) dpop.push(...errorParams(err, requiredScopes))
  dpop.push(`algs="${options.dpopAlgs.join(' ')}"`)
  return `${bearer.join(', ')}, ${dpop.join(', ')}`
}
