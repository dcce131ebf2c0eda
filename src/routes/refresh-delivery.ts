import type { FastifyReply, FastifyRequest } from 'fastify'
import type { TokenResponse } from '../accounts/auth-service.ts'
import { AppError } from '../errors.ts'
import { REFRESH_MODE_HEADER, type CsrfCheck } from '../plugins/csrf.ts'
import type { RefreshCookie } from '../plugins/refresh-cookie.ts'

/** `body`: the refresh token travels in JSON (native apps). `cookie`: only in the HttpOnly cookie (browsers). */
export type DeliveryMode = 'body' | 'cookie'

/** A token response in cookie mode: the same fields, without the refresh token. */
export type BrowserTokenResponse = Omit<TokenResponse, 'refresh_token'>

export interface RefreshDeliveryDeps {
  cookie: RefreshCookie
  csrf: CsrfCheck
}

export type RefreshDelivery = ReturnType<typeof createRefreshDelivery>

/**
 * How a refresh token gets to the client and back. A request opts into cookie mode with
 * `X-Latchkey-Refresh: cookie`; every request in cookie mode, and every request that would use the
 * cookie, passes the CSRF check first.
 */
export function createRefreshDelivery({ cookie, csrf }: RefreshDeliveryDeps) {
  return {
    /** The mode the request asks for; a cookie-mode request that fails the CSRF check is refused here. */
    async requestedMode(request: FastifyRequest): Promise<DeliveryMode> {
      const header = request.headers[REFRESH_MODE_HEADER]
      if (header === undefined) return 'body'
      if (String(header).trim().toLowerCase() !== 'cookie') {
        throw new AppError('validation_failed', `${REFRESH_MODE_HEADER} must be "cookie"`, {
          errors: [{ field: REFRESH_MODE_HEADER, message: 'must be "cookie"' }],
        })
      }
      await csrf(request)
      return 'cookie'
    },

    /**
     * The refresh token presented: the body's if there is one, else the cookie's. A cookie sent
     * without the cookie-mode header is a request that did not pass CSRF defence: refused, not ignored,
     * so the attempt is audited.
     */
    async presentedToken(request: FastifyRequest, bodyToken: string | undefined, mode: DeliveryMode): Promise<string | undefined> {
      if (bodyToken !== undefined) return bodyToken
      const fromCookie = cookie.read(request)
      if (fromCookie !== undefined && mode === 'body') await csrf(request)
      return fromCookie
    },

    /** The response body for `mode`; in cookie mode the refresh token goes into the cookie instead. */
    deliver(reply: FastifyReply, tokens: TokenResponse, mode: DeliveryMode): TokenResponse | BrowserTokenResponse {
      if (mode === 'body') return tokens
      const { refresh_token: refreshToken, ...rest } = tokens
      cookie.set(reply, refreshToken, tokens.refresh_expires_in)
      return rest
    },

    /** In cookie mode a refused or ended session also drops the cookie, so the browser stops sending it. */
    endCookie(reply: FastifyReply, mode: DeliveryMode): void {
      if (mode === 'cookie') cookie.clear(reply)
    },
  }
}

/** The error for a refresh with no token anywhere: a cookie-mode client is simply not signed in. */
export function missingRefreshToken(mode: DeliveryMode): AppError {
  if (mode === 'cookie') return new AppError('invalid_refresh_token', 'no refresh cookie was sent; sign in again')
  return new AppError('validation_failed', 'invalid refresh_token', { errors: [{ field: 'refresh_token', message: 'Required' }] })
}
