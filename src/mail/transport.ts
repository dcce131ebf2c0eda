import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import type nodemailer from 'nodemailer'
import type { Transporter } from 'nodemailer'
import type { RenderedMail } from './templates.ts'

export interface OutgoingMail extends RenderedMail {
  /** The outbox row's id: the file name, and the Message-ID's local part, so a receiver can drop a duplicate. */
  id: string
  to: string
  /** The link the mail carries, if any: logged by the file transport only. */
  link?: string
}

export interface MailTransport {
  readonly kind: 'smtp' | 'file'
  send(mail: OutgoingMail): Promise<void>
  close(): void
}

export interface MailTransportOptions {
  /** smtp://user:pass@host:port (STARTTLS when offered) or smtps://… (TLS from the start); unset = .eml files. */
  smtpUrl: string | undefined
  mailDir: string
  from: string
  /** The Message-ID's domain: the host of PUBLIC_URL. */
  messageIdDomain: string
  logger: FastifyBaseLogger
  /** Connect, greeting and socket-idle limit of one SMTP exchange. */
  timeoutMs: number
}

/** Picks the transport SMTP_URL names; unset, mail goes to .eml files under MAIL_DIR. */
export function createMailTransport(options: MailTransportOptions): MailTransport {
  return options.smtpUrl === undefined ? createFileTransport(options) : createSmtpTransport({ ...options, smtpUrl: options.smtpUrl })
}

function envelope(options: MailTransportOptions, mail: OutgoingMail) {
  return {
    from: options.from,
    to: mail.to,
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    messageId: `<${mail.id}@${options.messageIdDomain}>`,
  }
}

type TransportOptions = Parameters<typeof nodemailer.createTransport>[0]

/**
 * A nodemailer transporter made on the first message: nodemailer costs ~20 MB resident, which an
 * instance that sends no mail (or not yet) need not carry. close() closes it only if it was made.
 */
function lazyTransporter(options: TransportOptions): { get(): Promise<Transporter>; close(): void } {
  let made: Promise<Transporter> | undefined
  return {
    get: () => (made ??= import('nodemailer').then(({ default: mailer }) => mailer.createTransport(options))),
    close() {
      void made?.then((t) => t.close(), () => undefined)
    },
  }
}

/**
 * SMTP through a nodemailer pool. nodemailer upgrades an smtp:// connection with STARTTLS whenever
 * the server offers it (and verifies the certificate), and speaks TLS from the start for smtps://.
 */
export function createSmtpTransport(options: MailTransportOptions & { smtpUrl: string }): MailTransport {
  const transporter = lazyTransporter({
    url: options.smtpUrl,
    pool: true,
    maxConnections: 4,
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
  } as TransportOptions)
  return {
    kind: 'smtp',
    async send(mail) {
      await (await transporter.get()).sendMail(envelope(options, mail))
    },
    close() {
      transporter.close()
    },
  }
}

/**
 * The zero-setup default: each message becomes `<id>.eml` under MAIL_DIR, and its link is logged at
 * info so a developer can follow the walkthrough with curl. This line is the one documented
 * exception to "no token in the logs" (docs/mail.md): it exists only for this transport, which a
 * deployment that sends real mail never uses.
 */
export function createFileTransport(options: MailTransportOptions): MailTransport {
  const transporter = lazyTransporter({ streamTransport: true, buffer: true, newline: 'unix' })
  let dirReady: Promise<unknown> | undefined
  return {
    kind: 'file',
    async send(mail) {
      const info = (await (await transporter.get()).sendMail(envelope(options, mail))) as { message: Buffer }
      dirReady ??= mkdir(options.mailDir, { recursive: true, mode: 0o700 })
      await dirReady
      const file = join(options.mailDir, `${mail.id}.eml`)
      await writeFile(file, info.message, { mode: 0o600 })
      options.logger.info({ file, mailLink: mail.link ?? null, devMailTransport: true }, 'mail written to a file (MAIL_DIR; SMTP_URL is not set): the link is logged for development')
    },
    close() {
      transporter.close()
    },
  }
}
