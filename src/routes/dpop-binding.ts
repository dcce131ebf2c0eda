import { checkDpopProof, DpopError, type DpopOptions } from '@latchkey/verifier'
import type { FastifyRequest } from 'fastify'
import type { DpopBinding } from '../accounts/auth-service.ts'

export type DpopBindingCheck = (request: FastifyRequest) => Promise<DpopBinding | undefined>

/**
 * The key a sign-in or refresh request proves (RFC 9449 §5): none without a `DPoP` header, or the
 * thumbprint of a proof that passes the same check as at a protected route (claims, server nonce
 * when required, single use). With DPoP off the header is ignored, as a server that does not support
 * it would; with DPoP required a request without one is refused. The routes using it are marked
 * `tokenEndpoint`, so the error handler answers these refusals with a 400 (RFC 9449 §5, §8).
 */
export function createDpopBindingCheck(dpop: DpopOptions | undefined): DpopBindingCheck {
  return async (request) => {
    if (!dpop) return undefined
    if (request.headers.dpop === undefined) {
      if (dpop.mode === 'required') throw new DpopError('invalid_dpop_proof', 'this server requires DPoP: send a DPoP proof with the request')
      return undefined
    }
    const proof = await checkDpopProof(dpop, request)
    return { jkt: proof.jkt }
  }
}
