import { createServer, connect, type AddressInfo, type Socket } from 'node:net'

export interface TcpProxy {
  port: number
  /** Stops accepting and drops every open connection, as if the server behind had gone away. */
  cut(): Promise<void>
  /** Accepts connections again on the same port. */
  restore(): Promise<void>
  close(): Promise<void>
}

/** A TCP proxy to host:port that a test can cut and restore, to simulate an outage of a real service. */
export async function startTcpProxy(host: string, port: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(port, host)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {
        client.destroy()
        upstream.destroy()
      })
    }
    client.pipe(upstream).pipe(client)
  })
  const listen = (p: number) => new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(p, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  await listen(0)
  const proxyPort = (server.address() as AddressInfo).port
  const cut = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const s of sockets) s.destroy()
    await closed
  }
  return {
    port: proxyPort,
    cut,
    restore: () => listen(proxyPort),
    close: async () => {
      if (server.listening) await cut()
    },
  }
}
