import { createAuthJson } from './auth-json.ts'
import type { Http } from './http.ts'
import type { SessionManager } from './session-manager.ts'
import type { Me, SessionView } from './types.ts'

/** The signed-in user's own resources (/me/…) and the public mail-link flows (/auth/…). */
export function createAccountApi(http: Http, manager: SessionManager) {
  const authJson = createAuthJson(manager)

  return {
    /** GET /me. */
    me: () => authJson<Me>('GET', '/me'),
    /** GET /me/sessions: every device signed in to this account; `current` marks this one. */
    listSessions: async () => (await authJson<{ sessions: SessionView[] }>('GET', '/me/sessions')).sessions,
    /** DELETE /me/sessions/{id}. */
    revokeSession: (id: string) => authJson<null>('DELETE', `/me/sessions/${encodeURIComponent(id)}`),
    /** PUT /me/password: every other session is revoked; this one stays signed in. */
    changePassword: (currentPassword: string, newPassword: string) =>
      authJson<null>('PUT', '/me/password', { current_password: currentPassword, new_password: newPassword }),
    /** PUT /me/email: mails a confirmation link to the new address (confirmed with verifyEmail). */
    changeEmail: (currentPassword: string, newEmail: string) => authJson<null>('PUT', '/me/email', { current_password: currentPassword, new_email: newEmail }),
    /** POST /me/email/verify/resend: a new verification link for the signed-in user's address. */
    resendVerification: () => authJson<null>('POST', '/me/email/verify/resend'),
    /** POST /auth/email/verify with the `token` of a mailed link (verification or email change). */
    verifyEmail: async (token: string) => (await http.call('POST', '/auth/email/verify', { token })).json as { email: string; email_verified: boolean },
    /** POST /auth/password/forgot: always accepted, whether or not the address has an account. */
    forgotPassword: async (email: string) => void (await http.call('POST', '/auth/password/forgot', { email })),
    /** POST /auth/password/reset with the `token` of a mailed link; signs every session out. */
    resetPassword: async (token: string, password: string) => void (await http.call('POST', '/auth/password/reset', { token, password })),
  }
}
