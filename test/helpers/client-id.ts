import { decodeJwt } from 'jose'
import { expect } from 'vitest'
import { bearer, type TestApp } from './app.ts'

/** The RFC 9068 `client_id` of a token response's access token. */
export const clientIdOf = (res: { json(): { access_token: string } }): unknown => decodeJwt(res.json().access_token).client_id

/** The session's next tokens: a refresh that does not repeat the client still carries it, in the token and in /me/claims. */
export async function expectRefreshKeepsClient(t: TestApp, res: { json(): { refresh_token: string } }, clientId: string | undefined): Promise<void> {
  const next = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: res.json().refresh_token } })
  expect(next.statusCode, next.body).toBe(200)
  expect(clientIdOf(next)).toBe(clientId)
  const claims = await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(next.json().access_token) })
  expect(claims.json().client_id).toBe(clientId)
}
