import { readFile } from 'node:fs/promises'
import { buildApp } from './app.ts'
import { systemClock } from './clock.ts'
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

  if (await ensureKeyDir(config.keysDir, new Date())) {
    logger.warn({ keysDir: config.keysDir }, 'no signing key found: generated a development key; use `latchkey keys` to manage production keys')
  }
  const manifest = await readManifest(config.keysDir)
  const keys = new KeyRing(createKeySet(await loadKeyRecords(config.keysDir, manifest!)))
  if (!keys.current.signing) throw new Error(`no current signing key in ${config.keysDir}`)

  const store = await openStore(config.databaseUrl, { schema: config.databaseSchema })
  const openapiYaml = await readFile(new URL('../openapi.yaml', import.meta.url), 'utf8')
  const app = await buildApp({ config, keys, store, clock: systemClock, logger, openapiYaml })

  let closing = false
  const shutdown = async (signal: string) => {
    if (closing) return
    closing = true
    const { shutdownTimeoutMs } = config.limits
    logger.info({ signal, shutdownTimeoutMs }, 'shutting down: refusing new connections, finishing in-flight requests')
    const deadline = setTimeout(() => {
      logger.error({ shutdownTimeoutMs }, 'shutdown deadline passed; exiting with requests still open')
      process.exit(1)
    }, shutdownTimeoutMs)
    deadline.unref()
    // app.close stops the listener, closes idle keep-alive sockets and waits for in-flight requests;
    // the store closes only after the last of them has answered.
    await app.close()
    await store.close()
    logger.info('stopped: store closed')
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
