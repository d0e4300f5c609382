/** A TCP proxy on 127.0.0.1 that a test can cut and restore: a network outage between two real parts. */
import * as net from 'net'

export interface TcpProxy {
  readonly port: number
  /** Drops every connection and refuses new ones until `restore`. */
  cut(): void
  restore(): void
  close(): Promise<void>
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let down = false
  const open = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    if (down) {
      socket.destroy()
      return
    }
    const upstream = net.connect(targetPort, '127.0.0.1')
    open.add(socket).add(upstream)
    const drop = (): void => {
      socket.destroy()
      upstream.destroy()
      open.delete(socket)
      open.delete(upstream)
    }
    socket.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    socket.pipe(upstream)
    upstream.pipe(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      down = true
      for (const s of open) s.destroy()
      open.clear()
    },
    restore() {
      down = false
    },
    close() {
      for (const s of open) s.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
