import { DpopError, verifyDpopProof, type DpopOptions } from '@latchkey/verifier'
import type { FastifyRequest } from 'fastify'
import type { DpopBinding } from '../accounts/auth-service.ts'

export type DpopBindingCheck = (request: FastifyRequest) => Promise<DpopBinding | undefined>

/**
 * The key a sign-in or refresh request proves (RFC 9449 §5): none without a `DPoP` header, or the
 * thumbprint of a proof that passes every check and was never used before. With DPoP off the header
 * is ignored, as a server that does not support it would; with DPoP required a request without one
 * is refused.
 */
export function createDpopBindingCheck(dpop: DpopOptions | undefined): DpopBindingCheck {
  return async (request) => {
    if (!dpop) return undefined
    const header = request.headers.dpop
    if (header === undefined) {
      if (dpop.mode === 'required') throw new DpopError('invalid_dpop_proof', 'this server requires DPoP: send a DPoP proof with the request')
      return undefined
    }
    if (typeof header !== 'string' || header === '') throw new DpopError('invalid_dpop_proof', 'send one DPoP header')
    const now = dpop.now()
    const path = request.url.split('?')[0] ?? '/'
    const proof = verifyDpopProof(header, { method: request.method, url: `${dpop.publicUrl}${path}` }, { now, maxAge: dpop.maxAge, clockTolerance: dpop.clockTolerance })
    if (!(await dpop.replay.firstUse(proof.jkt, proof.jti, proof.iat + dpop.maxAge + 2 * dpop.clockTolerance, now))) {
      throw new DpopError('invalid_dpop_proof', 'this DPoP proof was used before: sign a new one for each request')
    }
    return { jkt: proof.jkt }
  }
}
