import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Store } from '../../src/store/store.ts'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import { bearer, PASSWORD, registerUser, uniqueEmail } from '../helpers/app.ts'
import { createMailTestApp, MAIL_BASE, type MailTestApp } from '../helpers/mail.ts'
import { freshPostgresStore } from '../helpers/pg-schema.ts'
import type { ReceivedMail } from '../helpers/smtp.ts'

const NEW_PASSWORD = 'a much longer and rarer passphrase'
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>

/** Every mail flow, end to end through the outbox, nodemailer and a real SMTP server, on one store kind. */
function mailFlows(name: string, open: () => Promise<{ store: Store; dispose(): Promise<void> }>) {
  describe(`mail flows (${name})`, () => {
    let t: MailTestApp
    let dispose: () => Promise<void>
    beforeAll(async () => {
      const opened = await open()
      dispose = opened.dispose
      t = await createMailTestApp({ store: opened.store })
    })
    afterAll(async () => {
      await t.close()
      await dispose()
    })

    const to = (email: string, subject: RegExp) => (m: ReceivedMail) => m.to === email && subject.test(m.subject)
    const verify = (token: string | undefined) => t.inject({ method: 'POST', url: '/auth/email/verify', payload: { token } })
    const reset = (token: string | undefined, password = NEW_PASSWORD) => t.inject({ method: 'POST', url: '/auth/password/reset', payload: { token, password } })

    it('registration mails a verification link under PUBLIC_URL that verifies the address once', async () => {
      const user = await registerUser(t)
      expect(claimsOf(user.access_token).email_verified).toBe(false)
      const [mail] = await t.smtp.waitFor(to(user.email, /confirm your email/i))
      expect(mail!.link).toMatch(new RegExp(`^${MAIL_BASE}/verify-email\\?token=lkt_[A-Za-z0-9_-]{43}$`))
      expect(mail!.html).toContain(mail!.link!.replace(/&/g, '&amp;'))
      expect(mail!.from).toContain('no-reply@auth.example.test')
      expect((await t.inject({ method: 'GET', url: '/me', headers: bearer(user.access_token) })).json().email_verified).toBe(false)

      const ok = await verify(mail!.token)
      expect(ok.statusCode).toBe(200)
      expect(ok.json()).toEqual({ email: user.email, email_verified: true })
      expect((await t.inject({ method: 'GET', url: '/me', headers: bearer(user.access_token) })).json().email_verified).toBe(true)
      const refreshed = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.refresh_token } })
      expect(claimsOf(refreshed.json().access_token).email_verified).toBe(true)

      const again = await verify(mail!.token)
      expect(again.statusCode).toBe(400)
      expect(again.json().code).toBe('link_token_used')
    })

    it('resend mails a new link and the old one stops working; a verified address is a 409', async () => {
      const user = await registerUser(t)
      const [first] = await t.smtp.waitFor(to(user.email, /confirm your email/i))
      const res = await t.inject({ method: 'POST', url: '/me/email/verify/resend', headers: bearer(user.access_token) })
      expect(res.statusCode).toBe(202)
      const both = await t.smtp.waitFor(to(user.email, /confirm your email/i), { count: 2 })
      expect(both[1]!.token).not.toBe(first!.token)
      expect((await verify(first!.token)).json().code).toBe('link_token_invalid')
      expect((await verify(both[1]!.token)).statusCode).toBe(200)
      const verified = await t.inject({ method: 'POST', url: '/me/email/verify/resend', headers: bearer(user.access_token) })
      expect(verified.statusCode).toBe(409)
      expect(verified.json().code).toBe('email_already_verified')
    })

    it('forgot → reset: new password, every session revoked, email verified, a notice mailed, the link single-use', async () => {
      const user = await registerUser(t)
      const other = await t.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } })
      const forgot = await t.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email: user.email.toUpperCase() } })
      expect(forgot.statusCode).toBe(202)
      expect(forgot.body).toBe('')
      const [mail] = await t.smtp.waitFor(to(user.email, /reset your password/i))
      expect(mail!.link).toMatch(new RegExp(`^${MAIL_BASE}/reset-password\\?token=lkt_`))
      expect(mail!.text).toContain('30 minutes')

      const weak = await reset(mail!.token, 'password1234')
      expect(weak.statusCode).toBe(422)
      expect(weak.json().code).toBe('weak_password')
      // A reset token presented to the verify route is refused for what it is, and stays usable.
      expect((await verify(mail!.token)).json().code).toBe('link_token_wrong_purpose')

      expect((await reset(mail!.token)).statusCode).toBe(204)
      expect((await reset(mail!.token)).json().code).toBe('link_token_used')
      for (const refresh_token of [user.refresh_token, other.json().refresh_token]) {
        const r = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token } })
        expect(r.json().code).toBe('session_revoked')
      }
      expect((await t.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } })).statusCode).toBe(401)
      const login = await t.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: NEW_PASSWORD } })
      expect(login.statusCode).toBe(200)
      expect(claimsOf(login.json().access_token).email_verified).toBe(true)
      await t.smtp.waitFor(to(user.email, /password was reset/i))
      const types = (await t.store.listAudit({ userId: (await t.store.findUserByEmail(user.email))!.id, limit: 50 })).map((e) => e.type)
      expect(types).toEqual(expect.arrayContaining(['password_reset_requested', 'password_reset', 'session_revoked']))
    })

    it('forgot for an unknown address mails nothing and answers exactly the same', async () => {
      const before = t.smtp.received.length
      const res = await t.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email: 'nobody-here@example.com' } })
      expect(res.statusCode).toBe(202)
      // Give a would-be message every chance to arrive.
      await new Promise((r) => setTimeout(r, 300))
      await t.drainer.drainOnce()
      expect(t.smtp.received.slice(before).filter((m) => m.to === 'nobody-here@example.com')).toEqual([])
    })

    it('a reset link expires, and a password change kills an unused one', async () => {
      const user = await registerUser(t)
      await t.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email: user.email } })
      const [first] = await t.smtp.waitFor(to(user.email, /reset your password/i))
      t.clock.advance(30 * 60_000)
      expect((await reset(first!.token)).json().code).toBe('link_token_expired')
      t.clock.advance(-30 * 60_000)

      await t.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email: user.email } })
      const [, second] = await t.smtp.waitFor(to(user.email, /reset your password/i), { count: 2 })
      const changed = await t.inject({ method: 'PUT', url: '/me/password', headers: bearer(user.access_token), payload: { current_password: PASSWORD, new_password: NEW_PASSWORD } })
      expect(changed.statusCode).toBe(204)
      expect((await reset(second!.token, 'yet another good passphrase')).json().code).toBe('link_token_invalid')
    })

    it('email change: confirmation to the new address, notice to the old; the address moves only when confirmed', async () => {
      const user = await registerUser(t)
      const newEmail = uniqueEmail()
      const wrong = await t.inject({ method: 'PUT', url: '/me/email', headers: bearer(user.access_token), payload: { current_password: 'not my password!!', new_email: newEmail } })
      expect(wrong.statusCode).toBe(403)
      expect(wrong.json().code).toBe('invalid_current_password')
      expect(wrong.headers['www-authenticate']).toBeUndefined()

      const res = await t.inject({ method: 'PUT', url: '/me/email', headers: bearer(user.access_token), payload: { current_password: PASSWORD, new_email: newEmail } })
      expect(res.statusCode).toBe(202)
      const [confirm] = await t.smtp.waitFor(to(newEmail, /confirm your new email/i))
      await t.smtp.waitFor(to(user.email, /change of your email/i))
      expect((await t.inject({ method: 'GET', url: '/me', headers: bearer(user.access_token) })).json().email).toBe(user.email)

      const done = await verify(confirm!.token)
      expect(done.json()).toEqual({ email: newEmail, email_verified: true })
      expect((await t.inject({ method: 'GET', url: '/me', headers: bearer(user.access_token) })).json().email).toBe(newEmail)
      expect((await t.inject({ method: 'POST', url: '/auth/login', payload: { email: newEmail, password: PASSWORD } })).statusCode).toBe(200)
      expect((await t.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } })).statusCode).toBe(401)
    })

    it('email change to an address another account has: the same 202, a notice to the old address, no link anywhere', async () => {
      const user = await registerUser(t)
      const taken = await registerUser(t)
      const before = t.smtp.received.length
      const res = await t.inject({ method: 'PUT', url: '/me/email', headers: bearer(user.access_token), payload: { current_password: PASSWORD, new_email: taken.email } })
      expect(res.statusCode).toBe(202)
      expect(res.body).toBe('')
      await t.smtp.waitFor(to(user.email, /change of your email/i))
      await t.drainer.drainOnce()
      expect(t.smtp.received.slice(before).filter((m) => m.to === taken.email && /new email/i.test(m.subject))).toEqual([])
    })

    it('every message was delivered exactly once (Message-IDs are unique at the SMTP server)', () => {
      const ids = t.smtp.received.map((m) => m.messageId)
      expect(ids.length).toBeGreaterThan(10)
      expect(new Set(ids).size).toBe(ids.length)
    })
  })
}

mailFlows('sqlite', async () => {
  const store = createSqliteStore({ path: ':memory:' })
  return { store, dispose: async () => undefined }
})

const databaseUrl = process.env.TEST_DATABASE_URL
if (databaseUrl) {
  mailFlows('postgres', async () => {
    const { store, dispose } = await freshPostgresStore(databaseUrl)
    return { store, dispose }
  })
} else {
  describe.skip('mail flows (postgres: set TEST_DATABASE_URL to run)', () => {
    it('runs every mail flow on PostgreSQL', () => {})
  })
}
