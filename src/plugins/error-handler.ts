import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { DependencyUnavailableError, UNAVAILABLE_RETRY_AFTER_SECONDS } from '../dependency-unavailable.ts'
import { AppError, toProblem, type ErrorCode } from '../errors.ts'
import { bearerChallenge } from './bearer-challenge.ts'

export interface ErrorHandlerOptions {
  realm: string
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook when the request carried a bearer token. */
    bearerPresented: boolean
  }
  interface FastifyReply {
    /** The code of the problem document sent, if any: metrics count 401s and 403s by it. */
    problemCode: ErrorCode | null
  }
}

/** Maps anything thrown to an AppError: ours as they are, Fastify's by code, the rest as a 500. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err
  if (err instanceof DependencyUnavailableError) {
    return new AppError('service_unavailable', 'a backing service is temporarily unavailable; retry shortly', {
      cause: err,
      headers: { 'retry-after': String(UNAVAILABLE_RETRY_AFTER_SECONDS) },
    })
  }
  const e = err as FastifyError & { status?: number }
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('unsupported_media_type', 'send the body as application/json')
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('payload_too_large', 'the request body is too large')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('malformed_json', 'the body is empty but the content type is application/json')
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('validation_failed', 'the Content-Length does not match the body')
    case 'FST_ERR_BAD_URL':
      return new AppError('validation_failed', 'the path is not valid percent-encoding')
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new AppError('not_found', 'no such resource')
  }
  if (err instanceof SyntaxError || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new AppError('malformed_json', 'the body is not valid JSON')
  }
  const status = e.statusCode ?? e.status
  if (status === 429) return new AppError('rate_limited', 'too many requests; retry later')
  if (status === 413) return new AppError('payload_too_large', 'the request body is too large')
  if (status === 415) return new AppError('unsupported_media_type', 'send the body as application/json')
  if (status === 404) return new AppError('not_found', 'no such resource')
  if (status !== undefined && status >= 400 && status < 500) return new AppError('validation_failed', 'the request is not valid')
  return new AppError('internal_error', 'an unexpected error occurred', { cause: err })
}

/** Sends an AppError as a problem document, with the Bearer challenge every 401/403 carries. */
export function sendProblem(request: FastifyRequest, reply: FastifyReply, err: AppError, realm: string): FastifyReply {
  // A refusal is about this request alone: never cached, even on a route that may be.
  reply.header('cache-control', 'no-store')
  for (const [name, value] of Object.entries(err.headers)) reply.header(name, value)
  reply.problemCode = err.code
  if ((err.status === 401 || err.status === 403) && !reply.hasHeader('www-authenticate')) {
    reply.header('www-authenticate', bearerChallenge(realm, err, request.bearerPresented))
  }
  return reply.code(err.status).type('application/problem+json').send(toProblem(err, request.url.split('?')[0]))
}

export const errorHandlerPlugin = fp(
  async function errorHandler(app: FastifyInstance, options: ErrorHandlerOptions) {
    if (!app.hasRequestDecorator('bearerPresented')) app.decorateRequest('bearerPresented', false)
    if (!app.hasReplyDecorator('problemCode')) app.decorateReply('problemCode', null)
    app.setErrorHandler(function handle(err, request, reply) {
      const appError = toAppError(err)
      if (appError.status >= 500 && appError.code === 'internal_error') {
        request.log.error({ err }, 'request failed')
      } else if (err instanceof DependencyUnavailableError) {
        // An outage is an operator's problem: log it loudly, but without a stack per request.
        request.log.error({ dependency: err.dependency, cause: err.message }, 'dependency unavailable')
      } else {
        request.log.info({ code: appError.code, status: appError.status }, 'request refused')
      }
      return sendProblem(request, reply, appError, options.realm)
    })
  },
  { name: 'latchkey-error-handler', fastify: '5.x' },
)
