import { Secret, TOTP } from 'otpauth'

/** RFC 6238 as every authenticator app speaks it: SHA-1, 6 digits, 30-second steps. */
const PERIOD = 30
const DIGITS = 6
/** Codes one step early or late are accepted (clock drift, a code typed as it changed); no further. */
const WINDOW = 1

function totpOf(secretBase32: string, issuer = '', label = ''): TOTP {
  return new TOTP({ issuer, label, secret: Secret.fromBase32(secretBase32), algorithm: 'SHA1', digits: DIGITS, period: PERIOD })
}

/** A new secret: 160 random bits (RFC 4226 §4's recommendation), base32 as apps expect it. */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32
}

/** The otpauth:// URI an authenticator app reads from the QR code. */
export function totpUri(secretBase32: string, issuer: string, account: string): string {
  return totpOf(secretBase32, issuer, account).toString()
}

/** The time step (counter) of a moment, epoch ms. */
export function totpStep(nowMs: number): number {
  return Math.floor(nowMs / 1000 / PERIOD)
}

/**
 * The step a code belongs to when it is the code of the current step or one either side; null
 * otherwise. The caller refuses a step already used (replay).
 */
export function matchTotpCode(secretBase32: string, code: string, nowMs: number): number | null {
  if (!/^[0-9]{6}$/.test(code)) return null
  const delta = totpOf(secretBase32).validate({ token: code, timestamp: nowMs, window: WINDOW })
  return delta === null ? null : totpStep(nowMs) + delta
}

/** The code of a moment (tests, the CLI's examples). */
export function totpCode(secretBase32: string, nowMs: number): string {
  return totpOf(secretBase32).generate({ timestamp: nowMs })
}
