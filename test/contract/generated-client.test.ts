import createClient from 'openapi-fetch'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { paths } from '../generated/openapi.d.ts'
import { createTestApp, PASSWORD, uniqueEmail, type TestApp } from '../helpers/app.ts'
import { assertMatchesContract } from '../helpers/contract.ts'
import { createMailTestApp, type MailTestApp } from '../helpers/mail.ts'

/**
 * A client generated from openapi.yaml (openapi-typescript types + openapi-fetch) drives a real
 * listening server through the whole flow. `npm test` regenerates the types before type-checking,
 * so a spec change that breaks clients breaks the build.
 */
describe('generated TypeScript client, end to end over HTTP', () => {
  let t: TestApp
  let client: ReturnType<typeof createClient<paths>>

  beforeAll(async () => {
    t = await createTestApp()
    const baseUrl = await t.app.listen({ host: '127.0.0.1', port: 0 })
    client = createClient<paths>({
      baseUrl,
      // every response the client sees is also checked against the spec
      fetch: async (request: Request) => {
        const res = await fetch(request)
        const body = await res.clone().text()
        assertMatchesContract({ method: request.method, url: new URL(request.url).pathname, status: res.status, headers: Object.fromEntries(res.headers), body })
        return res
      },
    })
  })
  afterAll(() => t.close())

  it('register, login, me, claims, refresh, logout — and the typed error cases', async () => {
    const email = uniqueEmail()
    const registered = await client.POST('/auth/register', { body: { email, password: PASSWORD } })
    expect(registered.response.status).toBe(201)
    // Two typed outcomes: tokens (201), or verification_required (202, REQUIRE_VERIFIED_EMAIL=true).
    expect(registered.data && 'token_type' in registered.data ? registered.data.token_type : undefined).toBe('Bearer')

    const taken = await client.POST('/auth/register', { body: { email, password: PASSWORD } })
    expect(taken.error?.code).toBe('email_taken')
    const weak = await client.POST('/auth/register', { body: { email: uniqueEmail(), password: 'password1234' } })
    expect(weak.error?.code).toBe('weak_password')

    const wrong = await client.POST('/auth/login', { body: { email, password: 'not the password!!' } })
    expect(wrong.response.status).toBe(401)
    expect(wrong.error?.code).toBe('invalid_credentials')

    const login = await client.POST('/auth/login', { body: { email, password: PASSWORD } })
    // One operation, two typed outcomes: tokens, or a second factor to complete (no factor here).
    if (!login.data || 'mfa_required' in login.data) throw new Error('expected tokens')
    const tokens = login.data
    const auth = { headers: { authorization: `Bearer ${tokens.access_token}` } }

    const me = await client.GET('/me', auth)
    expect(me.data?.email).toBe(email)
    const claims = await client.GET('/me/claims', auth)
    expect(claims.data?.sub).toBe(me.data?.id)
    const anonymous = await client.GET('/me')
    expect(anonymous.error?.code).toBe('missing_token')

    // refresh_token is optional in the schema (cookie mode leaves it out); body mode always sends it.
    const refreshed = await client.POST('/auth/refresh', { body: { refresh_token: tokens.refresh_token! } })
    expect(refreshed.data?.refresh_token).not.toBe(tokens.refresh_token)

    const logout = await client.POST('/auth/logout', { body: { refresh_token: refreshed.data!.refresh_token! } })
    expect(logout.response.status).toBe(204)
    const after = await client.POST('/auth/refresh', { body: { refresh_token: refreshed.data!.refresh_token! } })
    expect(after.error?.code).toBe('session_revoked')

    const jwks = await client.GET('/.well-known/jwks.json')
    expect(jwks.data?.keys[0]?.alg).toBe('RS256')
  })
})

describe('generated TypeScript client, the mail flows over HTTP', () => {
  let t: MailTestApp
  let client: ReturnType<typeof createClient<paths>>

  beforeAll(async () => {
    t = await createMailTestApp()
    const baseUrl = await t.app.listen({ host: '127.0.0.1', port: 0 })
    client = createClient<paths>({
      baseUrl,
      fetch: async (request: Request) => {
        const res = await fetch(request)
        const body = await res.clone().text()
        assertMatchesContract({ method: request.method, url: new URL(request.url).pathname, status: res.status, headers: Object.fromEntries(res.headers), body })
        return res
      },
    })
  })
  afterAll(() => t.close())

  it('verify, resend, forgot, reset and email change — and their typed error cases', async () => {
    const email = uniqueEmail()
    const registered = await client.POST('/auth/register', { body: { email, password: PASSWORD } })
    const access = registered.data && 'access_token' in registered.data ? registered.data.access_token : ''
    const auth = { headers: { authorization: `Bearer ${access}` } }
    const mailTo = async (address: string, subject: RegExp, count = 1) => (await t.smtp.waitFor((m) => m.to === address && subject.test(m.subject), { count }))[count - 1]!.token!

    expect((await client.POST('/me/email/verify/resend', auth)).response.status).toBe(202)
    const verifyToken = await mailTo(email, /confirm your email/i, 2)
    const verified = await client.POST('/auth/email/verify', { body: { token: verifyToken } })
    expect(verified.data).toEqual({ email, email_verified: true })
    expect((await client.POST('/auth/email/verify', { body: { token: verifyToken } })).error?.code).toBe('link_token_used')
    expect((await client.POST('/me/email/verify/resend', auth)).error?.code).toBe('email_already_verified')

    expect((await client.POST('/auth/password/forgot', { body: { email } })).response.status).toBe(202)
    const resetToken = await mailTo(email, /reset your password/i)
    expect((await client.POST('/auth/email/verify', { body: { token: resetToken } })).error?.code).toBe('link_token_wrong_purpose')
    expect((await client.POST('/auth/password/reset', { body: { token: resetToken, password: 'password1234' } })).error?.code).toBe('weak_password')
    const newPassword = 'a much longer and rarer passphrase'
    expect((await client.POST('/auth/password/reset', { body: { token: resetToken, password: newPassword } })).response.status).toBe(204)

    const login = await client.POST('/auth/login', { body: { email, password: newPassword } })
    const signedIn = { headers: { authorization: `Bearer ${login.data && 'access_token' in login.data ? login.data.access_token : ''}` } }
    const newEmail = uniqueEmail()
    const wrong = await client.PUT('/me/email', { ...signedIn, body: { current_password: PASSWORD, new_email: newEmail } })
    expect(wrong.response.status).toBe(403)
    expect(wrong.error?.code).toBe('invalid_current_password')
    expect((await client.PUT('/me/email', { ...signedIn, body: { current_password: newPassword, new_email: newEmail } })).response.status).toBe(202)
    const changed = await client.POST('/auth/email/verify', { body: { token: await mailTo(newEmail, /confirm your new email/i) } })
    expect(changed.data).toEqual({ email: newEmail, email_verified: true })
  })
})
