import { randomBytes } from 'crypto'
import type * as http from 'http'
import type { Duplex } from 'stream'
import { WebSocketServer } from 'ws'
import { BATCH_PROTOCOL_NAME, PROTOCOL_NAME } from 'miniprogram-live-store/protocol'
import { LiveConnection } from './connection'
import type { ServerContext } from './context'
import type { TokenCheck } from './token'

export interface UpgradeGateOptions {
  /** permessage-deflate for sockets that may have it (false: for none). */
  compression: false | { threshold?: number }
  /** `live.v1.batch` is selected when offered and this is above 0. */
  batchMs: number
  /** The header a trusted reverse proxy puts the client's address in (its last entry is taken). */
  trustProxy?: string
}

/**
 * Which WebSocket upgrades become connections, and with what: `/ws` only, none while the server
 * shuts down or refuses upgrades (503), none past `maxConnectionsPerAddress` (429). Compression
 * costs the server CPU for every byte a peer sends: only a socket whose upgrade carried a good
 * token may negotiate it (the token is checked before the upgrade completes). One without (its
 * token comes in a frame, or never) sends plain frames only, small ones until it has
 * authenticated (`PRE_AUTH_MAX_FRAME_BYTES`).
 */
export class UpgradeGate {
  /** Answer every upgrade with 503 (a drill of the HTTP fallback). */
  refused = false
  /** The server is shutting down: a client reconnecting at once must not slip in behind the 1001 closes. */
  closing = false
  private readonly withDeflate: WebSocketServer
  private readonly withoutDeflate: WebSocketServer
  private readonly trustProxy: string | undefined
  private nextId = 0
  private readonly idPrefix = randomBytes(3).toString('hex')

  constructor(
    private readonly ctx: ServerContext,
    options: UpgradeGateOptions,
  ) {
    const socketServer = (deflate: boolean): WebSocketServer =>
      new WebSocketServer({
        noServer: true,
        // The server's own set of connections is the list (wss.clients would cost a listener and an entry each).
        clientTracking: false,
        maxPayload: ctx.maxFrameBytes,
        // No context takeover on the server's side: every message stands alone, so a room's frame
        // compressed once is valid on every socket (RFC 7692 7.1.1.1).
        perMessageDeflate: options.compression === false || !deflate ? false : { serverNoContextTakeover: true, clientNoContextTakeover: true, threshold: options.compression.threshold ?? 1024 },
        handleProtocols: (protocols) => (options.batchMs > 0 && protocols.has(BATCH_PROTOCOL_NAME) ? BATCH_PROTOCOL_NAME : protocols.has(PROTOCOL_NAME) ? PROTOCOL_NAME : false),
      })
    this.withDeflate = socketServer(true)
    this.withoutDeflate = socketServer(false)
    this.trustProxy = options.trustProxy?.toLowerCase()
  }

  /** The client's address: the trusted proxy's header when configured (the entry it appended), else the socket's peer. */
  addressOf(req: http.IncomingMessage): string {
    const forwarded = this.trustProxy === undefined ? undefined : req.headers[this.trustProxy]
    const fromProxy = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded)?.split(',').pop()?.trim()
    return fromProxy !== undefined && fromProxy !== '' ? fromProxy : (req.socket.remoteAddress ?? 'unknown')
  }

  /** An HTTP server's `upgrade` event. */
  handle(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const { ctx } = this
    if ((req.url ?? '').split('?')[0] !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n')
      return
    }
    if (this.closing || this.refused) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\r\n')
      return
    }
    const address = this.addressOf(req)
    if (ctx.addressConnections.get(address) >= ctx.maxConnectionsPerAddress) {
      ctx.metrics.upgradesRefused.inc({ reason: 'address_limit' })
      socket.end('HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\n\r\n')
      return
    }
    const auth = req.headers.authorization
    const headerToken = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7).trim() : undefined
    const checked: Promise<TokenCheck | undefined> = headerToken === undefined ? Promise.resolve(undefined) : ctx.tokens.verify(headerToken, ctx.now())
    void checked.then((check) => {
      if (socket.destroyed) return
      if (this.closing) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\r\n')
        return
      }
      const wss = check?.ok === true ? this.withDeflate : this.withoutDeflate
      // In `connections` from here until its socket's close (LiveConnection keeps that set).
      wss.handleUpgrade(req, socket, head, (ws) => new LiveConnection(`${this.idPrefix}-${(++this.nextId).toString(36)}`, ws, ctx, check, address))
    })
  }

  /** Closes both socket servers (the connections are closed by the server first). */
  close(): Promise<void> {
    return Promise.all([this.withDeflate, this.withoutDeflate].map((wss) => new Promise<void>((resolve) => wss.close(() => resolve())))).then(() => undefined)
  }
}
