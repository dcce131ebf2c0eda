import { connect, type Socket } from 'node:net'

/** Raw TCP for the requests no HTTP client will send: slow, oversized, malformed. */

export interface RawOutcome {
  /** Everything the server wrote before closing (or before `waitMs`). */
  data: string
  /** True when the server closed the connection. */
  closed: boolean
  /** Milliseconds from connect to close (or to giving up). */
  elapsedMs: number
}

export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket))
    socket.once('error', reject)
  })
}

/**
 * Writes `chunks` one every `intervalMs` (a slow client), then waits up to `waitMs` for the server
 * to answer and close. Stops writing as soon as the server closes.
 */
export async function rawExchange(port: number, chunks: string[], options: { intervalMs?: number; waitMs: number }): Promise<RawOutcome> {
  const socket = await openSocket(port)
  const started = performance.now()
  let data = ''
  let closed = false
  socket.on('data', (c) => (data += String(c)))
  socket.on('error', () => {})
  const done = new Promise<void>((resolve) => socket.once('close', () => {
    closed = true
    resolve()
  }))
  for (const chunk of chunks) {
    if (closed || socket.destroyed) break
    socket.write(chunk)
    if (options.intervalMs) await Promise.race([done, new Promise((r) => setTimeout(r, options.intervalMs))])
  }
  await Promise.race([done, new Promise((r) => setTimeout(r, options.waitMs))])
  const elapsedMs = performance.now() - started
  socket.destroy()
  return { data, closed, elapsedMs }
}

/** Status, headers and body of the first HTTP response in raw bytes. */
export function parseRawResponse(data: string): { status: number; headers: Record<string, string>; body: string } {
  const [head = '', ...rest] = data.split('\r\n\r\n')
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const i = line.indexOf(':')
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') }
}
