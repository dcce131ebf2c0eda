import { createAuthJson } from './auth-json.ts'
import { asTokenResponse, type Http } from './http.ts'
import type { SessionManager } from './session-manager.ts'
import type { PasskeyView } from './types.ts'

/**
 * Passkeys without a WebAuthn dependency: the app passes the browser step, e.g. @simplewebauthn/
 * browser's `(optionsJSON) => startRegistration({ optionsJSON })` / `startAuthentication`.
 */
export type WebauthnStep = (optionsJSON: never) => Promise<unknown>

export function createPasskeysApi(http: Http, manager: SessionManager) {
  const authJson = createAuthJson(manager)

  return {
    /** POST /auth/passkeys/login/options then /verify: signs in with a passkey (`email` for email-first). */
    signInWithPasskey: (authenticate: WebauthnStep, email?: string) =>
      manager.signIn(async () => {
        const options = (await http.call('POST', '/auth/passkeys/login/options', email === undefined ? {} : { email })).json
        const response = await authenticate(options as never)
        return asTokenResponse((await http.token('/auth/passkeys/login/verify', { response })).json)
      }),
    /** POST /me/passkeys/register/options then /verify: adds a passkey to the signed-in account. */
    async registerPasskey(register: WebauthnStep, name?: string): Promise<PasskeyView> {
      const options = await authJson<unknown>('POST', '/me/passkeys/register/options', {})
      const response = await register(options as never)
      return authJson<PasskeyView>('POST', '/me/passkeys/register/verify', name === undefined ? { response } : { response, name })
    },
    /** GET /me/passkeys. */
    listPasskeys: async () => (await authJson<{ passkeys: PasskeyView[] }>('GET', '/me/passkeys')).passkeys,
    /** PATCH /me/passkeys/{id}. */
    renamePasskey: (id: string, name: string) => authJson<PasskeyView>('PATCH', `/me/passkeys/${encodeURIComponent(id)}`, { name }),
    /** DELETE /me/passkeys/{id}. */
    deletePasskey: (id: string) => authJson<null>('DELETE', `/me/passkeys/${encodeURIComponent(id)}`),
  }
}
