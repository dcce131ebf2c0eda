import { describe, expect, it } from 'vitest'
import { createTestApp, PASSWORD, registerUser } from '../helpers/app.ts'

describe('client addresses behind a proxy', () => {
  it('with one trusted hop, a client cannot pick its address by prepending X-Forwarded-For entries', async () => {
    const t = await createTestApp({ env: { TRUST_PROXY: '1', RATE_LIMIT_LOGIN_PER_IP: '3', RATE_LIMIT_LOGIN_PER_ACCOUNT: '100' } })
    try {
      const { email } = await registerUser(t)
      const statuses: number[] = []
      for (let i = 0; i < 5; i++) {
        // The client forges the first entry; the proxy appends the real client address last.
        const res = await t.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { email, password: `${PASSWORD}-wrong` },
          headers: { 'x-forwarded-for': `1.2.3.${i}, 203.0.113.9` },
        })
        statuses.push(res.statusCode)
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429])
      const sessions = await t.store.listAudit({ type: 'login_failed', limit: 1 })
      expect(sessions[0]?.ip).toBe('203.0.113.9')
    } finally {
      await t.close()
    }
  })
})
