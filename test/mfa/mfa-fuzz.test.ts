import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, T0, type TestApp } from '../helpers/app.ts'
import { checkResponse, hostileString } from '../helpers/fuzz.ts'
import { passwordStep, userWithTotp } from '../helpers/mfa.ts'
import { scaled } from '../helpers/soak.ts'

const RUNS = scaled(300, 5000)

describe('fuzzing the second-factor routes with plausible bodies', () => {
  let t: TestApp
  let access: string
  let challenge: string
  beforeAll(async () => {
    t = await createTestApp({ env: { LOG_LEVEL: 'silent', RATE_LIMIT_ENABLED: 'false', MFA_MAX_ATTEMPTS: '20' } })
    t.clock.set(T0 + 15_000)
    const user = await userWithTotp(t)
    access = user.access_token
    challenge = await passwordStep(t, user.email)
  })
  afterAll(() => t.close())

  const value = fc.oneof(hostileString, fc.stringMatching(/^[0-9]{6}$/), fc.integer(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.object({ maxDepth: 1 }))

  it('challenge, code, recovery_code and password fields of any shape: never a 5xx, always a problem with a known code', async () => {
    const urls = ['/auth/login/mfa', '/auth/step-up', '/me/mfa/totp/confirm', '/me/mfa/totp']
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...urls),
        fc.record({ challenge: fc.oneof(value, fc.constant('CHALLENGE')), code: value, recovery_code: value, password: value }, { requiredKeys: [] }),
        fc.boolean(),
        async (url, body, withToken) => {
          const payload = { ...body, ...(body.challenge === 'CHALLENGE' ? { challenge } : {}) }
          const res = await t.app.inject({ method: url === '/me/mfa/totp' ? 'DELETE' : 'POST', url, payload, headers: withToken ? bearer(access) : {} })
          const check = checkResponse('POST', res)
          expect(check.ok, check.ok ? '' : `${url} ${JSON.stringify(payload)}: ${check.why}`).toBe(true)
          // Nothing random ever signs in.
          expect(res.statusCode === 200 && url === '/auth/login/mfa').toBe(false)
        },
      ),
      { numRuns: RUNS },
    )
  })
})
