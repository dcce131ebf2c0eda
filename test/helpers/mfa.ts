import { expect } from 'vitest'
import { bearer, PASSWORD, registerUser, type TestApp } from './app.ts'
import { totpAt } from './totp.ts'

export const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>

/** Registers a user and enrols TOTP through the API; returns the secret and the recovery codes. */
export async function userWithTotp(t: TestApp) {
  const user = await registerUser(t)
  const begun = await t.inject({ method: 'POST', url: '/me/mfa/totp', headers: bearer(user.access_token) })
  expect(begun.statusCode).toBe(200)
  const secret = begun.json().secret as string
  const confirmed = await t.inject({ method: 'POST', url: '/me/mfa/totp/confirm', headers: bearer(user.access_token), payload: { code: totpAt(secret, t.clock.now()) } })
  expect(confirmed.statusCode).toBe(200)
  return { ...user, secret, recoveryCodes: confirmed.json().recovery_codes as string[] }
}

/** POST /auth/login for an account with a factor: the challenge. */
export async function passwordStep(t: TestApp, email: string): Promise<string> {
  const res = await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD } })
  expect(res.statusCode).toBe(200)
  expect(res.json().mfa_required).toBe(true)
  return res.json().mfa_token as string
}

export function secondStep(t: TestApp, challenge: string, proof: { code: string } | { recovery_code: string }, headers: Record<string, string> = {}) {
  return t.inject({ method: 'POST', url: '/auth/login/mfa', payload: { challenge, ...proof }, headers })
}
