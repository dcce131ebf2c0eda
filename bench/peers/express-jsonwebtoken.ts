import { readFileSync } from 'node:fs'
import express from 'express'
import jwt from 'jsonwebtoken'

// Reference peer: Express 5 + jsonwebtoken, the common tutorial setup (a PEM string, RS256 pinned).
// It verifies with the public key the bench passes in (Latchkey's), so it is sent the very same
// first-seen tokens as Latchkey.
const publicKey = readFileSync(process.env.VERIFY_KEY_FILE!, 'utf8')
const app = express()

app.get('/health', (_req, res) => {
  res.json({ status: 'ok' })
})
app.get('/protected', (req, res) => {
  const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
  try {
    if (!token) throw new Error('no token')
    res.json(jwt.verify(token, publicKey, { algorithms: ['RS256'] }))
  } catch {
    res.status(401).json({ error: 'invalid_token' })
  }
})

app.listen(Number(process.env.PORT), '127.0.0.1')
