import { pino, type DestinationStream, type Logger } from 'pino'

/** Paths pino blanks in every log line: credentials must never reach a log (DESIGN §8). */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-latchkey-refresh"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.password',
  '*.current_password',
  '*.new_password',
  '*.refresh_token',
  '*.access_token',
  'password',
  'refresh_token',
  'access_token',
]

/**
 * A URL as logged: the path and the query's parameter names, never their values — a client that
 * puts a token in the query string (RFC 6750 §2.3, which Latchkey does not accept) must not get it
 * written to the log.
 */
export function redactQuery(url: string): string {
  const at = url.indexOf('?')
  if (at === -1) return url
  const names = url
    .slice(at + 1)
    .split('&')
    .filter(Boolean)
    .map((pair) => `${pair.split('=')[0]}=[redacted]`)
  return `${url.slice(0, at)}?${names.join('&')}`
}

interface LoggedRequest {
  method: string
  url: string
  host?: string
  ip?: string
  socket?: { remoteAddress?: string }
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      serializers: {
        req: (req: LoggedRequest) => ({ method: req.method, url: redactQuery(req.url), host: req.host, remoteAddress: req.ip ?? req.socket?.remoteAddress }),
      },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      base: { service: 'latchkey' },
    },
    destination,
  )
}
