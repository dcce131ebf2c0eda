import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, registerUser, T0, type TestApp } from '../helpers/app.ts'

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
    expect(ratio, `medians: unknown ${median(unknown).toFixed(1)} ms, wrong ${median(wrong).toFixed(1)} ms`).toBeGreaterThan(0.4)
    expect(ratio).toBeLessThan(2.5)
  })
})

describe('register: the documented 409 is the only difference between a taken and a new email', () => {
  let t: TestApp
  let taken: string
  beforeAll(async () => {
    t = await createTestApp({ realArgon2: true, env: { RATE_LIMIT_ENABLED: 'false' } })
    taken = (await registerUser(t)).email
  })
  afterAll(() => t.close())

  const attempt = async (email: string) => {
    const started = performance.now()
    const res = await t.inject({ method: 'POST', url: '/auth/register', payload: { email, password: 'another long passphrase 42' } })
    return { res, ms: performance.now() - started }
  }

  it('a taken email costs statistically the same time as a new one (both hash before the insert)', async () => {
    const fresh: number[] = []
    const existing: number[] = []
    for (let i = 0; i < 12; i++) {
      const a = await attempt(`fresh-${i}-${process.pid}@example.com`)
      const b = await attempt(taken)
      expect(a.res.statusCode).toBe(201)
      expect(b.res.statusCode).toBe(409)
      fresh.push(a.ms)
      existing.push(b.ms)
    }
    const ratio = median(existing) / median(fresh)
    // Without the hash before the insert a taken email would answer in well under a tenth of the time.
    expect(ratio, `medians: taken ${median(existing).toFixed(1)} ms, new ${median(fresh).toFixed(1)} ms`).toBeGreaterThan(0.4)
    expect(ratio).toBeLessThan(2.5)
  })

  it('a weak password is refused before the email is looked at, whether it is taken or not', async () => {
    const a = await t.inject({ method: 'POST', url: '/auth/register', payload: { email: taken, password: 'short' } })
    const b = await t.inject({ method: 'POST', url: '/auth/register', payload: { email: 'never-seen@example.com', password: 'short' } })
    expect(a.statusCode).toBe(422)
    expect(a.body).toBe(b.body)
  })

  it('no other public route answers differently for a known and an unknown email', async () => {
    // Enumerated: a password-reset or magic-link route added later must keep this property too.
    const others = t.app.registeredRoutes().filter((r) => r.public && r.method === 'POST' && r.url !== '/auth/register')
    expect(others.length).toBeGreaterThan(0)
    const strip = (h: Record<string, unknown>) => {
      const { date: _d, 'x-request-id': _r, 'content-length': _l, ...rest } = h
      return rest
    }
    for (const route of others) {
      const known = await t.app.inject({ method: 'POST', url: route.url, payload: { email: taken, password: 'definitely wrong password' } })
      const unknown = await t.app.inject({ method: 'POST', url: route.url, payload: { email: 'nobody-at-all@example.com', password: 'definitely wrong password' } })
      expect(known.statusCode, route.url).toBe(unknown.statusCode)
      expect(known.body.replaceAll(taken, 'E'), route.url).toBe(unknown.body.replaceAll('nobody-at-all@example.com', 'E'))
      expect(strip(known.headers), route.url).toEqual(strip(unknown.headers))
    }
  })
})

describe('POST /auth/password/forgot does not reveal whether an account exists', () => {
  let t: TestApp
  let known: string
  beforeAll(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'silent' } })
    known = (await registerUser(t)).email
  })
  afterAll(() => t.close())

  const forgot = async (email: string) => {
    const started = performance.now()
    const res = await t.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email } })
    return { res, ms: performance.now() - started }
  }
  const comparable = (h: Record<string, unknown>) => {
    const { date: _d, 'x-request-id': _r, ...rest } = h
    return rest
  }

  it('a known and an unknown address get the same status, body and headers — and only the known one gets mail', async () => {
    const a = (await forgot(known)).res
    const b = (await forgot('nobody-registered@example.com')).res
    expect(a.statusCode).toBe(202)
    expect(b.statusCode).toBe(202)
    expect(a.body).toBe(b.body)
    expect(comparable(a.headers)).toEqual(comparable(b.headers))
    // The difference is only in the outbox, written after the answer.
    await expect.poll(async () => (await t.store.outbox.list({ now: T0, limit: 50 })).filter((m) => m.template === 'reset_password').map((m) => m.recipient)).toEqual([known])
    // Both ran the same transaction: each appended its audit event, the unknown one without an account.
    await expect.poll(async () => (await t.store.listAudit({ type: 'password_reset_requested', limit: 10 })).map((e) => e.details.reason ?? null).sort()).toEqual([null, 'unknown_email'].sort())
  })

  it('a known and an unknown address cost statistically the same time', async () => {
    const knownMs: number[] = []
    const unknownMs: number[] = []
    for (let i = 0; i < 30; i++) {
      knownMs.push((await forgot(known)).ms)
      unknownMs.push((await forgot(`nobody-${i}@example.com`)).ms)
    }
    const ratio = median(knownMs) / median(unknownMs)
    // The lookup and the write run after the reply, so neither shows in the time to answer.
    expect(ratio, `medians: known ${median(knownMs).toFixed(2)} ms, unknown ${median(unknownMs).toFixed(2)} ms`).toBeGreaterThan(0.5)
    expect(ratio).toBeLessThan(2)
  })
})
