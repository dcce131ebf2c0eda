import { parseArgs, type ParseArgsOptionsConfig } from 'node:util'
import { isSigningAlgorithm, SIGNING_ALGORITHMS } from '@latchkey/verifier'
import { ConfigError, loadConfig } from '../config.ts'
import { KeyDirError } from '../keys/key-files.ts'
import { KeyLifecycleError } from '../keys/key-lifecycle.ts'
import { CommandError, UsageError, type CliIo } from './cli-io.ts'
import type { KeySpec } from './keys.ts'

// Command modules load on demand: `users` pulls in argon2 and a 49k-word password list, the store
// pulls in pg; a `keys list` should not pay for them.
const keysCommands = () => import('./keys.ts')
const usersCommands = () => import('./users.ts')
const outboxCommands = () => import('./outbox.ts')
const passkeyCommands = () => import('./passkeys.ts')
const backupCommand = () => import('./backup.ts')
const purgeCommand = () => import('./purge.ts')
const transferCommands = () => import('./users-transfer.ts')

const ALLOWED_BITS = [2048, 3072, 4096]

export const USAGE = `usage: latchkey <command>

  keys list                           keys in KEYS_DIR: algorithm, state, created, activated, retired
  keys generate [--alg A] [--bits N]  add a next key (the first key becomes current)
  keys rotate [--alg A] [--bits N] [--force]
                                      next → current, current → previous, a new next key
  keys retire <kid> [--force]         stop publishing and trusting a key (--force: compromised)
  users create --email E [--admin]    password from stdin or LATCHKEY_PASSWORD
  users disable --email E             disable the account and revoke all its sessions
  users verify-email --email E        mark the account's email address verified
  users passkeys --email E            the account's passkeys: name, kind, created, last used, flags
  users mfa-reset --email E           remove the account's TOTP factor and recovery codes (a lost device)
  users import FILE [--format ndjson|csv] [--dry-run] [--on-conflict skip|update|fail] [--rejects FILE]
                                      load users with their password hashes (docs/import.md);
                                      FILE - reads stdin (NDJSON unless --format csv)
  users export [--include-hashes]     every user as NDJSON on stdout, the shape import reads
  outbox list [--status S] [--limit N]  mail in the outbox (S: pending, sent, failed, expired)
  outbox retry <id> | --failed        send a failed (or waiting) message again, now
  migrate                             apply pending store migrations (DATABASE_URL)
  backup <file>                       online copy of the SQLite database into a new file
  purge                               delete sessions ended over RETENTION_DAYS ago, their refresh
                                      tokens, expired challenges and link tokens, old mail; print counts

--alg is the new key's algorithm, fixed with its kid: RS256 (default), PS256, ES256 (P-256) or
EdDSA (Ed25519); rotating to a key of another algorithm fails no request. --bits (RSA only) is
2048 (default), 3072 or 4096. The CLI reads the same environment as the server
(KEYS_DIR, DATABASE_URL, ACCESS_TOKEN_TTL, JWKS_MAX_AGE, KEYS_RELOAD_INTERVAL, …).`

function parse(args: string[], options: ParseArgsOptionsConfig, positionals: number) {
  let parsed
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (parsed.positionals.length !== positionals) {
    throw new UsageError(positionals === 0 ? `unexpected argument "${parsed.positionals[0]}"` : 'missing or extra arguments')
  }
  return parsed
}

/**
 * A kid is base64url and may start with "-", which parseArgs would read as an option: keep the
 * "--flags" first and the rest after "--". (A kid starting with "--" needs an explicit "--".)
 */
function kidLast(args: string[]): string[] {
  if (args.includes('--')) return args
  return [...args.filter((a) => a.startsWith('--')), '--', ...args.filter((a) => !a.startsWith('--'))]
}

function keySpecOf(values: { alg?: unknown; bits?: unknown }): KeySpec {
  const alg = values.alg === undefined ? 'RS256' : values.alg
  if (!isSigningAlgorithm(alg)) throw new UsageError(`--alg must be one of ${SIGNING_ALGORITHMS.join(', ')} (got ${String(values.alg)})`)
  if (values.bits !== undefined && alg !== 'RS256' && alg !== 'PS256') throw new UsageError(`--bits applies to RSA keys only, not ${alg}`)
  const bits = values.bits === undefined ? 2048 : Number(values.bits)
  if (!ALLOWED_BITS.includes(bits)) throw new UsageError(`--bits must be one of ${ALLOWED_BITS.join(', ')} (got ${String(values.bits)})`)
  return { alg, bits }
}

function requiredEmail(value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new UsageError('--email is required')
  return value
}

/** Runs one command; returns the exit code (0 ok, 1 failed, 2 usage). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [group, action, ...rest] = argv
  const command = group === 'migrate' || group === 'backup' || group === 'purge' ? group : `${group ?? ''} ${action ?? ''}`.trim()
  try {
    if (command === '' || group === '--help' || group === '-h' || group === 'help') {
      io.out(USAGE)
      return command === '' ? 2 : 0
    }
    const config = loadConfig(io.env)
    switch (command) {
      case 'keys list':
        parse(rest, {}, 0)
        await (await keysCommands()).listKeys(config, io)
        break
      case 'keys generate': {
        const { values } = parse(rest, { alg: { type: 'string' }, bits: { type: 'string' } }, 0)
        await (await keysCommands()).generateKey(config, io, keySpecOf(values))
        break
      }
      case 'keys rotate': {
        const { values } = parse(rest, { alg: { type: 'string' }, bits: { type: 'string' }, force: { type: 'boolean' } }, 0)
        await (await keysCommands()).rotateKeys(config, io, keySpecOf(values), values.force === true)
        break
      }
      case 'keys retire': {
        const { values, positionals } = parse(kidLast(rest), { force: { type: 'boolean' } }, 1)
        await (await keysCommands()).retireKey(config, io, positionals[0]!, values.force === true)
        break
      }
      case 'users create': {
        const { values } = parse(rest, { email: { type: 'string' }, admin: { type: 'boolean' } }, 0)
        await (await usersCommands()).createUser(config, io, requiredEmail(values.email), values.admin === true)
        break
      }
      case 'users disable': {
        const { values } = parse(rest, { email: { type: 'string' } }, 0)
        await (await usersCommands()).disableUser(config, io, requiredEmail(values.email))
        break
      }
      case 'users mfa-reset': {
        const { values } = parse(rest, { email: { type: 'string' } }, 0)
        await (await usersCommands()).resetMfa(config, io, requiredEmail(values.email))
        break
      }
      case 'users verify-email': {
        const { values } = parse(rest, { email: { type: 'string' } }, 0)
        await (await usersCommands()).verifyEmail(config, io, requiredEmail(values.email))
        break
      }
      case 'users passkeys': {
        const { values } = parse(rest, { email: { type: 'string' } }, 0)
        await (await passkeyCommands()).listPasskeys(config, io, requiredEmail(values.email))
        break
      }
      case 'users import': {
        const { values, positionals } = parse(rest, {
          format: { type: 'string' }, 'dry-run': { type: 'boolean' }, 'on-conflict': { type: 'string' }, rejects: { type: 'string' },
        }, 1)
        await (await transferCommands()).importUsersCommand(config, io, positionals[0]!, {
          format: values.format as string | undefined,
          dryRun: values['dry-run'] === true,
          onConflict: values['on-conflict'] as string | undefined,
          rejects: values.rejects as string | undefined,
        })
        break
      }
      case 'users export': {
        const { values } = parse(rest, { 'include-hashes': { type: 'boolean' } }, 0)
        await (await transferCommands()).exportUsersCommand(config, io, values['include-hashes'] === true)
        break
      }
      case 'outbox list': {
        const { values } = parse(rest, { status: { type: 'string' }, limit: { type: 'string' } }, 0)
        await (await outboxCommands()).listOutbox(config, io, values.status as string | undefined, values.limit as string | undefined)
        break
      }
      case 'outbox retry': {
        const { values, positionals } = parse(rest, { failed: { type: 'boolean' } }, rest.filter((a) => !a.startsWith('--')).length === 1 ? 1 : 0)
        await (await outboxCommands()).retryOutbox(config, io, positionals[0], values.failed === true)
        break
      }
      case 'migrate': {
        parse(argv.slice(1), {}, 0)
        const { migrateStore } = await import('../store/open-store.ts')
        const applied = await migrateStore(config.databaseUrl, { schema: config.databaseSchema })
        io.out(applied === 0 ? 'store is up to date: no migrations to apply' : `applied ${applied} migration(s)`)
        break
      }
      case 'backup': {
        const { positionals } = parse(argv.slice(1), {}, 1)
        await (await backupCommand()).backupStore(config, io, positionals[0]!)
        break
      }
      case 'purge': {
        parse(argv.slice(1), {}, 0)
        await (await purgeCommand()).purgeCommand(config, io)
        break
      }
      default:
        throw new UsageError(`unknown command "${command}"`)
    }
    return 0
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`latchkey: ${err.message}\nrun \`latchkey --help\` for usage`)
      return 2
    }
    if (err instanceof CommandError || err instanceof KeyLifecycleError || err instanceof KeyDirError || err instanceof ConfigError) {
      io.err(`latchkey: ${err.message}`)
      return 1
    }
    io.err(`latchkey: ${command} failed: ${err instanceof Error ? err.message : String(err)}`)
    return 1
  }
}

async function readAllStdin(limit = 64 * 1024): Promise<string | null> {
  if (process.stdin.isTTY) return null
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw new CommandError('stdin is larger than 64 KiB; pipe only the password')
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** The process entry (bin/latchkey.js): real argv, environment, streams and clock. */
export async function main(): Promise<void> {
  const io: CliIo = {
    env: process.env,
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    readStdin: () => readAllStdin(),
    now: () => new Date(Date.now()),
    stdin: process.stdin,
    stdout: process.stdout,
    ...(process.stderr.isTTY && { progress: (line: string) => process.stderr.write(`\r\x1b[K${line}`) }),
  }
  process.exitCode = await runCli(process.argv.slice(2), io)
}
