import { appendFileSync, readFileSync } from 'node:fs'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { parse } from 'yaml'
import { ERROR_CATALOG } from '../../src/errors.ts'

/**
 * The contract check: every response a test produces must be documented in openapi.yaml — the
 * operation, the status, the content type, required headers and the body shape. Undocumented
 * statuses and shapes fail the test that produced them.
 */

type Json = Record<string, unknown>
interface Operation {
  method: string
  template: string
  pattern: RegExp
  responses: Record<string, Json>
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020

export const openapiDocument = parse(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8')) as Json

const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true })
addFormats(ajv)
ajv.addSchema(openapiDocument, 'openapi')

const operations: Operation[] = []
for (const [template, item] of Object.entries(openapiDocument.paths as Record<string, Json>)) {
  for (const [method, op] of Object.entries(item)) {
    if (!['get', 'post', 'put', 'delete', 'patch'].includes(method)) continue
    const source = `^${template.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\\{[^}]+\\\}/g, '[^/]+')}$`
    operations.push({ method: method.toUpperCase(), template, pattern: new RegExp(source), responses: (op as Json).responses as Record<string, Json> })
  }
}

/** Where every test process appends the (operation, status) pairs it produced; see test/contract-coverage.ts. */
export const COVERAGE_LOG = new URL('../../test-results/contract-coverage.log', import.meta.url)

const seenResponses = new Set<string>()
function recordSeen(key: string): void {
  if (seenResponses.has(key)) return
  seenResponses.add(key)
  appendFileSync(COVERAGE_LOG, `${key}\n`)
}

const validators = new Map<string, ValidateFunction>()
function validatorFor(pointer: string): ValidateFunction {
  let v = validators.get(pointer)
  if (!v) {
    v = ajv.compile({ $ref: `openapi#${pointer}` })
    validators.set(pointer, v)
  }
  return v
}

const escapePointer = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1')

function resolveRef(node: Json): Json {
  let current = node
  while (typeof current.$ref === 'string') {
    const path = (current.$ref as string).replace(/^#\//, '').split('/').map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
    current = path.reduce<Json>((acc, key) => acc[key] as Json, openapiDocument)
  }
  return current
}

export interface ObservedResponse {
  method: string
  url: string
  status: number
  headers: Record<string, string | string[] | number | undefined>
  body: string
}

export function findOperation(method: string, url: string): Operation | undefined {
  const path = url.split('?')[0] ?? url
  return operations.find((o) => o.method === method.toUpperCase() && o.pattern.test(path))
}

export function documentedOperations(): Array<{ method: string; template: string; statuses: string[] }> {
  return operations.map((o) => ({ method: o.method, template: o.template, statuses: Object.keys(o.responses) }))
}

/** Throws an Error describing every way the response departs from openapi.yaml. */
export function assertMatchesContract(res: ObservedResponse): void {
  const problems: string[] = []
  const op = findOperation(res.method, res.url)
  const contentType = String(res.headers['content-type'] ?? '').split(';')[0]?.trim() ?? ''
  if (!op) {
    // Unknown paths and methods are answered by the router: a problem document is all we require.
    if (res.status !== 404 && res.status !== 405) throw new Error(`${res.method} ${res.url} is not documented in openapi.yaml (status ${res.status})`)
    assertBody('/components/schemas/Problem', res, problems)
    if (contentType !== 'application/problem+json') problems.push(`content-type ${contentType} is not application/problem+json`)
    if (problems.length) throw new Error(`${res.method} ${res.url} → ${res.status}: ${problems.join('; ')}`)
    return
  }
  const statusKey = String(res.status)
  recordSeen(`${op.method} ${op.template} ${statusKey}`)
  const documented = op.responses[statusKey]
  if (!documented) throw new Error(`${op.method} ${op.template} answered ${statusKey}, which openapi.yaml does not document (body: ${res.body.slice(0, 300)})`)
  const response = resolveRef(documented)
  const base = `/paths/${escapePointer(op.template)}/${op.method.toLowerCase()}/responses/${statusKey}`
  const content = response.content as Record<string, Json> | undefined
  if (!content) {
    if (res.body.length > 0) problems.push('has a body, but none is documented')
  } else if (!content[contentType]) {
    problems.push(`content-type "${contentType}" is not documented (documented: ${Object.keys(content).join(', ')})`)
  } else {
    const refBase = typeof documented.$ref === 'string' ? (documented.$ref as string).replace(/^#/, '') : base
    assertBody(`${refBase}/content/${escapePointer(contentType)}/schema`, res, problems)
  }
  for (const [name, header] of Object.entries((response.headers ?? {}) as Record<string, Json>)) {
    const h = resolveRef(header)
    const value = res.headers[name.toLowerCase()]
    if (h.required && value === undefined) problems.push(`required header ${name} is missing`)
    if (value !== undefined && h.schema) {
      const validate = ajv.compile(h.schema as Json)
      if (!validate(String(value))) problems.push(`header ${name}="${String(value)}" does not match: ${ajv.errorsText(validate.errors)}`)
    }
  }
  // Every 401/403 is challenged, except a 403 whose code the catalog marks as not about the token.
  const code = problemCode(res.body)
  const unchallenged = res.status === 403 && code !== undefined && UNCHALLENGED_CODES.has(code)
  if ((res.status === 401 || res.status === 403) && !unchallenged && !res.headers['www-authenticate']) problems.push('a 401/403 without WWW-Authenticate')
  if (unchallenged && res.headers['www-authenticate']) problems.push(`${code} must not carry a WWW-Authenticate challenge`)
  if (problems.length) throw new Error(`${op.method} ${op.template} → ${statusKey}: ${problems.join('; ')}`)
}

function assertBody(pointer: string, res: ObservedResponse, problems: string[]): void {
  const validate = validatorFor(pointer)
  const contentType = String(res.headers['content-type'] ?? '')
  let body: unknown = res.body
  if (contentType.includes('json')) {
    try {
      body = JSON.parse(res.body)
    } catch {
      problems.push('body is not JSON')
      return
    }
  }
  if (!validate(body)) problems.push(`body does not match ${pointer}: ${ajv.errorsText(validate.errors)} — ${res.body.slice(0, 300)}`)
}

const UNCHALLENGED_CODES = new Set(Object.entries(ERROR_CATALOG).filter(([, e]) => 'challenge' in e && e.challenge === false).map(([code]) => code))

function problemCode(body: string): string | undefined {
  try {
    const code = (JSON.parse(body) as { code?: unknown }).code
    return typeof code === 'string' ? code : undefined
  } catch {
    return undefined
  }
}
