import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { createAuditLog } from '../accounts/audit-log.ts'
import { endDisabledAccountSessions } from '../accounts/disabled-account.ts'
import { normalizeEmail, passwordProblem } from '../accounts/password-policy.ts'
import { createPasswordHasher } from '../accounts/passwords.ts'
import { createSessionService } from '../accounts/session-service.ts'
import type { Config } from '../config.ts'
import { CommandError, UsageError, type CliIo } from './cli-io.ts'
import { CLI_CONTEXT, withStore } from './cli-store.ts'

/** `latchkey users …`: the same rules as the HTTP API (email normalisation, password policy, audit). */
function parseEmail(raw: string): string {
  const email = normalizeEmail(raw)
  if (!z.email().safeParse(email).success) throw new UsageError(`--email "${raw}" is not an email address`)
  return email
}

async function readPassword(io: CliIo): Promise<string> {
  const fromEnv = io.env.LATCHKEY_PASSWORD
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  const piped = await io.readStdin()
  if (piped === null) throw new UsageError('give the password on stdin (e.g. `printf %s "$PW" | latchkey users create …`) or in LATCHKEY_PASSWORD')
  // `echo pw |` adds a newline that is not part of the password.
  const password = piped.replace(/\r?\n$/, '')
  if (password === '') throw new UsageError('the password on stdin is empty')
  return password
}

export async function createUser(config: Config, io: CliIo, rawEmail: string, admin: boolean): Promise<void> {
  const email = parseEmail(rawEmail)
  const password = await readPassword(io)
  const problem = passwordProblem(password, email)
  if (problem) throw new CommandError(`password ${problem}`)
  const hasher = createPasswordHasher({
    memoryCost: config.argon2.memoryCost,
    timeCost: config.argon2.timeCost,
    parallelism: config.argon2.parallelism,
    queueLimit: 1,
  })
  const passwordHash = await hasher.hash(password)
  const scope = admin ? 'user admin' : 'user'
  const clock = { now: () => io.now().getTime() }
  await withStore(config, async (store) => {
    const user = await store.createUser({ id: randomUUID(), email, passwordHash, scope, createdAt: clock.now() })
    if (!user) throw new CommandError(`an account with email ${email} already exists`)
    await createAuditLog(store, clock).record('register', CLI_CONTEXT, { userId: user.id, details: { via: 'cli', scope } })
    io.out(`created user ${user.id} ${email} (scope: ${scope})`)
  })
}

/**
 * Disables the account and ends its sessions exactly as `POST /admin/users/{id}/disable` does
 * (endDisabledAccountSessions; `users import` from its batch): each session revoked and audited, published to
 * the revoked-session set (Redis when REDIS_URL is set), and one `account_disabled` event
 * (`via: "cli"`) only when this run is what disabled it.
 */
export async function disableUser(config: Config, io: CliIo, rawEmail: string): Promise<void> {
  const email = parseEmail(rawEmail)
  const now = io.now().getTime()
  await withStore(config, async (store) => {
    const user = await store.findUserByEmail(email)
    if (!user) throw new CommandError(`no account with email ${email}`)
    // Disable before revoking: a refresh racing with this then meets `disabled` or `revoked`, never a live session.
    // Conditional in the store: of racing disables (this, the admin route) only the winner audits.
    const result = await store.setUserDisabled(user.id, now)
    if (!result) throw new CommandError(`no account with email ${email}`)
    const newlyDisabled = result.changed
    const clock = { now: () => now }
    const audit = createAuditLog(store, clock)
    const sessions = createSessionService({ store, clock, audit })
    const revoked = await endDisabledAccountSessions({ sessions, audit }, user.id, CLI_CONTEXT, { actorId: null, newlyDisabled, details: { via: 'cli' } })
    io.out(`${email} ${newlyDisabled ? 'disabled' : 'was already disabled'}; revoked ${revoked.length} session(s)`)
  })
}

/** Removes the account's second factor, recovery codes and pending MFA sign-ins (a lost phone); audited. */
export async function resetMfa(config: Config, io: CliIo, rawEmail: string): Promise<void> {
  const email = parseEmail(rawEmail)
  const now = io.now().getTime()
  await withStore(config, async (store) => {
    const user = await store.findUserByEmail(email)
    if (!user) throw new CommandError(`no account with email ${email}`)
    const existed = await store.factors.deleteFactors(user.id)
    await createAuditLog(store, { now: () => now }).record('mfa_reset', CLI_CONTEXT, { userId: user.id, details: { via: 'cli', had_factor: existed } })
    io.out(existed ? `${email}: second factor removed; the next sign-in needs the password only` : `${email} had no second factor`)
  })
}

export async function verifyEmail(config: Config, io: CliIo, rawEmail: string): Promise<void> {
  const email = parseEmail(rawEmail)
  const now = io.now().getTime()
  await withStore(config, async (store) => {
    const user = await store.findUserByEmail(email)
    if (!user) throw new CommandError(`no account with email ${email}`)
    if (user.emailVerified) {
      io.out(`${email} was already verified`)
      return
    }
    await store.oneTimeTokens.markEmailVerified(user.id)
    await createAuditLog(store, { now: () => now }).record('email_verified', CLI_CONTEXT, { userId: user.id, details: { via: 'cli' } })
    io.out(`${email} verified`)
  })
}
