import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { authChallenge, type ChallengeOptions, type PresentedScheme } from './auth-challenge.ts'
import { ProblemError, toProblem, VerifierError } from './problem.ts'

export type ErrorHandlerOptions = ChallengeOptions

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook: how the request presented its access token, if it did. */
    authScheme: PresentedScheme
  }
  interface FastifyReply {
    /** The code of the problem document sent, if any: metrics count 401s and 403s by it. */
    problemCode: string | null
  }
}

/** Maps anything thrown to a ProblemError: ours as they are, Fastify's by code, the rest as a 500. */
export function toProblemError(err: unknown): ProblemError {
  if (err instanceof ProblemError) return err
  const e = err as FastifyError & { status?: number }
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new VerifierError('unsupported_media_type', 'send the body as application/json')
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new VerifierError('payload_too_large', 'the request body is too large')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new VerifierError('malformed_json', 'the body is empty but the content type is application/json')
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new VerifierError('validation_failed', 'the Content-Length does not match the body')
    case 'FST_ERR_BAD_URL':
      return new VerifierError('validation_failed', 'the path is not valid percent-encoding')
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new VerifierError('not_found', 'no such resource')
  }
  if (err instanceof SyntaxError || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new VerifierError('malformed_json', 'the body is not valid JSON')
  }
  const status = e.statusCode ?? e.status
  if (status === 429) return new VerifierError('rate_limited', 'too many requests; retry later')
  if (status === 413) return new VerifierError('payload_too_large', 'the request body is too large')
  if (status === 415) return new VerifierError('unsupported_media_type', 'send the body as application/json')
  if (status === 404) return new VerifierError('not_found', 'no such resource')
  if (status !== undefined && status >= 400 && status < 500) return new VerifierError('validation_failed', 'the request is not valid')
  return new VerifierError('internal_error', 'an unexpected error occurred', { cause: err })
}

/** Sends a ProblemError as a problem document, with the challenge every 401/403 carries. */
export function sendProblem(request: FastifyRequest, reply: FastifyReply, err: ProblemError, challenge: ChallengeOptions): FastifyReply {
  // A refusal is about this request alone: never cached, even on a route that may be.
  reply.header('cache-control', 'no-store')
  for (const [name, value] of Object.entries(err.headers)) reply.header(name, value)
  reply.problemCode = err.code
  if ((err.status === 401 || err.status === 403) && err.challenge && !reply.hasHeader('www-authenticate')) {
    reply.header('www-authenticate', authChallenge(challenge, err, request.authScheme))
  }
  return reply.code(err.status).type('application/problem+json').send(toProblem(err, request.url.split('?')[0]))
}

/** Declares the request/reply fields the problem documents use, once per app. */
export function decorateProblemFields(app: FastifyInstance): void {
  if (!app.hasRequestDecorator('authScheme')) app.decorateRequest('authScheme', null)
  if (!app.hasReplyDecorator('problemCode')) app.decorateReply('problemCode', null)
}

/** Every error of the app answered as a problem document; causes of 500s logged, never sent. */
export const errorHandlerPlugin = fp(
  async function errorHandler(app: FastifyInstance, options: ErrorHandlerOptions) {
    decorateProblemFields(app)
    app.setErrorHandler(function handle(err, request, reply) {
      const problem = toProblemError(err)
      if (problem.status >= 500) request.log.error({ err }, 'request failed')
      else request.log.info({ code: problem.code, status: problem.status }, 'request refused')
      return sendProblem(request, reply, problem, options)
    })
  },
  { name: 'latchkey-error-handler', fastify: '5.x' },
)
