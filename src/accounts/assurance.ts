import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'

/**
 * How strongly and when a user signed in: what every session records at sign-in and every access
 * token of that session carries (`amr`, `acr`, `auth_time`). Computed here only, from the methods a
 * sign-in satisfied; a refresh copies it and never raises it.
 */
export interface Assurance {
  /** RFC 8176 method names, e.g. ["pwd"], ["pwd","otp"]. */
  amr: string[]
  /** The configured level name: ACR_SINGLE_FACTOR or ACR_MULTI_FACTOR. */
  acr: string
  /** Epoch ms of the sign-in (the token's `auth_time` is this in seconds). */
  authTime: number
}

// RFC 8176 methods by the kind of factor they prove. A sign-in is multi-factor when it proves two
// kinds, or when a single method is itself multi-factor (`mfa`, e.g. a passkey with user verification).
const FACTOR_KIND: Readonly<Record<string, 'knowledge' | 'possession' | 'inherence'>> = {
  pwd: 'knowledge',
  pin: 'knowledge',
  kba: 'knowledge',
  otp: 'possession',
  hwk: 'possession',
  swk: 'possession',
  sms: 'possession',
  tel: 'possession',
  sc: 'possession',
  fpt: 'inherence',
  face: 'inherence',
  iris: 'inherence',
  retina: 'inherence',
  vbm: 'inherence',
}

export function isMultiFactor(amr: readonly string[]): boolean {
  if (amr.includes('mfa')) return true
  return new Set(amr.map((m) => FACTOR_KIND[m]).filter((k) => k !== undefined)).size >= 2
}

/** The assurance of a sign-in that has just satisfied `amr`, at the clock's now. */
export function assuranceOf(amr: readonly string[], clock: Clock, config: Pick<Config, 'assurance'>): Assurance {
  const methods = [...new Set(amr)]
  return {
    amr: methods,
    acr: isMultiFactor(methods) ? config.assurance.multiFactorAcr : config.assurance.singleFactorAcr,
    authTime: clock.now(),
  }
}
