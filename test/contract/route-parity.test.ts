import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { documentedOperations } from '../helpers/contract.ts'

/** Swagger UI's own assets under /docs/: documentation of the API, not part of it. */
const DOC_ASSETS = /^\/docs\/.+/

describe('openapi.yaml and the router agree', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp()
  })
  afterAll(() => t.close())

  it('the registered routes are exactly the documented operations', () => {
    const registered = t.app
      .registeredRoutes()
      .filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS' && !DOC_ASSETS.test(r.url))
      .map((r) => `${r.method} ${r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`)
      .sort()
    const documented = documentedOperations().map((o) => `${o.method} ${o.template}`).sort()
    expect(registered).toEqual(documented)
  })

  it('every documented operation has a unique operationId, a summary, and examples for its JSON bodies', async () => {
    const { openapiDocument } = await import('../helpers/contract.ts')
    const ids = new Set<string>()
    for (const [path, item] of Object.entries(openapiDocument.paths as Record<string, Record<string, Record<string, unknown>>>)) {
      for (const [method, op] of Object.entries(item)) {
        expect(op.operationId, `${method} ${path}`).toMatch(/^[a-z][A-Za-z]+$/)
        expect(ids.has(op.operationId as string)).toBe(false)
        ids.add(op.operationId as string)
        expect(op.summary, `${method} ${path}`).toBeTruthy()
        // Examples: every JSON request body and every JSON success response shows one.
        const body = (op.requestBody as { content?: Record<string, { example?: unknown }> } | undefined)?.content?.['application/json']
        if (body) expect(body.example, `${method} ${path} request example`).toBeDefined()
        for (const [status, response] of Object.entries(op.responses as Record<string, { content?: Record<string, { example?: unknown }> }>)) {
          const json = response.content?.['application/json']
          if (status.startsWith('2') && json) expect(json.example, `${method} ${path} ${status} example`).toBeDefined()
        }
      }
    }
  })
})

describe('the reference page', () => {
  it('GET /docs serves Swagger UI with a strict CSP and its assets, all public', async () => {
    const t = await createTestApp()
    try {
      const page = await t.inject({ method: 'GET', url: '/docs' })
      expect(page.statusCode).toBe(200)
      const csp = String(page.headers['content-security-policy'])
      expect(csp).toContain("default-src 'self'")
      expect(csp).toContain("object-src 'none'")
      expect(csp).toContain("frame-ancestors 'none'")
      expect(csp).not.toContain('upgrade-insecure-requests')
      expect(page.headers['x-content-type-options']).toBe('nosniff')
      expect(page.body).toContain('swagger-ui')
      const spec = await t.app.inject({ method: 'GET', url: '/docs/json' })
      expect(spec.statusCode).toBe(200)
      expect(Object.keys(spec.json().paths)).toContain('/auth/login')
      const bundle = await t.app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' })
      expect(bundle.statusCode).toBe(200)
    } finally {
      await t.close()
    }
  })
})
