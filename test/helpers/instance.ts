import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))

/** A Latchkey server process (`node bin/latchkey-server.js`, as `npm start`) on its own port. */
export interface Instance {
  name: string
  url: string
  fetch(path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; headers: Headers; json: () => unknown }>
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/**
 * Starts the real server with exactly `env` (plus PATH), and waits until /health/ready answers 200.
 * A process that exits early fails with its stderr.
 */
export async function startInstance(name: string, env: Record<string, string>, timeoutMs = 20_000): Promise<Instance> {
  const port = await freePort()
  const child: ChildProcess = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'bin/latchkey-server.js'], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (d) => (output += String(d)))
  child.stderr?.on('data', (d) => (output += String(d)))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let running = true
  void exited.then(() => (running = false))

  const url = `http://127.0.0.1:${port}`
  const instance: Instance = {
    name,
    url,
    async fetch(path, init = {}) {
      const res = await fetch(url + path, {
        method: init.method ?? 'GET',
        headers: { ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      })
      const text = await res.text()
      return { status: res.status, headers: res.headers, json: () => JSON.parse(text) }
    },
    async stop() {
      if (!running) return
      child.kill('SIGTERM')
      await exited
    },
  }

  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!running) throw new Error(`instance ${name} exited before it was ready:\n${output}`)
    try {
      if ((await instance.fetch('/health/ready')).status === 200) return instance
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  await instance.stop()
  throw new Error(`instance ${name} was not ready within ${timeoutMs} ms:\n${output}`)
}
