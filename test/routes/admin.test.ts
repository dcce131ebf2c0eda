import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createAdmin, createTestApp, PASSWORD, registerUser, type TestApp } from '../helpers/app.ts'

interface AuditEventJson {
  seq: number
  type: string
  user_id: string | null
  actor_id: string | null
  session_id: string | null
  request_id: string | null
}

describe('admin routes', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp()
  })
  afterEach(() => t.close())

  const get = (url: string, token: string) => t.inject({ method: 'GET', url, headers: bearer(token) })
  const post = (url: string, token: string) => t.inject({ method: 'POST', url, headers: bearer(token) })

  it('refuses a token without scope admin with 403 and error="insufficient_scope" on every admin route', async () => {
    const user = await registerUser(t)
    const id = randomUUID()
    for (const [method, url] of [
      ['GET', '/admin/users'],
      ['POST', `/admin/users/${id}/disable`],
      ['POST', `/admin/users/${id}/enable`],
      ['GET', '/admin/audit'],
    ] as const) {
      const res = await t.inject({ method, url, headers: bearer(user.access_token) })
      expect(res.statusCode, url).toBe(403)
      expect(res.json().code).toBe('insufficient_scope')
      expect(res.headers['www-authenticate']).toMatch(/error="insufficient_scope".*scope="admin"/)
    }
    expect((await t.inject({ method: 'GET', url: '/admin/users' })).statusCode).toBe(401)
  })

  it('pages through users by email with an email-prefix filter', async () => {
    const admin = await createAdmin(t, 'root@admin.test')
    for (const name of ['carol', 'alice', 'bob', 'alan', 'al_x']) await registerUser(t, `${name}@example.com`)

    const seen: string[] = []
    let cursor: string | null = null
    do {
      const url: string = `/admin/users?limit=2${cursor ? `&cursor=${cursor}` : ''}`
      const res = await get(url, admin.access_token)
      expect(res.statusCode).toBe(200)
      const body = res.json() as { users: Array<{ email: string; disabled_at: string | null; scope: string }>; next_cursor: string | null }
      expect(body.users.length).toBeLessThanOrEqual(2)
      seen.push(...body.users.map((u) => u.email))
      cursor = body.next_cursor
    } while (cursor)
    expect(seen).toEqual(['al_x@example.com', 'alan@example.com', 'alice@example.com', 'bob@example.com', 'carol@example.com', 'root@admin.test'])

    const prefixed = await get('/admin/users?email_prefix=AL', admin.access_token)
    expect(prefixed.json().users.map((u: { email: string }) => u.email)).toEqual(['al_x@example.com', 'alan@example.com', 'alice@example.com'])
    expect(prefixed.json().next_cursor).toBeNull()
    // `_` is matched literally, not as a LIKE wildcard.
    expect((await get('/admin/users?email_prefix=al_', admin.access_token)).json().users).toHaveLength(1)
  })

  it('answers tampered, foreign and malformed cursors with 400 invalid_cursor', async () => {
    const admin = await createAdmin(t)
    for (let i = 0; i < 3; i++) await registerUser(t)
    const first = (await get('/admin/users?limit=1', admin.access_token)).json().next_cursor as string
    const auditCursor = (await get('/admin/audit?limit=1', admin.access_token)).json().next_cursor as string
    expect(first).toBeTruthy()
    expect(auditCursor).toBeTruthy()

    const edited = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(first, 'base64url').toString()), extra: 1 })).toString('base64url')
    const tampered = [
      first.slice(0, -1) + (first.endsWith('A') ? 'B' : 'A'),
      edited,
      auditCursor,
      'not*base64',
      Buffer.from('{"k":"users"').toString('base64url'),
      Buffer.from('{"k":"users","e":42}').toString('base64url'),
    ]
    for (const cursor of tampered) {
      const res = await get(`/admin/users?cursor=${encodeURIComponent(cursor)}`, admin.access_token)
      expect(res.statusCode, cursor).toBe(400)
      expect(res.json().code).toBe('invalid_cursor')
    }
    const wrongList = await get(`/admin/audit?cursor=${first}`, admin.access_token)
    expect(wrongList.json().code).toBe('invalid_cursor')
    const negative = Buffer.from('{"k":"audit","s":-5}').toString('base64url')
    expect((await get(`/admin/audit?cursor=${negative}`, admin.access_token)).json().code).toBe('invalid_cursor')
    expect((await get('/admin/users?limit=0', admin.access_token)).json().code).toBe('validation_failed')
  })

  it('disabling an account blocks its sign-in and refresh, refuses its tokens on checked routes, and is audited with the admin as actor', async () => {
    const admin = await createAdmin(t)
    const victim = await registerUser(t)
    const victimId = (await get('/me', victim.access_token)).json().id as string

    const res = await post(`/admin/users/${victimId}/disable`, admin.access_token)
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ id: victimId, email: victim.email, disabled_at: new Date(t.clock.now()).toISOString() })

    const login = await t.inject({ method: 'POST', url: '/auth/login', payload: { email: victim.email, password: PASSWORD } })
    expect(login.statusCode).toBe(403)
    expect(login.json().code).toBe('account_disabled')
    const refresh = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: victim.refresh_token } })
    expect(refresh.statusCode).toBe(403)
    expect(refresh.json().code).toBe('account_disabled')
    expect((await get('/me/sessions', victim.access_token)).json().code).toBe('session_revoked')

    const audit = await get(`/admin/audit?user_id=${victimId}&type=account_disabled`, admin.access_token)
    const events = audit.json().events as AuditEventJson[]
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ type: 'account_disabled', user_id: victimId, actor_id: admin.user.id, request_id: res.headers['x-request-id'] })
    const revoked = (await get(`/admin/audit?user_id=${victimId}&type=session_revoked`, admin.access_token)).json().events as AuditEventJson[]
    expect(revoked).toHaveLength(1)
    expect(revoked[0]!.actor_id).toBe(admin.user.id)

    // Idempotent: a second disable changes nothing and audits nothing.
    expect((await post(`/admin/users/${victimId}/disable`, admin.access_token)).json().disabled_at).toBe(res.json().disabled_at)
    expect((await get(`/admin/audit?type=account_disabled`, admin.access_token)).json().events).toHaveLength(1)

    const enabled = await post(`/admin/users/${victimId}/enable`, admin.access_token)
    expect(enabled.statusCode).toBe(200)
    expect(enabled.json().disabled_at).toBeNull()
    expect((await t.inject({ method: 'POST', url: '/auth/login', payload: { email: victim.email, password: PASSWORD } })).statusCode).toBe(200)
    // The sessions the disable revoked stay revoked.
    expect((await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: victim.refresh_token } })).json().code).toBe('session_revoked')
    const [enabledEvent] = (await get('/admin/audit?type=account_enabled', admin.access_token)).json().events as AuditEventJson[]
    expect(enabledEvent).toMatchObject({ user_id: victimId, actor_id: admin.user.id })
  })

  it('answers an unknown user id with 404 and a malformed one with 400', async () => {
    const admin = await createAdmin(t)
    const unknown = await post(`/admin/users/${randomUUID()}/disable`, admin.access_token)
    expect(unknown.statusCode).toBe(404)
    expect(unknown.json().code).toBe('not_found')
    const malformed = await post('/admin/users/1%27%20OR%201=1/enable', admin.access_token)
    expect(malformed.statusCode).toBe(400)
    expect(malformed.json().code).toBe('validation_failed')
  })

  it("refuses a signed-out admin's still-valid token on admin routes", async () => {
    const admin = await createAdmin(t)
    await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: admin.refresh_token } })
    const res = await get('/admin/users', admin.access_token)
    expect(res.statusCode).toBe(401)
    expect(res.json().code).toBe('session_revoked')
  })

  it('filters the audit log by user, type and time range, and refuses bad filters with 400', async () => {
    const admin = await createAdmin(t)
    const start = new Date(t.clock.now()).toISOString()
    t.clock.advance(60_000)
    const user = await registerUser(t)
    const userId = (await get('/me', user.access_token)).json().id as string
    await t.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: 'not the password at all' } })
    t.clock.advance(60_000)
    const end = new Date(t.clock.now()).toISOString()
    await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: user.refresh_token } })

    const mine = (await get(`/admin/audit?user_id=${userId}`, admin.access_token)).json().events as AuditEventJson[]
    expect(mine.map((e) => e.type)).toEqual(['logout', 'login_failed', 'register'])
    const window = (await get(`/admin/audit?since=${start}&until=${end}&type=login_failed`, admin.access_token)).json().events as AuditEventJson[]
    expect(window.map((e) => e.user_id)).toEqual([userId])
    expect((await get(`/admin/audit?since=${end}&until=${start}`, admin.access_token)).json().code).toBe('validation_failed')

    for (const query of ['type=nope', 'user_id=42', 'since=yesterday', 'limit=101', 'unknown=1']) {
      const res = await get(`/admin/audit?${query}`, admin.access_token)
      expect(res.statusCode, query).toBe(400)
      expect(res.json().code).toBe('validation_failed')
    }
  })

  it('audit pages stay stable while events are written: no duplicates, no gaps', async () => {
    const admin = await createAdmin(t)
    for (let i = 0; i < 23; i++) {
      await t.store.appendAudit({ type: 'login_failed', at: t.clock.now(), userId: null, actorId: null, sessionId: null, ip: '10.0.0.1', userAgent: null, requestId: `seed-${i}`, details: {} })
    }
    const existing = (await t.store.listAudit({ limit: 1000 })).map((e) => e.seq)

    const seen: number[] = []
    let cursor: string | null = null
    let written = 0
    do {
      const url: string = `/admin/audit?limit=5${cursor ? `&cursor=${cursor}` : ''}`
      // Reading a page writes nothing new itself; these stand in for other requests meanwhile.
      const [res] = await Promise.all([
        get(url, admin.access_token),
        t.store.appendAudit({ type: 'register', at: t.clock.now(), userId: null, actorId: null, sessionId: null, ip: null, userAgent: null, requestId: `new-${written++}`, details: {} }),
      ])
      const body = res.json() as { events: AuditEventJson[]; next_cursor: string | null }
      seen.push(...body.events.map((e) => e.seq))
      cursor = body.next_cursor
    } while (cursor)

    expect(new Set(seen).size).toBe(seen.length)
    // Everything that existed before the first page is served, in order, with nothing missing.
    expect(seen.filter((s) => existing.includes(s))).toEqual(existing)
    expect([...seen].sort((a, b) => b - a)).toEqual(seen)
    // One insert per page request: 24 existing events in pages of 5 take five pages.
    expect(written).toBe(Math.ceil(existing.length / 5))
  })
})
