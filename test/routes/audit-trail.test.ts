import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { AuditEventType } from '../../src/store/store.ts'
import { bearer, createAdmin, createTestApp, loginAs, PASSWORD, registerUser, type TestApp } from '../helpers/app.ts'

describe('the audit trail', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp()
  })
  afterEach(() => t.close())

  it('records every security event with time, user, session, IP, user agent and request id, and never a secret', async () => {
    const secrets: string[] = [PASSWORD]
    const ua = { 'user-agent': 'AuditTest/1.0' }
    const admin = await createAdmin(t)
    const user = await registerUser(t, undefined, ua)
    secrets.push(user.access_token, user.refresh_token)
    const userId = (await t.inject({ method: 'GET', url: '/me', headers: bearer(user.access_token) })).json().id as string

    const failed = await t.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: 'a wrong password guess' }, headers: ua })
    expect(failed.statusCode).toBe(401)
    secrets.push('a wrong password guess')
    const phone = await loginAs(t, user.email, 'AuditTest/1.0')
    secrets.push(phone.access_token, phone.refresh_token)
    const refreshed = (await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: phone.refresh_token }, headers: ua })).json()
    secrets.push(refreshed.access_token, refreshed.refresh_token)
    t.clock.advance(60_000)
    await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: phone.refresh_token }, headers: ua })
    const tablet = await loginAs(t, user.email, 'AuditTest/1.0')
    secrets.push(tablet.refresh_token)
    await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: tablet.refresh_token }, headers: ua })
    const laptop = await loginAs(t, user.email, 'AuditTest/1.0')
    const newPassword = 'another long and unusual passphrase'
    secrets.push(newPassword, laptop.refresh_token)
    const wrong = { current_password: 'still not the password', new_password: newPassword }
    secrets.push(wrong.current_password)
    await t.inject({ method: 'PUT', url: '/me/password', headers: { ...bearer(user.access_token), ...ua }, payload: wrong })
    await t.inject({ method: 'PUT', url: '/me/password', headers: { ...bearer(user.access_token), ...ua }, payload: { current_password: PASSWORD, new_password: newPassword } })
    const device = await t.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: newPassword }, headers: ua })
    const deviceId = (await t.inject({ method: 'GET', url: '/me/sessions', headers: bearer(user.access_token) })).json().sessions.find((s: { current: boolean }) => !s.current).id
    await t.inject({ method: 'DELETE', url: `/me/sessions/${deviceId}`, headers: { ...bearer(user.access_token), ...ua } })
    secrets.push(device.json().refresh_token)
    await t.inject({ method: 'POST', url: `/admin/users/${userId}/disable`, headers: { ...bearer(admin.access_token), ...ua } })
    await t.inject({ method: 'POST', url: `/admin/users/${userId}/enable`, headers: { ...bearer(admin.access_token), ...ua } })

    const events = (await t.store.listAudit({ userId, limit: 100 })).reverse()
    const types = new Set(events.map((e) => e.type))
    const expected: AuditEventType[] = [
      'register',
      'login_succeeded',
      'login_failed',
      'refresh',
      'refresh_reuse_detected',
      'logout',
      'session_revoked',
      'password_change_failed',
      'password_changed',
      'account_disabled',
      'account_enabled',
    ]
    for (const type of expected) expect(types, type).toContain(type)
    for (const e of events) {
      expect(e, e.type).toMatchObject({ userId, ip: '127.0.0.1', userAgent: 'AuditTest/1.0' })
      expect(e.requestId, e.type).toMatch(/^[0-9a-f-]{36}$/)
      expect(e.at, e.type).toBeGreaterThan(0)
      // Every event about a session names it; only failures before a session exists and account-wide events do not.
      if (!['login_failed', 'account_disabled', 'account_enabled'].includes(e.type)) expect(e.sessionId, e.type).toMatch(/^[0-9a-f-]{36}$/)
    }
    const dump = JSON.stringify(await t.store.listAudit({ limit: 1000 }))
    for (const secret of secrets) expect(dump).not.toContain(secret)
  })
})
