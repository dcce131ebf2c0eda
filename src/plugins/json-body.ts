import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import sjson from 'secure-json-parse'
import { AppError } from '../errors.ts'

export interface JsonBodyOptions {
  /** Deepest nesting of objects and arrays a body may have. */
  maxDepth: number
}

/**
 * The deepest object/array nesting in a JSON text, counted on the raw characters so a hostile body
 * is refused before the parser builds anything. Stops early once `limit` is passed. Brackets inside
 * strings do not count; the text need not be valid JSON (the parser judges that).
 */
export function jsonNestingExceeds(text: string, limit: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return false
}

/**
 * Replaces Fastify's JSON parser with one that also bounds nesting depth. Parsing stays with
 * secure-json-parse (what Fastify itself uses), so `__proto__` and `constructor.prototype` keys are
 * still refused rather than merged into objects.
 */
export const jsonBodyPlugin = fp(
  async function jsonBody(app: FastifyInstance, options: JsonBodyOptions) {
    app.removeContentTypeParser('application/json')
    app.addContentTypeParser('application/json', { parseAs: 'string' }, function parseJson(_request, body, done) {
      const text = body as string
      if (text === '') return done(new AppError('malformed_json', 'the body is empty but the content type is application/json'), undefined)
      if (jsonNestingExceeds(text, options.maxDepth)) {
        return done(new AppError('validation_failed', `the JSON body is nested deeper than ${options.maxDepth} levels`), undefined)
      }
      let value: unknown
      try {
        value = sjson.parse(text, null, { protoAction: 'error', constructorAction: 'error' })
      } catch {
        return done(new AppError('malformed_json', 'the body is not valid JSON'), undefined)
      }
      done(null, value)
    })
  },
  { name: 'latchkey-json-body', fastify: '5.x' },
)
