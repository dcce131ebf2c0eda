/**
 * `signIn` of an account with a second factor: the password was right, no session yet. Complete it
 * with `client.completeMfaSignIn(err.mfaToken, { code })` (or `{ recoveryCode }`) before `expiresIn`.
 */
export class MfaRequiredError extends Error {
  override readonly name = 'MfaRequiredError'
  readonly mfaToken: string
  readonly methods: string[]
  /** Seconds the challenge stays valid. */
  readonly expiresIn: number

  constructor(mfaToken: string, methods: string[], expiresIn: number) {
    super('a second factor is required to complete the sign-in')
    this.mfaToken = mfaToken
    this.methods = methods
    this.expiresIn = expiresIn
  }
}

/** Throws MfaRequiredError when a sign-in answer is a second-factor challenge instead of tokens. */
export function throwIfMfaRequired(json: unknown): unknown {
  const j = json as { mfa_required?: unknown; mfa_token?: unknown; methods?: unknown; expires_in?: unknown } | null
  if (j && j.mfa_required === true && typeof j.mfa_token === 'string') {
    throw new MfaRequiredError(j.mfa_token, Array.isArray(j.methods) ? j.methods.map(String) : [], typeof j.expires_in === 'number' ? j.expires_in : 0)
  }
  return json
}
