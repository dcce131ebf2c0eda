import type { AddressInfo } from 'node:net'
import { simpleParser } from 'mailparser'
import { SMTPServer } from 'smtp-server'

export interface ReceivedMail {
  messageId: string
  to: string
  from: string
  subject: string
  text: string
  html: string
  /** The first http(s) link of the text part. */
  link: string | undefined
  /** Its `token` query parameter. */
  token: string | undefined
}

export interface TestSmtpServer {
  port: number
  url: string
  /** Every message the server accepted (answered 250 to), in order. */
  received: ReceivedMail[]
  /** Resolves with the first n accepted messages matching `match`, or throws after `timeoutMs`. */
  waitFor(match: (m: ReceivedMail) => boolean, options?: { count?: number; timeoutMs?: number }): Promise<ReceivedMail[]>
  /** While true, a message's data is read but never answered: the sender waits as if the server hung mid-send. */
  hold: boolean
  /** Resolves once `count` messages have been held (read, never answered). */
  waitForHeld(count?: number, timeoutMs?: number): Promise<void>
  /** Closes the listener (the port refuses connections) until start() again. */
  stop(): Promise<void>
  start(): Promise<void>
  close(): Promise<void>
}

/** A real SMTP server (smtp-server) in this process; messages are parsed with mailparser. */
export async function startSmtpServer(port = 0): Promise<TestSmtpServer> {
  const received: ReceivedMail[] = []
  const waiters = new Set<() => void>()
  let server: SMTPServer
  const state = { hold: false, held: 0 }

  const make = () =>
    new SMTPServer({
      authOptional: true,
      // nodemailer upgrades to STARTTLS whenever offered and would then refuse the self-signed certificate.
      hideSTARTTLS: true,
      disableReverseLookup: true,
      closeTimeout: 200,
      logger: false,
      onData(stream, _session, callback) {
        const chunks: Buffer[] = []
        stream.on('data', (c: Buffer) => chunks.push(c))
        stream.on('end', () => {
          if (state.hold) {
            state.held++
            for (const w of waiters) w()
            return // never answered
          }
          void simpleParser(Buffer.concat(chunks)).then((mail) => {
            const text = mail.text ?? ''
            const link = /https?:\/\/\S+/.exec(text)?.[0]
            received.push({
              messageId: mail.messageId ?? '',
              to: Array.isArray(mail.to) ? mail.to.map((a) => a.text).join(', ') : (mail.to?.text ?? ''),
              from: mail.from?.text ?? '',
              subject: mail.subject ?? '',
              text,
              html: typeof mail.html === 'string' ? mail.html : '',
              link,
              token: link ? (new URL(link).searchParams.get('token') ?? undefined) : undefined,
            })
            callback()
            for (const w of waiters) w()
          }, callback)
        })
      },
    })

  const listen = async (p: number) => {
    server = make()
    server.on('error', () => undefined)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(p, '127.0.0.1', () => resolve())
    })
    return (server.server.address() as AddressInfo).port
  }
  const boundPort = await listen(port)
  const closeServer = () => new Promise<void>((resolve) => server.close(() => resolve()))

  return {
    port: boundPort,
    url: `smtp://127.0.0.1:${boundPort}`,
    received,
    get hold() {
      return state.hold
    },
    set hold(value: boolean) {
      state.hold = value
    },
    async waitForHeld(count = 1, timeoutMs = 10_000) {
      if (state.held >= count) return
      await new Promise<void>((resolve, reject) => {
        const check = () => {
          if (state.held >= count) {
            clearTimeout(timer)
            waiters.delete(check)
            resolve()
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`timed out waiting for ${count} held message(s)`))
        }, timeoutMs)
        waiters.add(check)
      })
    },
    async waitFor(match, { count = 1, timeoutMs = 10_000 } = {}) {
      const found = () => received.filter(match)
      if (found().length >= count) return found().slice(0, count)
      return new Promise<ReceivedMail[]>((resolve, reject) => {
        const check = () => {
          if (found().length >= count) {
            clearTimeout(timer)
            waiters.delete(check)
            resolve(found().slice(0, count))
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`timed out waiting for ${count} mail(s); received: ${received.map((m) => `${m.to}: ${m.subject}`).join(' | ') || 'none'}`))
        }, timeoutMs)
        waiters.add(check)
      })
    },
    stop: closeServer,
    async start() {
      await listen(boundPort)
    },
    close: closeServer,
  }
}
