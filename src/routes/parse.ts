import type { z } from 'zod'
import { AppError } from '../errors.ts'

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
