import type { StepUpPolicy } from '@latchkey/verifier'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { SessionService, SessionView } from '../accounts/session-service.ts'
import { parse, requestContext } from './parse.ts'

const SessionParams = z.strictObject({ id: z.uuid({ message: 'must be a session id (UUID)' }) })
const RevokeAllQuery = z.strictObject({
  keep_current: z.enum(['true', 'false'], { message: 'must be true or false' }).default('false'),
})

export interface SessionRoutesOptions {
  sessions: SessionService
  /** Step-up policy for revoking every session at once (STEP_UP_MAX_AGE). */
  recentSignIn?: StepUpPolicy
}

const iso = (ms: number) => new Date(ms).toISOString()

function sessionJson(s: SessionView) {
  return {
    id: s.id,
    created_at: iso(s.createdAt),
    last_used_at: iso(s.lastUsedAt),
    expires_at: iso(Math.min(s.idleExpiresAt, s.absoluteExpiresAt)),
    user_agent: s.userAgent,
    ip: s.ip,
    current: s.current,
  }
}

/**
 * GET/DELETE /me/sessions: the caller's own refresh sessions. Revocation-checked, so a session that
 * was just signed out cannot go on managing the others with its still-unexpired access token.
 */
export async function sessionRoutes(app: FastifyInstance, { sessions, recentSignIn }: SessionRoutesOptions) {
  const config = { revocationCheck: true } as const

  app.get('/me/sessions', { config }, async (request) => {
    const { sub, sid } = request.auth!
    return { sessions: (await sessions.list(sub, sid)).map(sessionJson) }
  })

  app.delete('/me/sessions/:id', { config }, async (request, reply) => {
    const { id } = parse(SessionParams, request.params)
    await sessions.revoke(request.auth!.sub, id, requestContext(request))
    return reply.code(204).send()
  })

  app.delete('/me/sessions', { config: { ...config, ...(recentSignIn ? { stepUp: recentSignIn } : {}) } }, async (request, reply) => {
    const query = parse(RevokeAllQuery, request.query)
    const { sub, sid } = request.auth!
    await sessions.revokeAll(sub, 'user_revoked_all', requestContext(request), {
      actorId: sub,
      ...(query.keep_current === 'true' ? { exceptSessionId: sid } : {}),
    })
    return reply.code(204).send()
  })
}
