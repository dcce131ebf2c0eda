import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { GeneratedKey } from '../../src/keys/generate-key.ts'
import { toPublicJwk } from '../../src/keys/key-set.ts'

export type JwksBehaviour = 'ok' | 'error' | 'malformed' | 'huge' | 'slow' | 'trickle'

/** A real HTTP JWKS endpoint whose keys and failure mode a test sets, counting every fetch. */
export interface JwksServer {
  url: string
  fetches: number
  keys: GeneratedKey[]
  behaviour: JwksBehaviour
  close(): Promise<void>
}

export async function startJwksServer(keys: GeneratedKey[]): Promise<JwksServer> {
  const state: JwksServer = { url: '', fetches: 0, keys, behaviour: 'ok', close: async () => {} }
  const server: Server = createServer((req, res) => {
    state.fetches++
    switch (state.behaviour) {
      case 'error':
        res.writeHead(503).end()
        return
      case 'malformed':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": [')
        return
      case 'huge': {
        // Chunked, with no Content-Length to refuse up front: the cap must stop the read itself.
        res.writeHead(200, { 'content-type': 'application/json' })
        const doc = JSON.stringify({ keys: state.keys.map((k) => toPublicJwk(k.kid, k.publicKey, k.alg)), pad: 'x'.repeat(1024 * 1024) })
        for (let i = 0; i < doc.length; i += 8192) res.write(doc.slice(i, i + 8192))
        res.end()
        return
      }
      case 'slow':
        return // never answers; the verifier's timeout must end it
      case 'trickle': {
        res.writeHead(200, { 'content-type': 'application/json' })
        const t = setInterval(() => res.write(' '), 50)
        res.on('close', () => clearInterval(t))
        return
      }
      case 'ok':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys.map((k) => toPublicJwk(k.kid, k.publicKey, k.alg)) }))
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`
  state.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return state
}
