import { createAuthJson } from './auth-json.ts'
import type { Http } from './http.ts'
import { asTokenResponse } from './http.ts'
import type { SessionManager } from './session-manager.ts'

/** The second factor (TOTP) of the signed-in user, and step-up (RFC 9470). */
export function createMfaApi(http: Http, manager: SessionManager) {
  const authJson = createAuthJson(manager)

  return {
    /** POST /me/mfa/totp: a new secret, its otpauth:// URI and a QR code (PNG data URL) to show. */
    startTotpEnrolment: () => authJson<{ secret: string; otpauth_uri: string; qr_code: string }>('POST', '/me/mfa/totp'),
    /** POST /me/mfa/totp/confirm: the first code turns TOTP on; resolves the 10 recovery codes (shown once). */
    confirmTotp: async (code: string) => (await authJson<{ recovery_codes: string[] }>('POST', '/me/mfa/totp/confirm', { code })).recovery_codes,
    /** DELETE /me/mfa/totp: needs a recent two-factor sign-in (else `insufficient_user_authentication`: call stepUp). */
    removeTotp: () => authJson<null>('DELETE', '/me/mfa/totp'),
    /** POST /auth/step-up: password and/or code (or recovery code); the session continues with fresh, stronger tokens. */
    stepUp: (proof: { password?: string; code?: string; recoveryCode?: string }) =>
      manager.signIn(async () => {
        const session = manager.session
        if (!session) throw new Error('stepUp needs a signed-in session')
        const body: Record<string, string> = {}
        if (proof.password !== undefined) body.password = proof.password
        if (proof.code !== undefined) body.code = proof.code
        if (proof.recoveryCode !== undefined) body.recovery_code = proof.recoveryCode
        // A DPoP-bound token goes with a proof of its key whose ath hashes it (Authorization: DPoP, set by the signer).
        if (http.dpop && session.tokenType.toLowerCase() === 'dpop') return asTokenResponse((await http.token('/auth/step-up', body, {}, session.accessToken)).json)
        return asTokenResponse((await http.token('/auth/step-up', body, { Authorization: `${session.tokenType} ${session.accessToken}` })).json)
      }),
  }
}
