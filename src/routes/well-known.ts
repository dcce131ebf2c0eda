import type { FastifyInstance } from 'fastify'
import type { KeyRing } from '../keys/key-ring.ts'

export interface WellKnownRoutesOptions {
  keys: KeyRing
  /** Seconds verifiers may cache the key set and the metadata; never longer than a key spends as `next`. */
  jwksMaxAge: number
  /** The `iss` of Latchkey's tokens. */
  issuer: string
  /** Where clients reach this deployment (PUBLIC_URL): the base of the URLs the metadata names. */
  publicUrl: string
}

/** The paths where discovery-based verifiers look for the metadata (RFC 8414 §3; OpenID Connect Discovery §4). */
export const METADATA_PATHS = ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'] as const

/**
 * Authorization server metadata (RFC 8414), holding only what is true of Latchkey: its issuer and
 * where its keys are. It has no OAuth authorization or token endpoint, so it supports no response
 * type and no grant type — said explicitly, because an absent `grant_types_supported` would mean
 * "authorization_code and implicit" (RFC 8414 §2). Served at the OpenID path too because that is
 * where get-jwks and express-oauth2-jwt-bearer look first; it is no OpenID provider (no ID tokens).
 */
export function authorizationServerMetadata(issuer: string, publicUrl: string) {
  return {
    issuer,
    jwks_uri: `${publicUrl}/.well-known/jwks.json`,
    response_types_supported: [] as string[],
    grant_types_supported: [] as string[],
    service_documentation: `${publicUrl}/docs`,
  }
}

export async function wellKnownRoutes(app: FastifyInstance, { keys, jwksMaxAge, issuer, publicUrl }: WellKnownRoutesOptions) {
  app.get('/.well-known/jwks.json', { config: { public: true } }, async (_request, reply) => {
    reply.header('cache-control', `public, max-age=${jwksMaxAge}`)
    return keys.current.jwks
  })

  const metadata = JSON.stringify(authorizationServerMetadata(issuer, publicUrl))
  for (const path of METADATA_PATHS) {
    app.get(path, { config: { public: true } }, async (_request, reply) => {
      reply.header('cache-control', `public, max-age=${jwksMaxAge}`)
      return reply.type('application/json; charset=utf-8').send(metadata)
    })
  }
}
