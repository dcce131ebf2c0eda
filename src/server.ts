import cluster from 'node:cluster'
import { readFile } from 'node:fs/promises'
import { getCompileCacheDir } from 'node:module'
import { createServer, type AddressInfo } from 'node:net'
import { availableParallelism } from 'node:os'
import { getHeapSpaceStatistics } from 'node:v8'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { buildApp } from './app.ts'
import { systemClock } from './clock.ts'
import { runClusterPrimary } from './cluster-primary.ts'
import { ConfigError, loadConfig, type Config } from './config.ts'
import { loadOrCreateDevDataKey } from './keys/data-key-file.ts'
import { ensureKeyDir, loadKeySet } from './keys/key-files.ts'
import { KeyRing } from './keys/key-ring.ts'
import { startKeyWatcher } from './keys/key-watcher.ts'
import { createLogger } from './logger.ts'
import { createOutboxDrainer, type OutboxDrainer } from './mail/outbox-drainer.ts'
import { loadMailTemplates } from './mail/templates.ts'
import { createMailTransport, type MailTransport } from './mail/transport.ts'
import type { MetricsListener } from './metrics-listener.ts'
import type { Metrics } from './metrics.ts'
import { createRetentionJob } from './retention-job.ts'
import { migrateStore, openStore } from './store/open-store.ts'
import { lowerThreadPoolPriority } from './thread-pool-priority.ts'

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
  if (config.port === 0 && config.publicUrlDerived && cluster.isPrimary) {
    // The issuer and every link name the port: pick it now, before anything is built from it. The
    // workers of a cluster inherit it through the environment.
    process.env.PORT = String(await reserveFreePort(config.host))
    config = loadConfig(process.env)
  }
  const logger = createLogger(config.logLevel)
  // Off loopback, or sharing a database with other instances, the derived address is most likely not
  // where clients come from (nor the same for every instance, which must share one issuer).
  const likelyDeployed = (config.host !== '127.0.0.1' && config.host !== 'localhost') || !config.databaseUrl.startsWith('sqlite:')
  if (config.publicUrlDerived && likelyDeployed && cluster.isPrimary) {
    logger.warn({ publicUrl: config.publicUrl }, 'PUBLIC_URL is not set: the issuer, mail links and the docs page use this address; set PUBLIC_URL to where clients reach this deployment (the same for every instance)')
  }
  logger.debug({ directory: getCompileCacheDir() ?? null }, 'module compile cache (enabled by bin/latchkey-server.js)')
  // libuv sizes its thread pool (4 by default) on first use. Hashes hold a pool thread each for tens
  // of milliseconds, so leave room beside them for token signatures and file I/O.
  process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, (config.argon2.concurrency ?? availableParallelism()) + 2))
  const workers = config.workers === 'auto' ? availableParallelism() : config.workers

  if (cluster.isPrimary) {
    // Done once, before any fork, so every worker loads the same key and finds the schema migrated.
    await prepareSharedState(config, logger)
    if (workers > 1) {
      const stop = runClusterPrimary({ cluster, workers, logger, shutdownTimeoutMs: config.limits.shutdownTimeoutMs + 5000, exit: (code) => process.exit(code) })
      process.on('SIGTERM', () => stop('SIGTERM'))
      process.on('SIGINT', () => stop('SIGINT'))
      // Each worker watches KEYS_DIR itself; a SIGHUP to the primary reaches them all.
      process.on('SIGHUP', () => {
        for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP')
      })
      if (config.metricsPort !== undefined) {
        // One /metrics for the whole cluster: the primary sums what each worker reports over IPC.
        const { clusterMetricsSource } = await import('./metrics.ts')
        const { startMetricsListener } = await import('./metrics-listener.ts')
        const listener = await startMetricsListener(clusterMetricsSource(), config.metricsHost, config.metricsPort)
        logger.info({ address: listener.address, workers }, 'metrics listening on /metrics (all workers)')
      }
      return
    }
  }
  await serve(config, logger)
}

/** A port nothing listens on now; the server binds it moments later. */
async function reserveFreePort(host: string): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, host, resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}

async function prepareSharedState(config: Config, logger: Logger): Promise<void> {
  if (await ensureKeyDir(config.keysDir, new Date())) {
    logger.warn({ keysDir: config.keysDir }, 'no signing key found: generated a development key; use `latchkey keys` to manage production keys')
  }
  if (!config.dataEncryption.current && (await loadOrCreateDevDataKey(config.keysDir)).created) {
    logger.warn({ keysDir: config.keysDir }, 'DATA_ENCRYPTION_KEY is not set: generated a development key for secrets at rest (TOTP seeds); set DATA_ENCRYPTION_KEY in production')
  }
  if (config.databaseUrl !== 'sqlite::memory:') await migrateStore(config.databaseUrl, { schema: config.databaseSchema })
}

/** One serving process: the whole app on HOST:PORT (a cluster worker shares the primary's socket). */
async function serve(config: Config, logger: Logger): Promise<void> {
  // At start a bad key set is fatal; once running, the watcher keeps the last good one instead.
  const keys = new KeyRing(await loadKeySet(config.keysDir))
  const keyWatcher = startKeyWatcher({ dir: config.keysDir, ring: keys, logger, intervalMs: config.keysReloadInterval * 1000 })
  process.on('SIGHUP', () => void keyWatcher.reload('SIGHUP'))

  const store = await openStore(config.databaseUrl, {
    schema: config.databaseSchema,
    // prepareSharedState migrated once, before any worker started.
    migrate: false,
    // Fail a request within seconds when PostgreSQL is unreachable, rather than queue it forever.
    pool: { connectionTimeoutMillis: 5000 },
    onPoolError: (err) => logger.error({ reason: err.message }, 'postgres: idle connection lost; reconnecting on demand'),
    // SQLite: WAL checkpoints (a page copy and two fsyncs) off the event loop.
    backgroundCheckpoints: {
      intervalMs: 50,
      onError: (err) => logger.warn({ reason: err.message }, 'sqlite: background WAL checkpoint failed; the writer checkpoints itself past ~40 MB of WAL'),
    },
  })
  // Redis is optional and may be down at start: the instance still serves (degraded, see
  // docs/scale-out.md, "Outages") and /health/ready reports it until the client connects.
  // Optional parts are loaded only when configured: a single instance should not pay their memory.
  let redis: Redis | undefined
  if (config.redisUrl) {
    const { createRedisClient, waitForRedis } = await import('./redis-client.ts')
    redis = createRedisClient({ url: config.redisUrl, keyPrefix: config.redisKeyPrefix, logger })
    if (!(await waitForRedis(redis, 5000))) logger.error('redis not reachable at start; serving degraded until it is')
  }
  const openapiYaml = await readFile(new URL('../openapi.yaml', import.meta.url), 'utf8')
  // Metrics cost a little on every request, so they exist only when someone will scrape them.
  let metrics: Metrics | undefined
  if (config.metricsPort !== undefined) {
    const { createMetrics, shareWithClusterPrimary } = await import('./metrics.ts')
    metrics = createMetrics({ processMetrics: true })
    if (cluster.isWorker) shareWithClusterPrimary(metrics)
  }
  // Mail (docs/mail.md): templates read now, so a broken one stops the start rather than a send.
  const templates = loadMailTemplates(config.mail.templatesDir)
  const transport: MailTransport = createMailTransport({
    smtpUrl: config.mail.smtpUrl,
    mailDir: config.mail.dir,
    from: config.mail.from,
    messageIdDomain: new URL(config.publicUrl).hostname,
    logger,
    timeoutMs: config.mail.sendTimeoutMs,
  })
  if (transport.kind === 'file' && cluster.isPrimary) {
    logger.warn({ mailDir: config.mail.dir }, 'SMTP_URL is not set: mail is written to .eml files under MAIL_DIR and each link is logged (development only)')
  }
  // A claim outlives the slowest send (connect, greeting and data, each up to the timeout) by a margin.
  const mailer: OutboxDrainer = createOutboxDrainer({
    store,
    transport,
    templates,
    clock: systemClock,
    logger,
    leaseMs: config.mail.sendTimeoutMs * 3 + 2000,
    ...(metrics ? { metrics } : {}),
  })
  // Retention (docs/operations.md, "Retention"): ended sessions and expired rows, purged in batches.
  const retention = createRetentionJob({
    store,
    clock: systemClock,
    logger,
    metrics,
    policy: config.retention,
    intervalMs: config.retention.purgeIntervalMs,
  })
  const dataKeys = { current: config.dataEncryption.current ?? (await loadOrCreateDevDataKey(config.keysDir)).key, previous: config.dataEncryption.previous }
  const app = await buildApp({ config, keys, store, clock: systemClock, logger, openapiYaml, redis, mailer, dataKeys, ...(metrics ? { metrics } : {}) })
  const poolPriority = await lowerThreadPoolPriority(config.threadPoolNice)
  if (poolPriority.unexpected) logger.warn({ reason: poolPriority.skipped }, 'thread pool priority unchanged: a login storm can slow verification')
  else if (poolPriority.skipped) logger.debug({ reason: poolPriority.skipped }, 'thread pool priority unchanged')
  else logger.debug({ nice: config.threadPoolNice, threads: poolPriority.threads }, 'thread pool runs below the event loop')
  let metricsListener: MetricsListener | undefined

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
    keyWatcher.close()
    // app.close stops the listener, closes idle keep-alive sockets and waits for in-flight requests;
    // the store closes only after the last of them has answered.
    await app.close()
    // Mail queued by the last requests waits in the outbox for the next start (or another instance).
    await mailer.stop()
    // A purge under way stops after its batch; the next run (here or elsewhere) carries on.
    await retention.stop()
    transport.close()
    await metricsListener?.close()
    await store.close()
    await redis?.quit().catch(() => redis.disconnect())
    logger.info('stopped: store closed')
    process.exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))

  await app.listen({ host: config.host, port: config.port })
  mailer.start()
  retention.start()
  const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10
  const youngGeneration = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')
  logger.debug({ rssMb: mb(process.memoryUsage.rss()), youngGenerationMb: mb(youngGeneration?.space_size ?? 0) }, 'memory at start')
  // A cluster worker's metrics are served by the primary.
  if (metrics && config.metricsPort !== undefined && !cluster.isWorker) {
    const { startMetricsListener } = await import('./metrics-listener.ts')
    metricsListener = await startMetricsListener(metrics.registry, config.metricsHost, config.metricsPort)
    logger.info({ address: metricsListener.address }, 'metrics listening on /metrics')
  }
}

/** Settles once this process serves (a cluster primary: once its workers are forked). */
export const started: Promise<void> = main().catch((err: unknown) => {
  process.stderr.write(`latchkey: failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
