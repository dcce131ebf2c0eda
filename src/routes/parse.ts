import { z } from 'zod'
import { AppError } from '../errors.ts'

/** RFC 9068 client_id: which app signs in (checked against CLIENT_IDS by the services). */
export const ClientId = z.string().min(1).max(64).regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : -').optional()

/** Validates input with a zod schema; failures are a 400 that lists each offending field. */
export function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value ?? {})
  if (result.success) return result.data
  const errors = result.error.issues.map((issue) => ({
    field: issue.path.length ? issue.path.join('.') : '(body)',
    message: issue.message,
  }))
  throw new AppError('validation_failed', `invalid ${errors.map((e) => e.field).join(', ')}`, { errors })
}

/** The request facts that audit events and sessions record. */
export function requestContext(request: { ip: string; headers: Record<string, string | string[] | undefined>; id: string }) {
  const ua = request.headers['user-agent']
  return {
    ip: request.ip,
    userAgent: typeof ua === 'string' ? ua : null,
    requestId: request.id,
  }
}

/**
 * Stands in for Fastify's schema compilers (`schemaController` in app.ts). Input is validated with
 * zod (`parse` above) and responses are serialised with JSON.stringify, so no route declares a
 * Fastify schema; without this, Fastify would load ajv and fast-json-stringify at start for
 * nothing. A route that declares one fails when it is registered, rather than being checked by a
 * second validator with other rules.
 */
export function refuseRouteSchemas(): never {
  throw new Error('Latchkey routes validate with zod (src/routes/parse.ts), not with Fastify schemas')
}
