import type { Clock } from '../../src/clock.ts'
import { createOutboxDrainer, type OutboxDrainer } from '../../src/mail/outbox-drainer.ts'
import { loadMailTemplates } from '../../src/mail/templates.ts'
import { createSmtpTransport, type MailTransport } from '../../src/mail/transport.ts'
import type { Store } from '../../src/store/store.ts'
import { createTestApp, type TestApp, type TestAppOptions } from './app.ts'
import { startSmtpServer, type TestSmtpServer } from './smtp.ts'

export const MAIL_BASE = 'https://auth.example.test'

export interface MailTestApp extends TestApp {
  smtp: TestSmtpServer
  drainer: OutboxDrainer
  transport: MailTransport
}

/**
 * A test app whose mail really goes out: the outbox drainer sends over SMTP (nodemailer) to an
 * smtp-server in this process. The drainer shares the app's clock, so mail expires with its links.
 */
export async function createMailTestApp(options: TestAppOptions & { store?: Store; clock?: Clock; smtp?: TestSmtpServer } = {}): Promise<MailTestApp> {
  const smtp = options.smtp ?? (await startSmtpServer())
  // The drainer needs the app's store and clock; the app needs somewhere to send its kicks first.
  const mailer = { drainer: undefined as OutboxDrainer | undefined, kick: () => mailer.drainer?.kick() }
  const t = await createTestApp({
    ...options,
    env: { PUBLIC_URL: MAIL_BASE, RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'warn', ...options.env },
    deps: { ...options.deps, ...(options.clock ? { clock: options.clock } : {}), mailer },
  })
  const transport = createSmtpTransport({
    smtpUrl: smtp.url,
    mailDir: '/nonexistent',
    from: t.config.mail.from,
    messageIdDomain: 'auth.example.test',
    logger: t.app.log,
    timeoutMs: 2000,
  })
  const drainer = createOutboxDrainer({
    store: t.store,
    transport,
    templates: loadMailTemplates(),
    clock: options.clock ?? t.clock,
    logger: t.app.log,
    pollIntervalMs: 50,
    leaseMs: 10_000,
    baseBackoffMs: 100,
    maxBackoffMs: 400,
    ...(options.deps?.metrics ? { metrics: options.deps.metrics } : {}),
  })
  mailer.drainer = drainer
  drainer.start()
  const close = t.close
  return {
    ...t,
    smtp,
    drainer,
    transport,
    async close() {
      await drainer.stop()
      transport.close()
      await close()
      if (!options.smtp) await smtp.close()
    },
  }
}
