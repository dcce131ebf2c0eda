import { createHmac } from 'node:crypto'

/**
 * Email-first sign-in must not tell who has an account (or a passkey): an address without
 * passkeys gets credential ids made up from it with a server-side key, the same on every call and
 * on every instance sharing the key, shaped like real ones (one or two, 32 bytes, platform
 * transports). A browser finds no such credential, as it would for a passkey on another device.
 */
export function decoyCredentials(key: Uint8Array, email: string): Array<{ id: string; transports: string[] }> {
  const seed = createHmac('sha256', key).update(`passkey-decoy:${email}`).digest()
  const count = 1 + ((seed[0] ?? 0) % 2)
  return Array.from({ length: count }, (_, i) => ({
    id: createHmac('sha256', key).update(`passkey-decoy:${email}:${i}`).digest('base64url'),
    transports: ['hybrid', 'internal'],
  }))
}
