import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, registerUser, type TestApp } from '../helpers/app.ts'

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

describe('login does not reveal whether an email exists', () => {
  let t: TestApp
  let email: string
  beforeAll(async () => {
    // The real OWASP argon2 cost: the timing claim is about the configured work, not a cheap test hash.
    t = await createTestApp({ realArgon2: true })
    email = (await registerUser(t)).email
  })
  afterAll(() => t.close())

  const attempt = async (who: string) => {
    const started = performance.now()
    const res = await t.inject({ method: 'POST', url: '/auth/login', payload: { email: who, password: 'definitely wrong password' } })
    return { res, ms: performance.now() - started }
  }

  it('unknown email and wrong password answer the same status, body and headers', async () => {
    const unknown = (await attempt('nobody-here@example.com')).res
    const wrong = (await attempt(email)).res
    expect(unknown.statusCode).toBe(401)
    expect(wrong.statusCode).toBe(401)
    expect(unknown.body).toBe(wrong.body)
    const comparable = (h: Record<string, unknown>) => {
      const { date: _d, 'x-request-id': _r, ...rest } = h
      return rest
    }
    expect(comparable(unknown.headers)).toEqual(comparable(wrong.headers))
  })

  it('unknown email and wrong password cost statistically the same time', async () => {
    const unknown: number[] = []
    const wrong: number[] = []
    for (let i = 0; i < 12; i++) {
      // interleaved, so machine noise hits both series alike
      unknown.push((await attempt(`nobody${i}@example.com`)).ms)
      wrong.push((await attempt(email)).ms)
    }
    const ratio = median(unknown) / median(wrong)
    // Both run one argon2id verify at the same cost; without the dummy verify the ratio would be < 0.1.
    expect(ratio, `medians: unknown ${median(unknown).toFixed(1)} ms, wrong ${median(wrong).toFixed(1)} ms`).toBeGreaterThan(0.6)
    expect(ratio).toBeLessThan(1.6)
  })
})
