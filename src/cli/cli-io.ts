import type { Readable, Writable } from 'node:stream'

/** What a CLI command may touch besides files and the store: injected so tests can drive commands. */
export interface CliIo {
  env: Record<string, string | undefined>
  out(line: string): void
  err(line: string): void
  /** The whole of stdin, or null when stdin is a terminal (nothing was piped). */
  readStdin(): Promise<string | null>
  now(): Date
  /** Streaming input (`users import -`); `isTTY` is true when nothing was piped. */
  stdin?: Readable & { isTTY?: boolean }
  /** Streaming output (`users export`); absent where a command only prints lines. */
  stdout?: Writable
  /** Redraws a one-line progress display; set only when stderr is a terminal. */
  progress?: (line: string) => void
}

/** Bad command line: exit code 2 with the usage text. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** The command ran and could not do its job: exit code 1, the message is for the operator. */
export class CommandError extends Error {
  override name = 'CommandError'
}
