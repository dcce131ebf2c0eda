import { generateKeyPairSync } from 'node:crypto'
import express from 'express'
import jwt from 'jsonwebtoken'

// Reference peer: Express 5 + jsonwebtoken, the common tutorial setup (PEM strings, RS256 pinned).
const { privateKey, publicKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
})
const app = express()

app.get('/health', (_req, res) => {
  res.json({ status: 'ok' })
})
app.get('/token', (_req, res) => {
  res.json({ token: jwt.sign({ sub: 'user-1', scope: 'user', sid: 'session-1' }, privateKey, { algorithm: 'RS256', expiresIn: '10m' }) })
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
