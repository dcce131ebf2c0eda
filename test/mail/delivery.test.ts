import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { simpleParser } from 'mailparser'
import { afterAll, describe, expect, it } from 'vitest'
import { systemClock } from '../../src/clock.ts'
import { createLogger } from '../../src/logger.ts'
import { createMetrics } from '../../src/metrics.ts'
import { backoffMs, createOutboxDrainer } from '../../src/mail/outbox-drainer.ts'
import { loadMailTemplates, MailTemplateError, renderMail } from '../../src/mail/templates.ts'
import { createFileTransport, createSmtpTransport } from '../../src/mail/transport.ts'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import { PASSWORD, registerUser, uniqueEmail } from '../helpers/app.ts'
import { createMailTestApp } from '../helpers/mail.ts'
import { startSmtpServer } from '../helpers/smtp.ts'

const dirs: string[] = []
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'latchkey-mail-'))
  dirs.push(d)
  return d
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

function captureLogger() {
  const lines: string[] = []
  const logger = createLogger('trace', new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb() } }))
  return { logger, lines }
}

describe('templates', () => {
  it('fill placeholders, HTML-escaped in the HTML part only, and a replaced file wins over the built-in one', () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'verify_email.txt'), 'Subject: Welcome to Acme, {{email}}\n\nClick {{link}} <now>\n')
    const templates = loadMailTemplates(dir)
    const mail = renderMail(templates, 'verify_email', { email: 'a&b@example.com', link: 'https://x.test/verify-email?token=t&x=<y>', expires_in: '1 hour' })
    expect(mail.subject).toBe('Welcome to Acme, a&b@example.com')
    expect(mail.text).toBe('Click https://x.test/verify-email?token=t&x=<y> <now>\n')
    // The HTML part is still the built-in one, with the values escaped.
    expect(mail.html).toContain('href="https://x.test/verify-email?token=t&amp;x=&lt;y&gt;"')
    expect(mail.html).toContain('a&amp;b@example.com')
  })

  it('a template without a Subject line stops the start, naming the file', () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'reset_password.txt'), 'no subject here\n')
    expect(() => loadMailTemplates(dir)).toThrow(MailTemplateError)
    expect(() => loadMailTemplates(dir)).toThrow(/reset_password\.txt/)
  })
})

describe('transports', () => {
  it('the file transport writes a parseable .eml and logs its link: the one documented exception to "no token in logs"', async () => {
    const dir = join(tempDir(), 'mail')
    const { logger, lines } = captureLogger()
    const transport = createFileTransport({ smtpUrl: undefined, mailDir: dir, from: 'Latchkey <no-reply@localhost>', messageIdDomain: 'localhost', logger, timeoutMs: 1000 })
    const link = 'http://127.0.0.1:3000/verify-email?token=lkt_XYZ'
    await transport.send({ id: 'msg-1', to: 'ada@example.com', subject: 'Hello', text: `open ${link}`, html: '<p>hi</p>', link })
    expect(readdirSync(dir)).toEqual(['msg-1.eml'])
    const parsed = await simpleParser(readFileSync(join(dir, 'msg-1.eml')))
    expect(parsed.subject).toBe('Hello')
    expect(parsed.text).toContain(link)
    expect(parsed.messageId).toBe('<msg-1@localhost>')
    const withLink = lines.filter((l) => l.includes('lkt_XYZ'))
    expect(withLink).toHaveLength(1)
    expect(JSON.parse(withLink[0]!)).toMatchObject({ level: 30, devMailTransport: true, mailLink: link })
  })

  it('SMTP delivery at trace level logs neither the link nor its token', async () => {
    const smtp = await startSmtpServer()
    const { logger, lines } = captureLogger()
    const t = await createMailTestApp({ smtp, deps: { logger }, env: { LOG_LEVEL: 'trace' } })
    try {
      const user = await registerUser(t)
      await t.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email: user.email } })
      const mails = await smtp.waitFor((m) => m.to === user.email, { count: 2 })
      const reset = mails.find((m) => /reset/i.test(m.subject))!
      await t.inject({ method: 'POST', url: '/auth/password/reset', payload: { token: reset.token, password: 'a much longer and rarer passphrase' } })
      const output = lines.join('')
      expect(output).toContain('mail sent')
      for (const m of mails) {
        expect(output.includes(m.token!), 'a link token leaked into the logs').toBe(false)
      }
      expect(output.includes(PASSWORD)).toBe(false)
    } finally {
      await t.close()
      await smtp.close()
    }
  })
})

describe('the outbox drainer', () => {
  it('backs off exponentially with jitter, up to a cap', () => {
    expect(backoffMs(1, 1000, 60_000, () => 0.5)).toBe(1000)
    expect(backoffMs(2, 1000, 60_000, () => 0.5)).toBe(2000)
    expect(backoffMs(5, 1000, 60_000, () => 0.5)).toBe(16_000)
    expect(backoffMs(20, 1000, 60_000, () => 0.5)).toBe(60_000)
    expect(backoffMs(3, 1000, 60_000, () => 0)).toBe(3200)
    expect(backoffMs(3, 1000, 60_000, () => 1)).toBe(4800)
  })

  it('SMTP server down mid-run: mail stays queued, is retried with the error recorded, and arrives exactly once when it is back', async () => {
    const smtp = await startSmtpServer()
    const metrics = createMetrics()
    // Real time here: the retries wait for real backoff delays.
    const t = await createMailTestApp({ smtp, clock: systemClock, deps: { metrics } })
    try {
      const before = await registerUser(t)
      await smtp.waitFor((m) => m.to === before.email)

      await smtp.stop()
      const emails = [uniqueEmail(), uniqueEmail(), uniqueEmail()]
      for (const email of emails) await registerUser(t, email)
      await expect.poll(async () => (await t.store.outbox.list({ status: 'pending', now: Date.now(), limit: 10 })).filter((m) => m.attempts >= 2).length, { timeout: 10_000 }).toBe(3)
      const pending = await t.store.outbox.list({ status: 'pending', now: Date.now(), limit: 10 })
      expect(pending.every((m) => m.lastError !== null && /ECONNREFUSED|connect/i.test(m.lastError))).toBe(true)
      expect(smtp.received.filter((m) => emails.includes(m.to))).toEqual([])
      const failures = (await metrics.registry.getSingleMetric('latchkey_mail_failures_total')!.get()).values
      expect(failures.some((v) => v.labels.outcome === 'retry' && v.value >= 3)).toBe(true)

      await smtp.start()
      const arrived = await smtp.waitFor((m) => emails.includes(m.to), { count: 3, timeoutMs: 15_000 })
      expect(new Set(arrived.map((m) => m.to))).toEqual(new Set(emails))
      await expect.poll(async () => (await t.store.outbox.stats(Date.now())).pending).toBe(0)
      // Exactly once: nothing more arrives, and every row is marked sent.
      await t.drainer.drainOnce()
      expect(smtp.received.filter((m) => emails.includes(m.to))).toHaveLength(3)
      const sent = await t.store.outbox.list({ status: 'sent', now: Date.now(), limit: 10 })
      expect(sent.filter((m) => emails.includes(m.recipient)).every((m) => m.attempts >= 2)).toBe(true)
      const sentTotal = (await metrics.registry.getSingleMetric('latchkey_mail_sent_total')!.get()).values.reduce((n, v) => n + v.value, 0)
      expect(sentTotal).toBe(4)
      const scrape = await metrics.registry.metrics()
      expect(scrape).toMatch(/^latchkey_outbox_depth 0$/m)
      expect(scrape).toMatch(/^latchkey_outbox_oldest_pending_age_seconds 0$/m)
    } finally {
      await t.close()
      await smtp.close()
    }
  })

  it('gives up after the last attempt (status failed, metric gave_up) and `retry` revives it', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    const metrics = createMetrics()
    const { logger } = captureLogger()
    const transport = createSmtpTransport({ smtpUrl: 'smtp://127.0.0.1:1', mailDir: '', from: 'x@localhost', messageIdDomain: 'localhost', logger, timeoutMs: 500 })
    let now = 1_000_000
    const drainer = createOutboxDrainer({ store, transport, templates: loadMailTemplates(), clock: { now: () => now }, logger, metrics, leaseMs: 5000, maxAttempts: 2, baseBackoffMs: 10, maxBackoffMs: 10 })
    try {
      await store.outbox.enqueue([{ id: 'm1', template: 'password_changed', recipient: 'a@example.com', data: { email: 'a@example.com' }, createdAt: now, expiresAt: now + 86_400_000 }])
      expect(await drainer.drainOnce()).toBe(0)
      now += 1000
      expect(await drainer.drainOnce()).toBe(0)
      now += 1000
      expect(await drainer.drainOnce()).toBe(0)
      const [row] = await store.outbox.list({ now, limit: 1 })
      expect(row).toMatchObject({ status: 'failed', attempts: 2 })
      const values = (await metrics.registry.getSingleMetric('latchkey_mail_failures_total')!.get()).values
      expect(values.find((v) => v.labels.outcome === 'gave_up')?.value).toBe(1)
      expect(await store.outbox.retry('m1', now)).toBe(true)
      expect(await store.outbox.list({ status: 'pending', now, limit: 1 })).toMatchObject([{ id: 'm1', attempts: 0 }])
    } finally {
      transport.close()
      await store.close()
    }
  })
})
