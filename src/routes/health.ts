import type { FastifyInstance } from 'fastify'
import { AppError, toProblem } from '../errors.ts'

export interface HealthCheck {
  name: string
  check: () => Promise<void>
}

export interface HealthRoutesOptions {
  checks: HealthCheck[]
}

/**
 * Liveness says the process serves; readiness says each dependency answers. Dependencies are shared
 * between instances, so route on liveness and gate start-up on readiness (docs/scale-out.md, "Health checks").
 */
export async function healthRoutes(app: FastifyInstance, { checks }: HealthRoutesOptions) {
  const config = { public: true } as const

  app.get('/health/live', { config }, async () => ({ status: 'ok' }))

  app.get('/health/ready', { config }, async (request, reply) => {
    const results = await Promise.all(
      checks.map(async ({ name, check }) => {
        try {
          await check()
          return [name, 'ok'] as const
        } catch (err) {
          // Probes repeat every few seconds during an outage: one line each, no stack trace.
          request.log.warn({ dependency: name, reason: err instanceof Error ? err.message : String(err) }, 'readiness check failed')
          return [name, 'unavailable'] as const
        }
      }),
    )
    const status = Object.fromEntries(results)
    if (results.every(([, s]) => s === 'ok')) return { status: 'ok', checks: status }
    const down = results.filter(([, s]) => s !== 'ok').map(([n]) => n)
    return reply
      .code(503)
      .header('retry-after', '5')
      .type('application/problem+json')
      .send({ ...toProblem(new AppError('service_unavailable', `not ready: ${down.join(', ')}`), request.url), checks: status })
  })
}
