import { spawn } from 'node:child_process'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'

export const BIN = fileURLToPath(new URL('../../bin/latchkey.js', import.meta.url))
const SHIFT_CLOCK = fileURLToPath(new URL('./shift-clock.ts', import.meta.url))

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

export interface CliRunOptions {
  env?: Record<string, string>
  /** Piped into the process: a string, or a stream the test keeps writing to. */
  stdin?: string | Readable
  /** Run the CLI as if this many seconds had passed. */
  laterBySeconds?: number
}

/** Runs the real bin/latchkey.js in a child process, the way an operator would. */
export function runLatchkey(args: string[], options: CliRunOptions = {}): Promise<CliResult> {
  const env: Record<string, string | undefined> = { ...process.env, LATCHKEY_PASSWORD: undefined, ...options.env }
  const nodeArgs = [BIN, ...args]
  if (options.laterBySeconds) {
    nodeArgs.unshift('--import', SHIFT_CLOCK)
    env.LATCHKEY_TEST_CLOCK_OFFSET_MS = String(options.laterBySeconds * 1000)
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, nodeArgs, { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    if (typeof options.stdin === 'object') options.stdin.pipe(child.stdin)
    else child.stdin.end(options.stdin ?? '')
  })
}
