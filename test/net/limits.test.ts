import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { openSocket, parseRawResponse, rawExchange } from '../helpers/raw-http.ts'

// Short limits so each slow-client case settles in about a second.
const LIMITS = {
  HEADERS_TIMEOUT: '0.5',
  REQUEST_TIMEOUT: '1',
  KEEP_ALIVE_TIMEOUT: '1.5',
  MAX_HEADER_SIZE: '2048',
  MAX_CONNECTIONS: '6',
  MAX_REQUESTS_PER_SOCKET: '3',
  BODY_LIMIT: '2048',
}

const request = (path: string, headers = '') => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n`

function expectProblem(data: string, status: number, code: string) {
  const res = parseRawResponse(data)
  expect(res.status, data.slice(0, 200)).toBe(status)
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
  expect(JSON.parse(res.body)).toMatchObject({ status, code })
  return res
}

describe('connection limits over real TCP', () => {
  let t: TestApp
  let port: number
  beforeAll(async () => {
    t = await createTestApp({ env: { LOG_LEVEL: 'silent', ...LIMITS } })
    await t.app.listen({ host: '127.0.0.1', port: 0 })
    port = (t.app.server.address() as { port: number }).port
  })
  afterAll(() => t.close())

  it('a slowloris dribbling headers gets 408 request_timeout and a close within HEADERS_TIMEOUT', async () => {
    const dribble = ['POST /auth/login HTTP/1.1\r\n', 'Host: 127.0.0.1\r\n', ...Array.from({ length: 40 }, (_, i) => `X-Slow-${i}: y\r\n`)]
    const out = await rawExchange(port, dribble, { intervalMs: 100, waitMs: 3000 })
    expect(out.closed).toBe(true)
    expectProblem(out.data, 408, 'request_timeout')
    // 0.5 s deadline, checked every 125 ms
    expect(out.elapsedMs).toBeGreaterThan(400)
    expect(out.elapsedMs).toBeLessThan(1500)
  })

  it('a connection that never sends a byte is closed within HEADERS_TIMEOUT', async () => {
    const out = await rawExchange(port, [], { waitMs: 3000 })
    expect(out.closed).toBe(true)
    expect(out.elapsedMs).toBeLessThan(1500)
  })

  it('a body dribbled slower than REQUEST_TIMEOUT gets 408 and a close', async () => {
    const head = 'POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n'
    const out = await rawExchange(port, [head, ...Array.from({ length: 50 }, () => ' ')], { intervalMs: 100, waitMs: 4000 })
    expect(out.closed).toBe(true)
    expectProblem(out.data, 408, 'request_timeout')
    expect(out.elapsedMs).toBeLessThan(2500)
  })

  it('headers larger than MAX_HEADER_SIZE get 431 header_too_large and a close', async () => {
    const out = await rawExchange(port, [request('/health/live', `X-Big: ${'a'.repeat(4096)}\r\n`)], { waitMs: 3000 })
    expect(out.closed).toBe(true)
    const res = expectProblem(out.data, 431, 'header_too_large')
    expect(res.headers.connection).toBe('close')
    expect(res.headers['x-content-type-options']).toBe('nosniff')
  })

  it('bytes that are not HTTP get 400 malformed_request and a close', async () => {
    const out = await rawExchange(port, ['HELLO THERE\r\n\r\n'], { waitMs: 3000 })
    expect(out.closed).toBe(true)
    expectProblem(out.data, 400, 'malformed_request')
  })

  it('a body larger than BODY_LIMIT is refused with 413 from its Content-Length alone', async () => {
    const head = 'POST /auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"email":'
    const out = await rawExchange(port, [head], { waitMs: 1500 })
    expectProblem(out.data, 413, 'payload_too_large')
  })

  it('an idle keep-alive socket outlives HEADERS_TIMEOUT, then is closed after KEEP_ALIVE_TIMEOUT', async () => {
    const socket = await openSocket(port)
    let data = ''
    // Idle time is measured from the moment the second response arrived, not from a sleep.
    let idleFrom = 0
    socket.on('data', (c) => {
      data += String(c)
      if ((data.match(/HTTP\/1\.1 200/g)?.length ?? 0) === 2 && idleFrom === 0) idleFrom = performance.now()
    })
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(performance.now())))
    socket.write(request('/health/live'))
    await new Promise((r) => setTimeout(r, 900)) // idle longer than HEADERS_TIMEOUT (0.5 s)
    socket.write(request('/health/live'))
    const closedAt = await closed
    expect(data.match(/HTTP\/1\.1 200/g)?.length, data).toBe(2)
    expect(closedAt - idleFrom).toBeGreaterThan(900)
    expect(closedAt - idleFrom).toBeLessThan(4000)
    expect(data).not.toContain('408')
  })

  it('the response that reaches MAX_REQUESTS_PER_SOCKET tells the client to close', async () => {
    const socket = await openSocket(port)
    let data = ''
    socket.on('data', (c) => (data += String(c)))
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
    const responsesSoFar = () => data.split('HTTP/1.1 ').length - 1
    for (let i = 0; i < 3; i++) {
      socket.write(request('/health/live'))
      // each request waits for its answer, however slow the machine is
      await expect.poll(responsesSoFar, { timeout: 5000 }).toBe(i + 1)
    }
    await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))])
    const responses = data.split('HTTP/1.1 ').slice(1)
    expect(responses).toHaveLength(3)
    expect(responses[0]).toMatch(/connection: keep-alive/i)
    expect(responses[2]).toMatch(/connection: close/i)
    socket.destroy()
  })

  it('sockets beyond MAX_CONNECTIONS are closed on accept while the others are served', async () => {
    const sockets = await Promise.all(Array.from({ length: 10 }, () => openSocket(port)))
    const isClosed = sockets.map(() => false)
    sockets.forEach((s, i) => {
      s.on('error', () => {})
      s.on('close', () => (isClosed[i] = true))
    })
    // Sockets beyond the cap are closed on accept: wait for that rather than for a fixed time.
    await expect.poll(() => isClosed.filter(Boolean).length, { timeout: 5000 }).toBeGreaterThanOrEqual(4)
    await new Promise((r) => setTimeout(r, 200))
    const open = sockets.find((_, i) => !isClosed[i])!
    const answer = new Promise<string>((resolve, reject) => {
      open.once('data', (c) => resolve(String(c)))
      open.once('close', () => reject(new Error('the socket that looked open was closed')))
    })
    open.write(request('/health/live'))
    expect(await answer).toMatch(/^HTTP\/1\.1 200/)
    for (const s of sockets) s.destroy()
  })
})
