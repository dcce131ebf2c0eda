import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'

/**
 * A lean SMTP server (smtp-server) in the bench process: it counts accepted messages and their
 * Message-IDs (no parsing, so it takes little CPU from the server it measures). While `hold` is on
 * it reads each message and withholds the 250, so the sender waits as if the server were slow;
 * `release()` answers every held message.
 */
export interface SmtpSink {
  url: string
  accepted: number
  messageIds: Set<string>
  hold: boolean
  release(): void
  /** Resolves when `count` messages have been accepted, or rejects after `timeoutMs`. */
  waitForAccepted(count: number, timeoutMs: number): Promise<void>
  close(): Promise<void>
}

export async function startSmtpSink(): Promise<SmtpSink> {
  const held: (() => void)[] = []
  const waiters = new Set<() => void>()
  const sink = {
    url: '',
    accepted: 0,
    messageIds: new Set<string>(),
    hold: false,
    release() {
      sink.hold = false
      for (const answer of held.splice(0)) answer()
    },
    waitForAccepted(count: number, timeoutMs: number) {
      if (sink.accepted >= count) return Promise.resolve()
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (sink.accepted < count) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve()
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`SMTP sink: ${sink.accepted} of ${count} messages in ${timeoutMs} ms`))
        }, timeoutMs)
        waiters.add(check)
      })
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
  const server = new SMTPServer({
    authOptional: true,
    // nodemailer upgrades to STARTTLS whenever offered and would then refuse the self-signed certificate.
    hideSTARTTLS: true,
    disableReverseLookup: true,
    closeTimeout: 200,
    logger: false,
    onData(stream, _session, callback) {
      let head = ''
      stream.on('data', (chunk: Buffer) => {
        if (head.length < 4096) head += chunk.toString('latin1')
      })
      stream.on('end', () => {
        const answer = () => {
          const id = /^Message-ID: *(<[^>]+>)/im.exec(head)?.[1]
          if (id) sink.messageIds.add(id)
          sink.accepted++
          callback()
          for (const w of waiters) w()
        }
        if (sink.hold) held.push(answer)
        else answer()
      })
    },
  })
  server.on('error', () => undefined)
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  sink.url = `smtp://127.0.0.1:${(server.server.address() as AddressInfo).port}`
  return sink
}
