import { createHmac } from 'node:crypto'

/**
 * RFC 6238 written out here, apart from the library the server uses, so tests compute codes the
 * way any authenticator app does: HMAC-SHA1 of the 30-second counter, dynamic truncation, 6 digits.
 */
export function base32Decode(input: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = ''
  for (const c of input.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(c)
    if (v < 0) throw new Error(`not base32: ${c}`)
    bits += v.toString(2).padStart(5, '0')
  }
  const bytes = bits.match(/.{8}/g) ?? []
  return Buffer.from(bytes.map((b) => parseInt(b, 2)))
}

export function totpAt(secretBase32: string, epochMs: number): string {
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(Math.floor(epochMs / 1000 / 30)))
  const mac = createHmac('sha1', base32Decode(secretBase32)).update(counter).digest()
  const offset = mac[mac.length - 1]! & 0x0f
  const n = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000
  return String(n).padStart(6, '0')
}

/** The RFC 6238 Appendix B check of this helper: SHA-1 seed "12345678901234567890" at 59 s → 94287082 (8 digits). */
export const RFC6238_SEED_BASE32 = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'
