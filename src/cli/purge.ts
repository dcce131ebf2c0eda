import type { Config } from '../config.ts'
import { purgeOnce } from '../retention-job.ts'
import { openStore } from '../store/open-store.ts'
import { PURGE_KINDS } from '../store/retention.ts'
import type { CliIo } from './cli-io.ts'

/**
 * `latchkey purge`: one retention run, as the server's timer does it (RETENTION_DAYS,
 * PURGE_BATCH_SIZE), for cron when PURGE_INTERVAL_SECONDS=0. Prints the rows deleted by kind.
 * While an instance is purging the same PostgreSQL schema it does nothing and says so (exit 0:
 * the work is being done).
 */
export async function purgeCommand(config: Config, io: CliIo): Promise<void> {
  const store = await openStore(config.databaseUrl, { schema: config.databaseSchema })
  try {
    const result = await purgeOnce({ store, clock: { now: () => io.now().getTime() }, policy: config.retention })
    if (!result.ran) {
      io.out('another instance is purging this store right now; nothing done')
      return
    }
    io.out(`purged in ${result.durationMs} ms (sessions ended over ${config.retention.sessionRetentionDays} days ago):`)
    for (const kind of PURGE_KINDS) io.out(`${kind}\t${result.counts[kind]}`)
  } finally {
    await store.close()
  }
}
