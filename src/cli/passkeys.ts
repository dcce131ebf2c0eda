import { z } from 'zod'
import { normalizeEmail } from '../accounts/password-policy.ts'
import type { Config } from '../config.ts'
import { CommandError, UsageError, type CliIo } from './cli-io.ts'
import { withStore } from './cli-store.ts'

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString())

/** `latchkey users passkeys --email E`: an account's passkeys, one a line; a flagged counter regression stands out. */
export async function listPasskeys(config: Config, io: CliIo, rawEmail: string): Promise<void> {
  const email = normalizeEmail(rawEmail)
  if (!z.email().safeParse(email).success) throw new UsageError(`--email "${rawEmail}" is not an email address`)
  await withStore(config, async (store) => {
    const user = await store.findUserByEmail(email)
    if (!user) throw new CommandError(`no account with email ${email}`)
    const passkeys = await store.passkeys.listForUser(user.id)
    io.out(`${email}: ${passkeys.length} passkey(s)`)
    if (passkeys.length === 0) return
    io.out('id\tname\tdevice\tbacked up\ttransports\tcreated\tlast used\tcounter regression')
    for (const p of passkeys) {
      const device = p.deviceType === 'multiDevice' ? 'multi_device' : 'single_device'
      io.out([p.id, p.name, device, p.backedUp ? 'yes' : 'no', p.transports.join(',') || '-', iso(p.createdAt), iso(p.lastUsedAt), iso(p.counterRegressedAt)].join('\t'))
    }
  })
}
