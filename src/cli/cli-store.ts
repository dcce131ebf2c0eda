import type { RequestContext } from '../accounts/audit-log.ts'
import type { Config } from '../config.ts'
import { openStore } from '../store/open-store.ts'
import type { Store } from '../store/store.ts'

/** What audit events written by the CLI record as their origin. */
export const CLI_CONTEXT: RequestContext = { ip: null, userAgent: 'latchkey-cli', requestId: null }

export async function withStore<T>(config: Config, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(config.databaseUrl, { schema: config.databaseSchema })
  try {
    return await work(store)
  } finally {
    await store.close()
  }
}
