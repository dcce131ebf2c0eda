import cluster from 'node:cluster'
import { readFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import type { Logger } from 'pino'
import { buildApp } from './app.ts'
import { systemClock } from './clock.ts'
import { runClusterPrimary } from './cluster-primary.ts'
import { ConfigError, loadConfig, type Config } from './config.ts'
import { ensureKeyDir, loadKeyRecords, readManifest } from './keys/key-files.ts'
import { KeyRing } from './keys/key-ring.ts'
import { createKeySet } from './keys/key-set.ts'
import { createLogger } from './logger.ts'
import { openStore } from './store/open-store.ts'

/** The process: environment → config, keys and store from disk, the app, the listener, a clean exit. */
async function main(): Promise<void> {
  let config: Config
  try {
    config = loadConfig(process.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`latchkey: ${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
  const logger = createLogger(config.logLevel)
  const workers = config.workers === 'auto' ? availableParallelism() : config.workers

  if (cluster.isPrimary) {
    // Done once, before any fork, so every worker loads the same key and finds the schema migrated.
    await prepareSharedState(config, logger)
    if (workers > 1) {
      const stop = runClusterPrimary({ cluster, workers, logger, exit: (code) => process.exit(code) })
      process.on('SIGTERM', () => stop('SIGTERM'))
      process.on('SIGINT', () => stop('SIGINT'))
      return
    }
  }
  await serve(config, logger)
}

async function prepareSharedState(config: Config, logger: Logger): Promise<void> {
  if (await ensureKeyDir(config.keysDir, new Date())) {
    logger.warn({ keysDir: config.keysDir }, 'no signing key found: generated a development key; use `latchkey keys` to manage production keys')
  }
  if (config.databaseUrl.startsWith('sqlite:') && config.databaseUrl !== 'sqlite::memory:') {
    await (await openStore(config.databaseUrl)).close()
  }
}

/** One serving process: the whole app on HOST:PORT (a cluster worker shares the primary's socket). */
async function serve(config: Config, logger: Logger): Promise<void> {
  const manifest = await readManifest(config.keysDir)
  if (!manifest) throw new Error(`no key manifest in ${config.keysDir}`)
  const keys = new KeyRing(createKeySet(await loadKeyRecords(config.keysDir, manifest)))
  if (!keys.current.signing) throw new Error(`no current signing key in ${config.keysDir}`)

  const store = await openStore(config.databaseUrl)
  const openapiYaml = await readFile(new URL('../openapi.yaml', import.meta.url), 'utf8')
  const app = await buildApp({ config, keys, store, clock: systemClock, logger, openapiYaml })

  let closing = false
  const shutdown = async (signal: string) => {
    if (closing) return
    closing = true
    logger.info({ signal }, 'shutting down: finishing in-flight requests')
    const deadline = setTimeout(() => {
      logger.error('shutdown deadline passed; exiting')
      process.exit(1)
    }, 10_000)
    deadline.unref()
    await app.close()
    await store.close()
    logger.info('stopped')
    process.exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))

  await app.listen({ host: config.host, port: config.port })
}

main().catch((err: unknown) => {
  process.stderr.write(`latchkey: failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
