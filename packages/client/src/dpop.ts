// DPoP (RFC 9449): the client holds an ES256 key pair whose private half WebCrypto never lets out
// (non-extractable), and signs a proof with it for every token request and protected call. A token
// stolen from a log or a proxy is then useless without the key.
import type { FetchLike } from './types.ts'

export interface DpopKeyPair {
  privateKey: CryptoKey
  publicKey: CryptoKey
}

/**
 * Where the key pair lives between app starts. Browsers: IndexedDB (a CryptoKey survives structured
 * clone, still non-extractable), so a reload proves the key the session is bound to. Elsewhere: memory.
 */
export interface DpopKeyStore {
  load(): Promise<DpopKeyPair | undefined>
  /** Keeps `fresh` unless a key is already kept (another tab was first): resolves to the kept one. */
  keep(fresh: DpopKeyPair): Promise<DpopKeyPair>
  clear(): Promise<void>
}

/** The key pair in memory (Node, tests): `initial` when given, else created on first use. */
export function memoryDpopKeyStore(initial?: DpopKeyPair): DpopKeyStore {
  let kept = initial
  return {
    load: async () => kept,
    keep: async (fresh) => (kept ??= fresh),
    clear: async () => void (kept = undefined),
  }
}

const STORE = 'keys'

function done<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error)
  })
}

/** The key pair in IndexedDB database `name` under `id`; `add` (not `put`) so two tabs agree on one key. */
export function indexedDbDpopKeyStore(name = 'latchkey-dpop', id = 'default'): DpopKeyStore {
  async function run<T>(mode: IDBTransactionMode, fn: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const open = indexedDB.open(name, 1)
    open.onupgradeneeded = () => open.result.createObjectStore(STORE)
    const db = await done(open)
    try {
      return await done(fn(db.transaction(STORE, mode).objectStore(STORE)))
    } finally {
      db.close()
    }
  }
  const load = async () => ((await run('readonly', (s) => s.get(id))) as DpopKeyPair | undefined) ?? undefined
  return {
    load,
    async keep(fresh) {
      try {
        await run('readwrite', (s) => s.add(fresh, id))
        return fresh
      } catch {
        return (await load()) ?? fresh
      }
    },
    clear: async () => void (await run('readwrite', (s) => s.delete(id))),
  }
}

/** The default store: IndexedDB where there is one, memory elsewhere (Node, React Native). */
export function defaultDpopKeyStore(name: string): DpopKeyStore {
  return typeof indexedDB === 'undefined' ? memoryDpopKeyStore() : indexedDbDpopKeyStore(name)
}

const encoder = new TextEncoder()

function base64url(bytes: ArrayBuffer | Uint8Array): string {
  let binary = ''
  for (const b of new Uint8Array(bytes)) binary += String.fromCharCode(b)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

const encodeJson = (value: unknown) => base64url(encoder.encode(JSON.stringify(value)))

/** A new ES256 key pair; the private key cannot be exported, only used to sign. */
export async function generateDpopKey(): Promise<DpopKeyPair> {
  return (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as DpopKeyPair
}

export interface ProofTarget {
  htm: string
  /** The request URL; query and fragment are left out (RFC 9449 §4.2). */
  htu: string
  /** Binds the proof to this access token (`ath`), on calls to protected routes. */
  accessToken?: string | undefined
  nonce?: string | undefined
}

export type DpopSigner = ReturnType<typeof createDpopSigner>

/**
 * One client's proofs: the key (loaded once, created on first use), the last server nonce seen, and
 * fetch with a proof that is repeated once with the server's nonce when it answers `use_dpop_nonce`.
 */
export function createDpopSigner(store: DpopKeyStore, clock: { now(): number } = Date) {
  let header: Promise<{ key: CryptoKey; header: string }> | undefined
  let nonce: string | undefined

  function signingKey() {
    header ??= (async () => {
      const pair = (await store.load()) ?? (await store.keep(await generateDpopKey()))
      const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey)
      return { key: pair.privateKey, header: encodeJson({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } }) }
    })().catch((err: unknown) => {
      header = undefined
      throw err
    })
    return header
  }

  async function proof({ htm, htu, accessToken, nonce: n = nonce }: ProofTarget): Promise<string> {
    const { key, header: head } = await signingKey()
    const claims: Record<string, unknown> = { jti: crypto.randomUUID(), htm: htm.toUpperCase(), htu: htu.split(/[?#]/)[0], iat: Math.floor(clock.now() / 1000) }
    if (accessToken) claims.ath = base64url(await crypto.subtle.digest('SHA-256', encoder.encode(accessToken)))
    if (n) claims.nonce = n
    const input = `${head}.${encodeJson(claims)}`
    return `${input}.${base64url(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, encoder.encode(input)))}`
  }

  /** Remembers a nonce the server sent; true when the response asks for the request again with it. */
  async function askedForNonce(res: Response): Promise<boolean> {
    const next = res.headers.get('DPoP-Nonce')
    if (!next) return false
    nonce = next
    if (res.status !== 400 && res.status !== 401) return false
    if ((res.headers.get('WWW-Authenticate') ?? '').includes('use_dpop_nonce')) return true
    const body = (await res.clone().json().catch(() => null)) as { code?: unknown; error?: unknown } | null
    return body?.code === 'use_dpop_nonce' || body?.error === 'use_dpop_nonce'
  }

  return {
    proof,
    /** `fetch` with a `DPoP` proof (and `Authorization: DPoP` when `accessToken` is given). */
    async fetch(fetchImpl: FetchLike, url: string, init: RequestInit, accessToken?: string): Promise<Response> {
      for (let attempt = 0; ; attempt++) {
        const headers = new Headers(init.headers)
        headers.set('DPoP', await proof({ htm: init.method ?? 'GET', htu: url, accessToken }))
        if (accessToken) headers.set('Authorization', `DPoP ${accessToken}`)
        const res = await fetchImpl(url, { ...init, headers })
        if (attempt === 0 && (await askedForNonce(res))) continue
        return res
      }
    },
    /** Forgets the key: the next proof is signed by a new one (sessions bound to the old one end). */
    async reset() {
      header = undefined
      nonce = undefined
      await store.clear()
    },
  }
}
