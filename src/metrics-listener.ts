import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
/** A registry, or the cluster primary's aggregate of its workers' registries. */
export interface MetricsSource {
  contentType: string
  metrics(): Promise<string>
}

export interface MetricsListener {
  /** The bound address (port 0 picks a free one). */
  address: AddressInfo
  close(): Promise<void>
}

/**
 * Serves GET /metrics on its own port, apart from the API: scrapers never pass through the API's
 * authentication, rate limits or logs, and the port can stay on loopback or a private network.
 */
export async function startMetricsListener(registry: MetricsSource, host: string, port: number): Promise<MetricsListener> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0]
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n')
      return
    }
    registry.metrics().then(
      (text) => {
        response.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' })
        response.end(request.method === 'HEAD' ? undefined : text)
      },
      () => response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics collection failed\n'),
    )
  })
  await new Promise<void>((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'the address is already in use' : err.message
      reject(new Error(`metrics listener (METRICS_HOST=${host}, METRICS_PORT=${port}) could not listen: ${why}`, { cause: err }))
    }
    server.once('error', fail)
    server.listen(port, host, () => {
      server.off('error', fail)
      resolve()
    })
  })
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      }),
  }
}
