export { createLatchkeyClient, type LatchkeyClient, type LatchkeyClientOptions } from './client.ts'
export { memoryStorage, type DeliveryMode } from './delivery.ts'
export {
  createDpopSigner,
  generateDpopKey,
  indexedDbDpopKeyStore,
  memoryDpopKeyStore,
  type DpopKeyPair,
  type DpopKeyStore,
  type DpopSigner,
  type ProofTarget,
} from './dpop.ts'
export { ERROR_CODES, type ErrorCode } from './error-codes.ts'
export type { WebauthnStep } from './passkeys-api.ts'
export { LatchkeyError, type ClientErrorCode, type Problem } from './latchkey-error.ts'
export { MfaRequiredError } from './mfa-required.ts'
export { refreshDelayMs } from './refresh-schedule.ts'
export type { ChannelLike, LockManagerLike } from './tab-coordinator.ts'
export type { AuthEvent, AuthListener, ClientClock, FetchLike, Me, PasskeyView, RefreshTokenStorage, Session, SessionView, TokenResponse } from './types.ts'
