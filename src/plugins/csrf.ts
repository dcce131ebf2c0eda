import type { FastifyRequest } from 'fastify'
import type { AuditLog } from '../accounts/audit-log.ts'
import { AppError } from '../errors.ts'
import { requestContext } from '../routes/parse.ts'

/**
 * The custom request header that asks for cookie delivery and, because no HTML form or simple
 * cross-site request can send it, also proves the request came from script that passed CORS.
 */
export const REFRESH_MODE_HEADER = 'x-latchkey-refresh'

export type CsrfFailure = 'missing_header' | 'missing_origin' | 'origin_not_allowed'

export interface CsrfCheckOptions {
  /** Exact origins, as normalised by config (CORS_ORIGINS). */
  allowedOrigins: readonly string[]
  audit: AuditLog
}

/** Throws 403 csrf_rejected, after auditing the attempt, unless the request may use the refresh cookie. */
export type CsrfCheck = (request: FastifyRequest) => Promise<void>

/** The request's origin: `Origin`, or failing that the origin of `Referer`; null when neither is usable. */
export function requestOrigin(headers: FastifyRequest['headers']): string | null {
  const origin = headers.origin
  // "null" is what sandboxed frames, file: pages and some redirects send: never a trusted origin.
  if (typeof origin === 'string' && origin !== '') return origin === 'null' ? null : origin
  const referer = headers.referer
  if (typeof referer !== 'string' || referer === '') return null
  try {
    const url = new URL(referer)
    return url.origin === 'null' ? null : url.origin
  } catch {
    return null
  }
}

/** Why a cookie-using request must be refused, or null when it passes both checks. */
export function csrfFailure(request: FastifyRequest, allowedOrigins: readonly string[]): CsrfFailure | null {
  if (request.headers[REFRESH_MODE_HEADER] === undefined) return 'missing_header'
  const origin = requestOrigin(request.headers)
  if (origin === null) return 'missing_origin'
  if (!allowedOrigins.includes(origin)) return 'origin_not_allowed'
  return null
}

const DETAIL: Record<CsrfFailure, string> = {
  missing_header: `requests that use the refresh cookie must send the ${REFRESH_MODE_HEADER} header`,
  missing_origin: 'requests that use the refresh cookie must come from an allowed Origin',
  origin_not_allowed: 'this origin may not use the refresh cookie',
}

export function createCsrfCheck({ allowedOrigins, audit }: CsrfCheckOptions): CsrfCheck {
  return async function checkCsrf(request) {
    const failure = csrfFailure(request, allowedOrigins)
    if (failure === null) return
    const origin = requestOrigin(request.headers)
    await audit.record('csrf_rejected', requestContext(request), {
      details: { reason: failure, origin: origin?.slice(0, 200) ?? null, path: request.url.split('?')[0] ?? null },
    })
    throw new AppError('csrf_rejected', DETAIL[failure])
  }
}
