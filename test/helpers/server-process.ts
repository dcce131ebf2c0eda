import { spawn, type ChildProcess } from 'node:child_process'

const root = new URL('../..', import.meta.url).pathname

export interface ServerProcess {
  url: string
  child: ChildProcess
  /** stdout and stderr so far. */
  output(): string
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** `node bin/latchkey-server.js` (which runs src/server.ts) as `npm start` runs it, on port 0; resolves once it listens. */
export async function startServer(env: Record<string, string>, timeoutMs = 20_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'bin/latchkey-server.js'], {
    cwd: root,
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // Bounded: a soak logs every request at info level, and only the tail is ever read.
  let out = ''
  const keep = (c: Buffer) => {
    out += String(c)
    if (out.length > 200_000) out = out.slice(-100_000)
  }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), timeoutMs)
    const look = () => {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    }
    child.stdout!.on('data', look)
    void exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`server exited before listening: ${out}`))
    })
  })
  return { url, child, output: () => out, exited }
}

/** POSTs JSON; resolves with status and parsed body, or null when the connection failed. */
export async function postJson(url: string, body: unknown, signal?: AbortSignal): Promise<{ status: number; body: Record<string, string> } | null> {
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal })
    const text = await res.text()
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, string>) : {} }
  } catch {
    return null
  }
}
