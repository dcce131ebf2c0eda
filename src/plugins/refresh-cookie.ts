import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.ts'

export interface RefreshCookie {
  readonly name: string
  /** The refresh token the browser sent, if any (needs @fastify/cookie registered). */
  read(request: FastifyRequest): string | undefined
  /** Sets the token; `sessionSeconds` is the session's remaining lifetime, the default Max-Age. */
  set(reply: FastifyReply, token: string, sessionSeconds: number): void
  clear(reply: FastifyReply): void
}

/**
 * The refresh token's cookie. HttpOnly so script (and so XSS) never reads it; Secure, which
 * browsers honour on http://localhost too; SameSite=Strict so no cross-site request carries it;
 * scoped to the auth routes so it is not sent with every API call.
 */
export function createRefreshCookie(options: Config['refreshCookie']): RefreshCookie {
  const attributes = {
    httpOnly: true,
    secure: true,
    sameSite: 'strict',
    path: options.path,
    ...(options.domain ? { domain: options.domain } : {}),
  } as const

  return {
    name: options.name,
    read(request) {
      const value = request.cookies[options.name]
      return value === undefined || value === '' ? undefined : value
    },
    set(reply, token, sessionSeconds) {
      // A cookie that outlives its session is useless; one that dies first ends the session early by choice.
      const maxAge = Math.max(0, Math.min(sessionSeconds, options.maxAge ?? sessionSeconds))
      reply.setCookie(options.name, token, { ...attributes, maxAge })
    },
    clear(reply) {
      // Path and Domain must match the cookie's for the browser to drop it.
      reply.clearCookie(options.name, attributes)
    },
  }
}
