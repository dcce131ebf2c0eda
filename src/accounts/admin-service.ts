import type { Clock } from '../clock.ts'
import { AppError } from '../errors.ts'
import type { AuditEvent, AuditQuery, Store, User } from '../store/store.ts'
import type { AuditLog, RequestContext } from './audit-log.ts'
import { endDisabledAccountSessions } from './disabled-account.ts'
import type { SessionService } from './session-service.ts'

export interface AdminServiceDeps {
  store: Store
  clock: Clock
  audit: AuditLog
  sessions: SessionService
}

export interface Page<T> {
  items: T[]
  /** True when at least one more item follows the last one. */
  more: boolean
}

export type AdminService = ReturnType<typeof createAdminService>

/** Reads one extra row so a page knows whether another follows without a count query. */
async function page<T>(limit: number, fetch: (n: number) => Promise<T[]>): Promise<Page<T>> {
  const rows = await fetch(limit + 1)
  return { items: rows.slice(0, limit), more: rows.length > limit }
}

/** What scope `admin` may do: list users, disable and enable accounts, read the audit log. */
export function createAdminService({ store, clock, audit, sessions }: AdminServiceDeps) {
  return {
    listUsers(query: { emailPrefix?: string; afterEmail?: string; limit: number }): Promise<Page<User>> {
      return page(query.limit, (n) => store.listUsers({ ...query, limit: n }))
    },

    /**
     * Disables the account and revokes every session, so refresh fails at once and the account's
     * access tokens are refused on revocation-checked routes. Idempotent: disabling a disabled
     * account keeps its original time and audits nothing new. The store's disable is conditional,
     * so of racing disables (admin route, CLI) exactly one audits `account_disabled`; every one revokes.
     */
    async disableUser(userId: string, actorId: string, ctx: RequestContext): Promise<User> {
      // Disable before revoking: a refresh racing with this call then meets `disabled` or `revoked`, never a live session.
      const result = await store.setUserDisabled(userId, clock.now())
      if (!result) throw new AppError('not_found', 'no such user')
      await endDisabledAccountSessions({ sessions, audit }, userId, ctx, { actorId, newlyDisabled: result.changed })
      return result.user
    },

    /**
     * Re-enables sign-in; sessions revoked by the disable stay revoked (the user signs in again).
     * `account_enabled` is audited only by the call that enabled it (conditional, as disable).
     */
    async enableUser(userId: string, actorId: string, ctx: RequestContext): Promise<User> {
      const result = await store.setUserDisabled(userId, null)
      if (!result) throw new AppError('not_found', 'no such user')
      if (result.changed) await audit.record('account_enabled', ctx, { userId, actorId })
      return result.user
    },

    listAudit(query: AuditQuery): Promise<Page<AuditEvent>> {
      return page(query.limit, (n) => store.listAudit({ ...query, limit: n }))
    },
  }
}
