import type { Passkey, PasskeyDeviceType, WebauthnChallenge, WebauthnChallengePurpose } from './passkeys.ts'
import type { Row } from './rows.ts'

/** Row → domain mappers for the passkey tables, shared by both SQL adapters (rows.ts explains the number handling). */

const nullableNumber = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))

export function toPasskey(r: Row): Passkey {
  return {
    id: String(r.id),
    userId: String(r.user_id),
    credentialId: String(r.credential_id),
    publicKey: String(r.public_key),
    counter: Number(r.counter),
    transports: String(r.transports).split(',').filter(Boolean),
    backedUp: r.backed_up === true || Number(r.backed_up) === 1,
    deviceType: String(r.device_type) as PasskeyDeviceType,
    aaguid: String(r.aaguid),
    name: String(r.name),
    createdAt: Number(r.created_at),
    lastUsedAt: nullableNumber(r.last_used_at),
    counterRegressedAt: nullableNumber(r.counter_regressed_at),
  }
}

export function toWebauthnChallenge(r: Row): WebauthnChallenge {
  return {
    hash: String(r.hash),
    purpose: String(r.purpose) as WebauthnChallengePurpose,
    userId: r.user_id === null || r.user_id === undefined ? null : String(r.user_id),
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    consumedAt: nullableNumber(r.consumed_at),
  }
}
