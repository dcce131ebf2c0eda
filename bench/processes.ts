import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'

export interface Running {
  child: ChildProcess
  base: string
  /** Milliseconds from spawn to the first 200 on the readiness URL. */
  startMs: number
  stop(): Promise<void>
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Spawns a TypeScript entry point under this Node and waits for `readyPath` to answer 200. */
export async function startProcess(entry: string, readyPath: string, env: Record<string, string>): Promise<Running> {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  let output = ''
  const started = performance.now()
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', entry], {
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout?.on('data', (d) => (output = (output + String(d)).slice(-4000)))
  child.stderr?.on('data', (d) => (output = (output + String(d)).slice(-4000)))
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${entry} exited with ${child.exitCode}: ${output}`)
    if (Date.now() > deadline) throw new Error(`${entry} not ready in 30 s: ${output}`)
    try {
      if ((await fetch(base + readyPath)).status === 200) break
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 5))
  }
  const startMs = performance.now() - started
  return {
    child,
    base,
    startMs,
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    },
  }
}

/** Resident set size of a process in MB, from /proc (Linux). */
export function rssMb(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) / 1024 : null
  } catch {
    return null
  }
}

/**
 * CPU time a process has used so far, all threads, in microseconds, from /proc (Linux; null
 * elsewhere). USER_HZ is 100 on every Linux the bench runs on, so the resolution is 10 ms: enough
 * over a scenario's seconds of load.
 */
export function cpuMicros(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10_000
  } catch {
    return null
  }
}
