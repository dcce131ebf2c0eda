import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { SMTPServer, type SMTPServerOptions } from 'smtp-server'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/logger.ts'
import { createSmtpTransport, type MailTransport } from '../../src/mail/transport.ts'

interface Received {
  user: string | undefined
  secure: boolean
  to: string
}

/**
 * The SMTP settings of SMTP_URL against a real smtp-server in this process, which offers STARTTLS
 * (or speaks TLS from the start) with its built-in self-signed certificate and requires AUTH.
 */
async function startServer(options: Partial<SMTPServerOptions>) {
  const received: Received[] = []
  const server = new SMTPServer({
    authMethods: ['PLAIN', 'LOGIN'],
    // AUTH only once the connection is encrypted.
    allowInsecureAuth: false,
    disableReverseLookup: true,
    closeTimeout: 200,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === 'mailer' && auth.password === 'p@ss:word') callback(null, { user: auth.username })
      else callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }))
    },
    onData(stream, session, callback) {
      stream.resume()
      stream.on('end', () => {
        received.push({ user: session.user as string | undefined, secure: session.secure, to: session.envelope.rcptTo.map((r) => r.address).join(',') })
        callback()
      })
    },
    ...options,
  })
  server.on('error', () => undefined)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  return { received, port: (server.server.address() as AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) }
}

const mail = { id: 'msg-1', to: 'ada@example.com', subject: 'Hello', text: 'hi', html: '<p>hi</p>' }
const logger = createLogger('warn', new Writable({ write: (_c, _e, cb) => cb() }))
const transport = (smtpUrl: string) => createSmtpTransport({ smtpUrl, mailDir: '', from: 'Latchkey <no-reply@localhost>', messageIdDomain: 'localhost', logger, timeoutMs: 5000 })

describe('SMTP_URL: STARTTLS, implicit TLS and AUTH', () => {
  const cleanup: Array<() => unknown> = []
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c()
  })
  const track = <T extends MailTransport>(t: T) => (cleanup.push(() => t.close()), t)

  it('smtp:// upgrades with STARTTLS when offered, then authenticates with the URL\'s (percent-encoded) user and password', async () => {
    const server = await startServer({})
    cleanup.push(server.close)
    // The test server's certificate is self-signed: trusted here by option, never in a deployment.
    await track(transport(`smtp://mailer:p%40ss%3Aword@127.0.0.1:${server.port}?tls.rejectUnauthorized=false`)).send(mail)
    expect(server.received).toEqual([{ user: 'mailer', secure: true, to: 'ada@example.com' }])
  })

  it('smtps:// speaks TLS from the first byte', async () => {
    const server = await startServer({ secure: true })
    cleanup.push(server.close)
    await track(transport(`smtps://mailer:p%40ss%3Aword@127.0.0.1:${server.port}?tls.rejectUnauthorized=false`)).send(mail)
    expect(server.received).toEqual([{ user: 'mailer', secure: true, to: 'ada@example.com' }])
  })

  it('verifies the server certificate by default: an untrusted one (the test server has a self-signed, expired one) is refused, nothing sent', async () => {
    const server = await startServer({})
    cleanup.push(server.close)
    await expect(track(transport(`smtp://mailer:p%40ss%3Aword@127.0.0.1:${server.port}`)).send(mail)).rejects.toThrow(/certificate/i)
    expect(server.received).toEqual([])
  })

  it('a wrong password is an EAUTH failure, and nothing is sent', async () => {
    const server = await startServer({})
    cleanup.push(server.close)
    await expect(track(transport(`smtp://mailer:wrong@127.0.0.1:${server.port}?tls.rejectUnauthorized=false`)).send(mail)).rejects.toMatchObject({ code: 'EAUTH', responseCode: 535 })
    expect(server.received).toEqual([])
  })

  it('requireTLS=true refuses a server that does not offer STARTTLS', async () => {
    const server = await startServer({ disabledCommands: ['STARTTLS'], allowInsecureAuth: true })
    cleanup.push(server.close)
    await expect(track(transport(`smtp://mailer:p%40ss%3Aword@127.0.0.1:${server.port}?requireTLS=true`)).send(mail)).rejects.toMatchObject({ code: 'ETLS' })
    expect(server.received).toEqual([])
  })
})
