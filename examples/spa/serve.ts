import { existsSync, readdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pathToFileURL } from 'node:url'

/**
 * A static server for the example SPA, on its own origin. It serves a fixed set of files (so no
 * path can escape this folder), the built @latchkey/client under /client/, and a generated
 * /config.js that tells the SPA where Latchkey is.
 */

const HTML = 'text/html; charset=utf-8'
const JS = 'text/javascript; charset=utf-8'
const CLIENT_DIST = new URL('../../packages/client/dist/', import.meta.url)
// The passkey pages' WebAuthn helper (a devDependency): its ES modules under /simplewebauthn/.
const WEBAUTHN_ESM = new URL('../../node_modules/@simplewebauthn/browser/esm/', import.meta.url)

// The pages mailed links open (…/verify-email?token=…) are the same document: app.js routes by path.
const PAGES = ['/', '/index.html', '/verify-email', '/reset-password', '/forgot-password']

function fileTable(): Record<string, { url: URL; type: string }> {
  if (!existsSync(CLIENT_DIST)) throw new Error('packages/client/dist is missing: run `npm run build:packages` first')
  const files: Record<string, { url: URL; type: string }> = {
    '/app.js': { url: new URL('app.js', import.meta.url), type: JS },
    '/account-page.js': { url: new URL('account-page.js', import.meta.url), type: JS },
    '/mail-pages.js': { url: new URL('mail-pages.js', import.meta.url), type: JS },
    '/ui.js': { url: new URL('ui.js', import.meta.url), type: JS },
    '/passkeys.js': { url: new URL('passkeys.js', import.meta.url), type: JS },
    '/mfa.js': { url: new URL('mfa.js', import.meta.url), type: JS },
    '/style.css': { url: new URL('style.css', import.meta.url), type: 'text/css; charset=utf-8' },
  }
  for (const page of PAGES) files[page] = { url: new URL('index.html', import.meta.url), type: HTML }
  for (const name of readdirSync(CLIENT_DIST)) {
    if (name.endsWith('.js')) files[`/client/${name}`] = { url: new URL(name, CLIENT_DIST), type: JS }
  }
  if (existsSync(WEBAUTHN_ESM)) {
    for (const name of readdirSync(WEBAUTHN_ESM, { recursive: true, encoding: 'utf8' })) {
      if (name.endsWith('.js')) files[`/simplewebauthn/${name}`] = { url: new URL(name, WEBAUTHN_ESM), type: JS }
    }
  }
  return files
}

export interface SpaServerOptions {
  /** Latchkey's base URL as the browser reaches it, e.g. http://localhost:3000. */
  apiUrl: string
  /** The SPA's DPoP switch starts on (a visitor's own choice, kept in localStorage, wins). */
  dpop?: boolean
  port?: number
  host?: string
}

export interface SpaServer {
  server: Server
  port: number
  close(): Promise<void>
}

export async function startSpaServer({ apiUrl, dpop = false, port = 0, host = '127.0.0.1' }: SpaServerOptions): Promise<SpaServer> {
  const api = new URL(apiUrl).origin
  const configJs = `export const API_URL = ${JSON.stringify(api)}\nexport const DPOP = ${JSON.stringify(dpop)}\n`
  // An in-memory access token is only as safe as the page is free of injected script: lock it down.
  const csp = `default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; connect-src ${api}; form-action 'none'; frame-ancestors 'none'; base-uri 'none'`

  const files = fileTable()
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://spa').pathname
    const headers = { 'content-security-policy': csp, 'x-content-type-options': 'nosniff', 'referrer-policy': 'strict-origin', 'cache-control': 'no-cache' }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, allow: 'GET, HEAD' }).end()
      return
    }
    if (path === '/config.js') {
      res.writeHead(200, { ...headers, 'content-type': 'text/javascript; charset=utf-8' }).end(configJs)
      return
    }
    const entry = files[path]
    if (!entry) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    readFile(entry.url).then(
      (body) => res.writeHead(200, { ...headers, 'content-type': entry.type }).end(req.method === 'HEAD' ? undefined : body),
      () => res.writeHead(500).end(),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, resolve)
  })
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

// `node examples/spa/serve.ts`: SPA_PORT (5173), SPA_HOST (127.0.0.1), LATCHKEY_URL (http://localhost:3000),
// SPA_DPOP (false: whether the DPoP switch starts on).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const apiUrl = process.env.LATCHKEY_URL ?? 'http://localhost:3000'
  const spa = await startSpaServer({ apiUrl, dpop: process.env.SPA_DPOP === 'true', port: Number(process.env.SPA_PORT ?? 5173), host: process.env.SPA_HOST ?? '127.0.0.1' })
  console.log(`example SPA on http://localhost:${spa.port} (Latchkey at ${apiUrl}; start it with CORS_ORIGINS=http://localhost:${spa.port})`)
  const stop = () => void spa.close().then(() => process.exit(0))
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}
