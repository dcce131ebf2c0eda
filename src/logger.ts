import type { FastifyBaseLogger } from 'fastify'
import { pino, type Bindings, type ChildLoggerOptions, type DestinationStream, type Logger } from 'pino'

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

type LogMethod = (...args: unknown[]) => void
type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'

/**
 * Fastify's per-request child logger, made only when the request logs something. Creating a pino
 * child with redaction configured costs ~1 µs, on every request; at the levels a busy server runs
 * (warn and above), most requests never log, so most requests never pay it. Every log call goes to
 * a real pino child carrying the request id, exactly as Fastify's default would.
 */
export class LazyChildLogger {
  readonly #parent: Logger
  readonly #bindings: Bindings
  readonly #options: ChildLoggerOptions
  #child: Logger | undefined

  constructor(parent: Logger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
  }

  #real(): Logger {
    return (this.#child ??= this.#parent.child(this.#bindings, this.#options))
  }

  #at(level: LogLevel, args: unknown[]): void {
    // A route-level log level lives on the child, so only the child can tell.
    if (this.#child !== undefined || this.#options.level !== undefined || this.#parent.isLevelEnabled(level)) {
      ;(this.#real()[level] as LogMethod)(...args)
    }
  }

  get level(): string {
    return this.#child?.level ?? this.#options.level ?? this.#parent.level
  }
  set level(level: string) {
    this.#real().level = level
  }
  isLevelEnabled(level: string): boolean {
    return this.#child !== undefined || this.#options.level !== undefined ? this.#real().isLevelEnabled(level) : this.#parent.isLevelEnabled(level)
  }
  trace(...args: unknown[]): void {
    this.#at('trace', args)
  }
  debug(...args: unknown[]): void {
    this.#at('debug', args)
  }
  info(...args: unknown[]): void {
    this.#at('info', args)
  }
  warn(...args: unknown[]): void {
    this.#at('warn', args)
  }
  error(...args: unknown[]): void {
    this.#at('error', args)
  }
  fatal(...args: unknown[]): void {
    this.#at('fatal', args)
  }
  silent(): void {}
  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.#real().child(bindings, options)
  }
  bindings(): Bindings {
    return this.#real().bindings()
  }
}

/** Fastify's `childLoggerFactory`: a LazyChildLogger per request (for a pino logger; others get a plain child). */
export function lazyChildLoggerFactory(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  const parent = logger as Partial<Logger>
  if (typeof parent.isLevelEnabled !== 'function' || typeof parent.bindings !== 'function') return logger.child(bindings, options)
  return new LazyChildLogger(logger as Logger, bindings, options) as unknown as FastifyBaseLogger
}
