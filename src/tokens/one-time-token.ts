import { createHash, randomBytes } from 'node:crypto'

/**
 * The single-use secrets of mail links (and any later one-time secret): a recognisable prefix and
 * 256 random bits; only the SHA-256 hash is stored (store/one-time-tokens.ts), so a database dump
 * opens no link. The purpose is bound in the store row, not in the string, so a token presented to
 * the wrong endpoint is recognised as such.
 */
export const ONE_TIME_TOKEN_PREFIX = 'lkt_'
const SHAPE = /^lkt_[A-Za-z0-9_-]{43}$/

export function mintOneTimeToken(): string {
  return ONE_TIME_TOKEN_PREFIX + randomBytes(32).toString('base64url')
}

/** Anything else is refused without a lookup. */
export function isOneTimeTokenShaped(value: string): boolean {
  return SHAPE.test(value)
}

export function hashOneTimeToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}
