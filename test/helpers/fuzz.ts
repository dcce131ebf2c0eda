import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { ERROR_CATALOG, ERROR_CODES, type ErrorCode } from '../../src/errors.ts'

/** Arbitraries for hostile HTTP input, and the invariants every response must keep. */

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const

const nasty = fc.constantFrom(
  '', ' ', '\u0000', '\uFEFF', '\u202E', '😀', 'Ａ', 'e\u0301', '%', '%zz', '%00', '%2F', '..', '../..', '//', '\\', ';', '=',
  '__proto__', 'constructor', 'prototype', 'null', 'undefined', 'NaN', '-1', '1e309', '0x10', 'true', '[]', '{}',
  '<script>', "' OR 1=1 --", '${jndi:x}', 'a'.repeat(300), '\u{10FFFF}', '\uD800',
)

/** Any text a hostile client might send: printable, control bytes, astral unicode, and known troublemakers. */
export const hostileString = fc.oneof(
  nasty,
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
)

/** Nesting `depth` arrays or objects deep, built as text so depth is exact. */
export function nestedJson(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
}

const jsonBody = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.record({ email: fc.oneof(hostileString, fc.emailAddress()), password: hostileString }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.record({ refresh_token: fc.oneof(hostileString, fc.constant(`lkr_${'A'.repeat(43)}`)) }).map((v) => JSON.stringify(v)),
  fc.record({ current_password: hostileString, new_password: hostileString }).map((v) => JSON.stringify(v)),
  // Mail-link routes (issue 17): token-shaped and hostile tokens, addresses, passwords.
  fc.record(
    { token: fc.oneof(hostileString, fc.constant(`lkt_${'A'.repeat(43)}`), fc.stringMatching(/^lkt_[A-Za-z0-9_-]{0,60}$/)), password: hostileString },
    { requiredKeys: ['token'] },
  ).map((v) => JSON.stringify(v)),
  fc.record({ current_password: hostileString, new_email: fc.oneof(hostileString, fc.emailAddress()) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.record({ email: fc.oneof(hostileString, fc.emailAddress()) }).map((v) => JSON.stringify(v)),
  fc.tuple(fc.integer({ min: 1, max: 2000 }), fc.constantFrom('array' as const, 'object' as const)).map(([d, k]) => nestedJson(d, k)),
  fc.constantFrom('{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"admin":true}}}', '{"a":1,"a":2}', '{"email":"a@b.co"', '\u0000', '1e999'),
  fc.integer({ min: 1, max: 64 }).map((kb) => JSON.stringify({ email: 'x@y.zz', password: 'p'.repeat(kb * 1024) })),
  fc.string({ unit: 'binary', maxLength: 200 }),
)

const contentType = fc.oneof(
  fc.constantFrom(
    'application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json; charset=latin1', 'text/plain',
    'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/problem+json', 'application/xml', '*/*', '',
  ),
  hostileString,
)

const headerName = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/)
const headerValue = fc.oneof(hostileString, fc.string({ maxLength: 2000 }))

export interface FuzzRequest {
  method: string
  url: string
  headers: Record<string, string>
  payload: string | undefined
}

/** Percent-encodes any string; lone surrogates, which encodeURIComponent refuses, become U+FFFD. */
export const encodeAny = (s: string) => encodeURIComponent(s.toWellFormed())

/** Puts hostile text into each `:param` of a route, percent-encoded or raw. */
function fillParams(url: string): fc.Arbitrary<string> {
  const names = url.match(/:[A-Za-z0-9_]+/g) ?? []
  return fc.tuple(...names.map(() => fc.tuple(fc.oneof(hostileString, fc.uuid()), fc.boolean()))).map((values) => {
    let i = 0
    return url.replace(/:[A-Za-z0-9_]+/g, () => {
      const [v, encode] = values[i++] ?? ['', true]
      return encode ? encodeAny(v) : v.replace(/[?#/\s]/g, '')
    })
  })
}

const query = fc.oneof(
  fc.constant(''),
  fc.dictionary(hostileString, hostileString, { maxKeys: 4 }).map((q) => `?${new URLSearchParams(q).toString()}`),
  fc.constantFrom('?__proto__[admin]=1', '?constructor[prototype][admin]=1', '?a=1&a=2&a[]=3', '?%zz', `?x=${'y'.repeat(5000)}`, '?keep_current=maybe', '?cursor=%00'),
)

/** Random requests aimed at the given routes (and some at unknown paths), with `authorization` offered by the caller. */
export function fuzzRequest(routes: Array<{ method: string; url: string }>, authorization: fc.Arbitrary<string | undefined>): fc.Arbitrary<FuzzRequest> {
  const target = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...routes).chain((r) => fc.tuple(fc.oneof(fc.constant(r.method), fc.constantFrom(...METHODS)), fillParams(r.url))) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...METHODS), fc.webPath()) },
  )
  return fc
    .record({
      target,
      query,
      contentType: fc.option(contentType, { nil: undefined }),
      authorization,
      cookie: fc.option(hostileString, { nil: undefined }),
      extra: fc.dictionary(headerName, headerValue, { maxKeys: 3 }),
      payload: fc.option(jsonBody, { nil: undefined, freq: 3 }),
    })
    .map(({ target: [method, path], query: q, contentType: ct, authorization: auth, cookie, extra, payload }) => {
      const headers: Record<string, string> = { ...extra }
      if (ct !== undefined) headers['content-type'] = ct
      if (auth !== undefined) headers.authorization = auth
      if (cookie !== undefined) headers.cookie = cookie
      return { method, url: `${path.startsWith('/') ? path : `/${path}`}${q}`, headers, payload: method === 'GET' || method === 'HEAD' ? undefined : payload }
    })
}

/** Random edits of a valid token: each changes at least one byte. */
export function mutatedToken(token: string): fc.Arbitrary<string> {
  const alphabet = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ é\u0000'.split(''))
  const at = fc.nat({ max: token.length - 1 })
  return fc
    .oneof(
      fc.tuple(at, alphabet).map(([i, c]) => token.slice(0, i) + c + token.slice(i + 1)), // substitute
      fc.tuple(at, alphabet).map(([i, c]) => token.slice(0, i) + c + token.slice(i)), // insert
      at.map((i) => token.slice(0, i) + token.slice(i + 1)), // delete
      at.map((i) => token.slice(0, i)), // truncate
      fc.tuple(at, fc.nat({ max: 6 })).map(([i, b]) => token.slice(0, i) + String.fromCharCode(token.charCodeAt(i) ^ (1 << b)) + token.slice(i + 1)), // bit flip
      fc.constant(token.toUpperCase()),
      fc.constant(token.split('.').reverse().join('.')),
      fc.constantFrom(`${token}=`, `${token}.`, `${token}${token}`, `${token}\u0000`, `${token}%00`),
    )
    // Surrounding whitespace is not part of a header value (RFC 9110 §5.5): trimmed, it is the same token.
    .filter((t) => t.trim() !== token)
}

export interface ProblemCheck {
  ok: boolean
  why?: string
}

/** Every error is a problem document with a known code whose catalogued status is the one sent; never a 5xx. */
export function checkResponse(method: string, res: LightMyRequestResponse): ProblemCheck {
  if (res.statusCode >= 500) return { ok: false, why: `a ${res.statusCode}: ${res.body.slice(0, 300)}` }
  if (res.headers['x-content-type-options'] !== 'nosniff') return { ok: false, why: 'no X-Content-Type-Options: nosniff' }
  if (res.statusCode < 400 || method === 'HEAD') return { ok: true }
  const type = String(res.headers['content-type'] ?? '')
  if (!type.startsWith('application/problem+json')) return { ok: false, why: `error with content-type "${type}"` }
  let body: { code?: string; status?: number; type?: string; title?: string; detail?: string }
  try {
    body = JSON.parse(res.body)
  } catch {
    return { ok: false, why: `error body is not JSON: ${res.body.slice(0, 200)}` }
  }
  if (!ERROR_CODES.includes(body.code as ErrorCode)) return { ok: false, why: `unknown code ${String(body.code)}` }
  if (ERROR_CATALOG[body.code as ErrorCode].status !== res.statusCode || body.status !== res.statusCode) {
    return { ok: false, why: `code ${body.code} sent with status ${res.statusCode}` }
  }
  if (typeof body.type !== 'string' || typeof body.title !== 'string' || typeof body.detail !== 'string') return { ok: false, why: 'problem without type/title/detail' }
  if (/node_modules|\.ts:\d+|\bat [\w.<>]+ \(/.test(res.body)) return { ok: false, why: `a stack trace leaked: ${res.body.slice(0, 200)}` }
  return { ok: true }
}
