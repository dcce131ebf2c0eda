import type { AuditLog, RequestContext } from './audit-log.ts'
import type { SessionService } from './session-service.ts'

export interface DisabledAccountDeps {
  sessions: SessionService
  audit: AuditLog
}

/**
 * What follows disabling an account (POST /admin/users/{id}/disable, `latchkey users disable`):
 * every session revoked with reason `account_disabled`, each audited, and published to the
 * revoked-session set by the store's revocation feed, so the account's access tokens stop at
 * revocation-checked routes at once; then `account_disabled` audited, only when this call is the
 * one that disabled it. Revokes even when it was disabled already: a session created by a racing
 * sign-in must not survive. The caller disables first, so a refresh racing with this meets
 * `disabled` or `revoked`, never a live session.
 *
 * `latchkey users import` with `disabled: true` writes the same events (importDisabledEvents) from
 * the store, in the transaction of the batch that disables the account, then calls revokeAll once
 * the batch is committed, for the publication and the racing sign-ins.
 */
export async function endDisabledAccountSessions(
  { sessions, audit }: DisabledAccountDeps,
  userId: string,
  ctx: RequestContext,
  options: { actorId: string | null; newlyDisabled: boolean; details?: Record<string, string> },
): Promise<string[]> {
  const revoked = await sessions.revokeAll(userId, 'account_disabled', ctx, { actorId: options.actorId })
  if (options.newlyDisabled) {
    await audit.record('account_disabled', ctx, { userId, actorId: options.actorId, details: { ...options.details, revoked_sessions: revoked.length } })
  }
  return revoked
}
