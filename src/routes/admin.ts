import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { AdminService } from '../accounts/admin-service.ts'
import { normalizeEmail } from '../accounts/password-policy.ts'
import { AUDIT_EVENT_TYPES, type AuditEvent, type User } from '../store/store.ts'
import { auditCursor, MAX_CURSOR_LENGTH, usersCursor } from './pagination-cursor.ts'
import { parse, requestContext } from './parse.ts'

const limit = z.coerce.number({ message: 'must be a number' }).int().min(1).max(100).default(50)
const cursor = z.string().min(1).max(MAX_CURSOR_LENGTH)
const isoTime = z.iso.datetime({ offset: true, message: 'must be an RFC 3339 date-time, e.g. 2026-01-01T00:00:00Z' })

const UsersQuery = z.strictObject({
  email_prefix: z.string().max(320).transform(normalizeEmail).optional(),
  cursor: cursor.optional(),
  limit,
})
const UserParams = z.strictObject({ id: z.uuid({ message: 'must be a user id (UUID)' }) })
const AuditQuery = z
  .strictObject({
    user_id: z.uuid({ message: 'must be a user id (UUID)' }).optional(),
    type: z.enum(AUDIT_EVENT_TYPES).optional(),
    since: isoTime.transform((v) => Date.parse(v)).optional(),
    until: isoTime.transform((v) => Date.parse(v)).optional(),
    cursor: cursor.optional(),
    limit,
  })
  .refine((q) => q.since === undefined || q.until === undefined || q.since <= q.until, { message: 'must not be after until', path: ['since'] })

export interface AdminRoutesOptions {
  admin: AdminService
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

function userJson(u: User) {
  return { id: u.id, email: u.email, scope: u.scope, created_at: iso(u.createdAt), disabled_at: iso(u.disabledAt) }
}

function eventJson(e: AuditEvent) {
  return {
    seq: e.seq,
    type: e.type,
    at: iso(e.at),
    user_id: e.userId,
    actor_id: e.actorId,
    session_id: e.sessionId,
    ip: e.ip,
    user_agent: e.userAgent,
    request_id: e.requestId,
    details: e.details,
  }
}

/** /admin/*: scope `admin`, and revocation-checked so a disabled or signed-out admin is cut off at once. */
export async function adminRoutes(app: FastifyInstance, { admin }: AdminRoutesOptions) {
  const config = { scopes: ['admin'], revocationCheck: true } as const

  app.get('/admin/users', { config }, async (request) => {
    const query = parse(UsersQuery, request.query)
    const page = await admin.listUsers({
      limit: query.limit,
      ...(query.email_prefix ? { emailPrefix: query.email_prefix } : {}),
      ...(query.cursor ? { afterEmail: usersCursor.decode(query.cursor) } : {}),
    })
    const last = page.items.at(-1)
    return { users: page.items.map(userJson), next_cursor: page.more && last ? usersCursor.encode(last.email) : null }
  })

  app.post('/admin/users/:id/disable', { config }, async (request) => {
    const { id } = parse(UserParams, request.params)
    return userJson(await admin.disableUser(id, request.auth!.sub, requestContext(request)))
  })

  app.post('/admin/users/:id/enable', { config }, async (request) => {
    const { id } = parse(UserParams, request.params)
    return userJson(await admin.enableUser(id, request.auth!.sub, requestContext(request)))
  })

  app.get('/admin/audit', { config }, async (request) => {
    const query = parse(AuditQuery, request.query)
    const page = await admin.listAudit({
      limit: query.limit,
      ...(query.user_id ? { userId: query.user_id } : {}),
      ...(query.type ? { type: query.type } : {}),
      ...(query.since !== undefined ? { since: query.since } : {}),
      ...(query.until !== undefined ? { until: query.until } : {}),
      ...(query.cursor ? { beforeSeq: auditCursor.decode(query.cursor) } : {}),
    })
    const last = page.items.at(-1)
    return { events: page.items.map(eventJson), next_cursor: page.more && last ? auditCursor.encode(last.seq) : null }
  })
}
