// A mobile-style client in Node: both tokens in the body, every token DPoP-bound to a key the app
// cannot export — @latchkey/client with `dpop: true` (WebCrypto, key in memory outside a browser).
// `node examples/mobile/client.ts <base-url> <email> <password>` signs in, calls GET /me, refreshes,
// calls it again, and signs out, printing each step as one JSON line with the HTTP status Latchkey
// answered (after any `use_dpop_nonce` retry, which the client makes on its own).
import { createLatchkeyClient, memoryStorage } from '@latchkey/client'

const [base = 'http://127.0.0.1:3000', email, password] = process.argv.slice(2)
if (!email || !password) {
  process.stderr.write('usage: node examples/mobile/client.ts <base-url> <email> <password>\n')
  process.exit(2)
}

let lastStatus = 0
const client = createLatchkeyClient({
  baseUrl: base,
  mode: 'body',
  // On a device: a wrapper over the Keychain/Keystore (expo-secure-store, react-native-keychain).
  storage: memoryStorage(),
  dpop: true,
  tabs: false,
  fetch: async (input, init) => {
    const res = await fetch(input, init)
    lastStatus = res.status
    return res
  },
})
const step = (name: string, body: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ step: name, status: lastStatus, ...body })}\n`)

try {
  step('login', { token_type: (await client.signIn(email, password)).tokenType })
  await client.me()
  step('me')
  step('refresh', { token_type: (await client.refresh()).tokenType })
  await client.me()
  step('me again')
  await client.signOut()
  step('logout')
} catch (err) {
  step('failed', { code: (err as { code?: string }).code })
  process.exitCode = 1
} finally {
  client.close()
}
