import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, PASSWORD, registerUser, T0, uniqueEmail, type TestApp } from '../helpers/app.ts'
import { sharedTestKey } from '../helpers/keys.ts'
import { createMailTestApp, type MailTestApp } from '../helpers/mail.ts'
import { forgeRs256 } from '../helpers/tokens.ts'

const PUBLIC_ROUTES = ['/auth/email/verify', '/auth/password/forgot', '/auth/password/reset']

describe('every documented error of the mail routes', () => {
  let t: MailTestApp
  beforeAll(async () => {
    t = await createMailTestApp()
  })
  afterAll(() => t.close())

  it('the public mail routes answer 400, 413 and 415 problems', async () => {
    for (const url of PUBLIC_ROUTES) {
      const bad = await t.inject({ method: 'POST', url, payload: { unexpected: true } })
      expect(bad.statusCode, url).toBe(400)
      expect(bad.json().code).toBe('validation_failed')
      const big = await t.inject({ method: 'POST', url, payload: { token: 'x'.repeat(20_000) } })
      expect(big.statusCode, url).toBe(413)
      const text = await t.inject({ method: 'POST', url, payload: 'hello', headers: { 'content-type': 'text/plain' } })
      expect(text.statusCode, url).toBe(415)
    }
  })

  it('PUT /me/email answers 400, 413, 415 and 401 problems', async () => {
    const { access_token } = await registerUser(t)
    const put = (payload: unknown, headers: Record<string, string> = {}) =>
      t.inject({ method: 'PUT', url: '/me/email', headers: { ...bearer(access_token), ...headers }, payload: payload as string })
    expect((await put({ current_password: PASSWORD, new_email: 'not an email' })).json().code).toBe('validation_failed')
    expect((await put({ current_password: PASSWORD, new_email: 'x'.repeat(20_000) })).statusCode).toBe(413)
    expect((await put('hello', { 'content-type': 'text/plain' })).statusCode).toBe(415)
    const anonymous = await t.inject({ method: 'PUT', url: '/me/email', payload: { current_password: PASSWORD, new_email: uniqueEmail() } })
    expect(anonymous.statusCode).toBe(401)
    expect((await t.inject({ method: 'POST', url: '/me/email/verify/resend' })).statusCode).toBe(401)
  })

  it('a malformed, unknown, or non-string token is link_token_invalid / validation_failed, never a 500', async () => {
    for (const token of ['lkt_short', `lkt_${'A'.repeat(43)}`, 'lkr_' + 'A'.repeat(43), '../../etc/passwd']) {
      for (const url of ['/auth/email/verify', '/auth/password/reset']) {
        const res = await t.inject({ method: 'POST', url, payload: { token, ...(url.includes('reset') ? { password: 'a much longer and rarer passphrase' } : {}) } })
        expect(res.statusCode, `${url} ${token}`).toBe(400)
        expect(res.json().code).toBe('link_token_invalid')
      }
    }
    const wrongType = await t.inject({ method: 'POST', url: '/auth/email/verify', payload: { token: 42 } })
    expect(wrongType.json().code).toBe('validation_failed')
  })

  it('a link of a disabled account is 403 account_disabled, on verify and on reset', async () => {
    const user = await registerUser(t)
    const [verifyMail] = await t.smtp.waitFor((m) => m.to === user.email)
    await t.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email: user.email } })
    const [resetMail] = await t.smtp.waitFor((m) => m.to === user.email && /reset/i.test(m.subject))
    await t.store.setUserDisabled((await t.store.findUserByEmail(user.email))!.id, T0)
    for (const [url, token] of [['/auth/email/verify', verifyMail!.token], ['/auth/password/reset', resetMail!.token]] as const) {
      const res = await t.inject({ method: 'POST', url, payload: { token, ...(url.includes('reset') ? { password: 'a much longer and rarer passphrase' } : {}) } })
      expect(res.statusCode, url).toBe(403)
      expect(res.json().code).toBe('account_disabled')
    }
  })

  it('confirming an email change whose address was taken meanwhile is 409 email_taken, and changes nothing', async () => {
    const user = await registerUser(t)
    const target = uniqueEmail()
    await t.inject({ method: 'PUT', url: '/me/email', headers: bearer(user.access_token), payload: { current_password: PASSWORD, new_email: target } })
    const [confirm] = await t.smtp.waitFor((m) => m.to === target)
    await registerUser(t, target)
    const res = await t.inject({ method: 'POST', url: '/auth/email/verify', payload: { token: confirm!.token } })
    expect(res.statusCode).toBe(409)
    expect(res.json().code).toBe('email_taken')
    expect((await t.inject({ method: 'GET', url: '/me', headers: bearer(user.access_token) })).json().email).toBe(user.email)
  })

  it('resend and email change for a valid token whose user no longer exists are 404', async () => {
    const key = await sharedTestKey()
    const now = T0 / 1000
    const token = forgeRs256(
      { alg: 'RS256', typ: 'at+jwt', kid: key.kid },
      { iss: t.config.issuer, aud: t.config.audience, sub: randomUUID(), sid: randomUUID(), jti: randomUUID(), scope: 'user', iat: now, nbf: now, exp: now + 600 },
      key.privateKey,
    )
    const resend = await t.inject({ method: 'POST', url: '/me/email/verify/resend', headers: bearer(token) })
    expect(resend.statusCode).toBe(404)
    expect(resend.json().code).toBe('not_found')
  })

  it('PUT /me/email of a user that no longer exists is 404 (its session is live)', async () => {
    const user = await registerUser(t)
    const id = (await t.store.findUserByEmail(user.email))!.id
    // The store has no delete: a token whose subject is unknown but whose session is live (so the
    // revocation check passes) stands for an account removed while signed in.
    const key = await sharedTestKey()
    const now = T0 / 1000
    const claims = JSON.parse(Buffer.from(user.access_token.split('.')[1]!, 'base64url').toString()) as { sid: string }
    const token = forgeRs256(
      { alg: 'RS256', typ: 'at+jwt', kid: key.kid },
      { iss: t.config.issuer, aud: t.config.audience, sub: `${id}-gone`, sid: claims.sid, jti: randomUUID(), scope: 'user', iat: now, nbf: now, exp: now + 600 },
      key.privateKey,
    )
    const res = await t.inject({ method: 'PUT', url: '/me/email', headers: bearer(token), payload: { current_password: PASSWORD, new_email: uniqueEmail() } })
    expect(res.statusCode).toBe(404)
  })
})

describe('REQUIRE_VERIFIED_EMAIL=true', () => {
  let t: MailTestApp
  beforeAll(async () => {
    t = await createMailTestApp({ env: { REQUIRE_VERIFIED_EMAIL: 'true' } })
  })
  afterAll(() => t.close())

  it('register answers 202 without tokens; login is 403 email_not_verified and mails a new link; once verified, login works', async () => {
    const email = uniqueEmail()
    const reg = await t.inject({ method: 'POST', url: '/auth/register', payload: { email, password: PASSWORD } })
    expect(reg.statusCode).toBe(202)
    expect(reg.json()).toEqual({ verification_required: true })
    const [first] = await t.smtp.waitFor((m) => m.to === email)

    const refused = await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD } })
    expect(refused.statusCode).toBe(403)
    expect(refused.json().code).toBe('email_not_verified')
    // A wrong password learns nothing and mails nothing.
    expect((await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'not the password!!' } })).statusCode).toBe(401)
    const [, second] = await t.smtp.waitFor((m) => m.to === email, { count: 2 })
    await t.drainer.drainOnce()
    expect(t.smtp.received.filter((m) => m.to === email)).toHaveLength(2)
    expect((await t.inject({ method: 'POST', url: '/auth/email/verify', payload: { token: first!.token } })).json().code).toBe('link_token_invalid')

    expect((await t.inject({ method: 'POST', url: '/auth/email/verify', payload: { token: second!.token } })).statusCode).toBe(200)
    const login = await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD } })
    expect(login.statusCode).toBe(200)
  })
})

describe('mail abuse limits', () => {
  let t: TestApp | undefined
  afterEach(async () => {
    await t?.close()
    t = undefined
  })

  it('forgot is limited per address (every spelling) and per IP, over the mail window', async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAIL_PER_ADDRESS: '2', RATE_LIMIT_MAIL_PER_IP: '4', RATE_LIMIT_MAIL_WINDOW: '3600' } })
    const forgot = (email: string, ip: string) => t!.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email }, remoteAddress: ip })
    const victim = uniqueEmail()
    expect((await forgot(victim, '10.9.0.1')).statusCode).toBe(202)
    expect((await forgot(victim.toUpperCase(), '10.9.0.2')).statusCode).toBe(202)
    const limited = await forgot(victim, '10.9.0.3')
    expect(limited.statusCode).toBe(429)
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(60)

    for (let i = 0; i < 4; i++) expect((await forgot(uniqueEmail(), '10.9.1.1')).statusCode).toBe(202)
    expect((await forgot(uniqueEmail(), '10.9.1.1')).statusCode).toBe(429)
  })

  it('resend and email change are limited per account and per new address', async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAIL_PER_ADDRESS: '2' } })
    const user = await registerUser(t)
    const resend = () => t!.inject({ method: 'POST', url: '/me/email/verify/resend', headers: bearer(user.access_token) })
    expect((await resend()).statusCode).toBe(202)
    expect((await resend()).statusCode).toBe(202)
    expect((await resend()).statusCode).toBe(429)

    const other = await registerUser(t)
    const change = (token: string, newEmail: string) =>
      t!.inject({ method: 'PUT', url: '/me/email', headers: bearer(token), payload: { current_password: PASSWORD, new_email: newEmail } })
    const target = uniqueEmail()
    expect((await change(other.access_token, target)).statusCode).toBe(202)
    const third = await registerUser(t)
    expect((await change(third.access_token, target)).statusCode).toBe(202)
    const fourth = await registerUser(t)
    expect((await change(fourth.access_token, target)).statusCode).toBe(429)
  })

  it('link tokens are limited per IP', async () => {
    t = await createTestApp({ env: { RATE_LIMIT_LOGIN_PER_IP: '2' } })
    const verify = () => t!.inject({ method: 'POST', url: '/auth/email/verify', payload: { token: `lkt_${'B'.repeat(43)}` }, remoteAddress: '10.8.0.1' })
    const reset = () => t!.inject({ method: 'POST', url: '/auth/password/reset', payload: { token: `lkt_${'B'.repeat(43)}`, password: 'a much longer and rarer passphrase' }, remoteAddress: '10.8.0.1' })
    expect((await verify()).statusCode).toBe(400)
    expect((await reset()).statusCode).toBe(400)
    expect((await verify()).statusCode).toBe(429)
    expect((await reset()).statusCode).toBe(429)
  })
})
