import { describe, expect, it } from 'vitest'
import { createTestApp } from '../helpers/app.ts'

// Latchkey validates input with zod and serialises with JSON.stringify; Fastify's schema compilers
// (ajv, fast-json-stringify) are replaced so they are never loaded. A route that declares a Fastify
// schema would otherwise be checked by a second validator with other rules: it fails to register.
describe('Fastify route schemas', () => {
  it('a route declaring a validation schema is refused when the app starts', async () => {
    const started = createTestApp({
      routes: (app) => app.post('/with-body-schema', { schema: { body: { type: 'object' } } }, async () => ({ ok: true })),
    })
    await expect(started).rejects.toThrow(/validate with zod/)
  })

  it('a route declaring a response schema is refused when the app starts', async () => {
    const started = createTestApp({
      routes: (app) => app.get('/with-response-schema', { schema: { response: { 200: { type: 'object' } } } }, async () => ({ ok: true })),
    })
    await expect(started).rejects.toThrow(/validate with zod/)
  })

  it('the same registration without a schema starts and serves (control)', async () => {
    const t = await createTestApp({ routes: (app) => app.get('/plain', { config: { public: true } }, async () => ({ ok: true })) })
    try {
      const res = await t.app.inject({ method: 'GET', url: '/plain' }) // not an API route: outside the contract check
      expect(res.statusCode).toBe(200)
      expect(res.json()).toEqual({ ok: true })
    } finally {
      await t.close()
    }
  })
})
