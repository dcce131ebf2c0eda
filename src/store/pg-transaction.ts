import type { Pool, PoolClient } from 'pg'

/**
 * Runs `fn` inside one transaction on a pooled connection: COMMIT on success, ROLLBACK on error,
 * and a connection that failed mid-transaction is discarded rather than returned to the pool.
 */
export async function inTransaction<T>(pool: Pool, begin: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let failed: Error | undefined
  try {
    await client.query(begin)
    const result = await fn(client)
    await client.query('COMMIT')
    return result
  } catch (err) {
    failed = err as Error
    await client.query('ROLLBACK').catch(() => undefined)
    throw err
  } finally {
    client.release(failed)
  }
}
