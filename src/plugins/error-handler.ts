import { atTokenEndpoint, decorateProblemFields, sendProblem, toProblemError, type ChallengeOptions, type ProblemError } from '@latchkey/verifier'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { DependencyUnavailableError, UNAVAILABLE_RETRY_AFTER_SECONDS } from '../dependency-unavailable.ts'
import { AppError } from '../errors.ts'

export { sendProblem } from '@latchkey/verifier'

export type ErrorHandlerOptions = ChallengeOptions

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route issues tokens and takes a DPoP proof (RFC 9449 §5): a refused proof is answered as
     * an RFC 6749 §5.2 error response, a 400 without a challenge, instead of a protected resource's
     * 401 with one (see atTokenEndpoint).
     */
    tokenEndpoint?: boolean
  }
}

/** The one place deciding how a problem is answered on this route: DPoP refusals differ at token endpoints. */
export function problemForRoute(request: FastifyRequest, problem: ProblemError): ProblemError {
  return request.routeOptions?.config?.tokenEndpoint ? atTokenEndpoint(problem) : problem
}

/** Maps anything thrown to a problem: an outage as a 503 with Retry-After, the rest as the verifier package does. */
export function toAppError(err: unknown): ProblemError {
  if (err instanceof DependencyUnavailableError) {
    return new AppError('service_unavailable', 'a backing service is temporarily unavailable; retry shortly', {
      cause: err,
      headers: { 'retry-after': String(UNAVAILABLE_RETRY_AFTER_SECONDS) },
    })
  }
  return toProblemError(err)
}

export const errorHandlerPlugin = fp(
  async function errorHandler(app: FastifyInstance, options: ErrorHandlerOptions) {
    decorateProblemFields(app)
    app.setErrorHandler(function handle(err, request, reply) {
      const problem = problemForRoute(request, toAppError(err))
      if (problem.status >= 500 && problem.code === 'internal_error') {
        request.log.error({ err }, 'request failed')
      } else if (err instanceof DependencyUnavailableError) {
        // An outage is an operator's problem: log it loudly, but without a stack per request.
        request.log.error({ dependency: err.dependency, cause: err.message }, 'dependency unavailable')
      } else {
        request.log.info({ code: problem.code, status: problem.status }, 'request refused')
      }
      return sendProblem(request, reply, problem, options)
    })
  },
  { name: 'latchkey-error-handler', fastify: '5.x' },
)
