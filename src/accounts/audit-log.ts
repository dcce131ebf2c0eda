import type { Clock } from '../clock.ts'
import type { AuditEventType, AuditOrigin, Store } from '../store/store.ts'

/** Who and where a request came from: what every audit event records besides its own facts. */
export interface RequestContext {
  ip: string | null
  userAgent: string | null
  requestId: string | null
}

export interface AuditFields {
  userId?: string | null
  actorId?: string | null
  sessionId?: string | null
  details?: Record<string, string | number | boolean | null>
}

export interface AuditLog {
  record(type: AuditEventType, ctx: RequestContext, fields?: AuditFields): Promise<void>
  /** The request facts as a store records them, for events the store writes inside its own transaction. */
  origin(ctx: RequestContext): AuditOrigin
  /** Counts an event that the store wrote itself (metrics), as record() counts its own. */
  recorded(type: AuditEventType): void
}

export function createAuditLog(store: Store, clock: Clock, onEvent?: (type: AuditEventType) => void): AuditLog {
  const origin = (ctx: RequestContext): AuditOrigin => ({
    ip: ctx.ip,
    userAgent: ctx.userAgent ? ctx.userAgent.slice(0, 512) : null,
    requestId: ctx.requestId,
  })
  return {
    async record(type, ctx, fields = {}) {
      await store.appendAudit({
        type,
        at: clock.now(),
        userId: fields.userId ?? null,
        actorId: fields.actorId ?? null,
        sessionId: fields.sessionId ?? null,
        ...origin(ctx),
        details: fields.details ?? {},
      })
      onEvent?.(type)
    },
    origin,
    recorded(type) {
      onEvent?.(type)
    },
  }
}
