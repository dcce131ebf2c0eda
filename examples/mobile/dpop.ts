// DPoP (RFC 9449) for a client: one ES256 key pair whose private half WebCrypto never lets out
// (non-extractable), and a proof signed with it for every request. The same module runs in browsers
// and in Node ≥ 20 / React Native with a WebCrypto implementation.

const encoder = new TextEncoder()

/** The client's key pair (a WebCrypto CryptoKeyPair). */
export interface DpopKeyPair {
  privateKey: InstanceType<typeof CryptoKey>
  publicKey: InstanceType<typeof CryptoKey>
}

function base64url(bytes: ArrayBuffer | Uint8Array): string {
  let binary = ''
  for (const b of new Uint8Array(bytes)) binary += String.fromCharCode(b)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

const encodeJson = (value: unknown): string => base64url(encoder.encode(JSON.stringify(value)))

/**
 * A new key pair. The private key is non-extractable: script can sign with it but never read it, so
 * an XSS or a stolen backup of storage cannot take it elsewhere. A CryptoKeyPair can be kept in
 * IndexedDB (structured clone) so a reload proves the same key.
 */
export async function createDpopKey(): Promise<DpopKeyPair> {
  return (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as DpopKeyPair
}

/** The proof for one request: `htm` and `htu` name it, `ath` binds the access token, `nonce` if the server asked for one. */
export interface ProofTarget {
  htm: string
  htu: string
  accessToken?: string | undefined
  nonce?: string | undefined
}

export async function dpopProof(keyPair: DpopKeyPair, { htm, htu, accessToken, nonce }: ProofTarget): Promise<string> {
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', keyPair.publicKey)
  const claims: Record<string, unknown> = { jti: crypto.randomUUID(), htm, htu: htu.split(/[?#]/)[0], iat: Math.floor(Date.now() / 1000) }
  if (accessToken) claims.ath = base64url(await crypto.subtle.digest('SHA-256', encoder.encode(accessToken)))
  if (nonce) claims.nonce = nonce
  const input = `${encodeJson({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } })}.${encodeJson(claims)}`
  const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, keyPair.privateKey, encoder.encode(input))
  return `${input}.${base64url(signature)}`
}

/**
 * fetch with a proof: retries once with the server's nonce when it answers `use_dpop_nonce`
 * (RFC 9449 §8), and remembers that nonce for the next requests.
 */
export function createDpopFetch(keyPair: DpopKeyPair, fetchImpl: typeof fetch = fetch) {
  let nonce: string | undefined
  return async function dpopFetch(url: string, init: RequestInit = {}, accessToken?: string): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers(init.headers)
      headers.set('DPoP', await dpopProof(keyPair, { htm: init.method ?? 'GET', htu: url, accessToken, nonce }))
      if (accessToken) headers.set('Authorization', `DPoP ${accessToken}`)
      const res = await fetchImpl(url, { ...init, headers })
      const next = res.headers.get('DPoP-Nonce')
      if (next) nonce = next
      if (attempt === 0 && res.status === 401 && next && (res.headers.get('WWW-Authenticate') ?? '').includes('use_dpop_nonce')) continue
      return res
    }
  }
}
