import * as http from 'http'
import type { AddressInfo } from 'net'
import * as path from 'path'
import { CloseCode } from 'miniprogram-live-store/protocol'
import { AccountBudgets, type AccountLimits, DEFAULT_ACCOUNT_LIMITS } from './budgets'
import { type Clock, every, systemClock } from './clock'
import { FanoutRegistry } from './fanout'
import { HttpApi } from './http'
import type { LiveConnection } from './connection'
import type { ServerContext } from './context'
import { UpgradeGate } from './upgrade'
import { MemoryEngine } from './engine/memory'
import { RedisEngine } from './engine/redis/engine'
import type { Engine } from './engine/types'
import { ServerMetrics } from './metrics'
import { Tally } from './tally'
import { UserRooms } from './userRooms'
import { PresenceThinner } from './presence'
import { ReportSink } from './reports'
import { TokenVerifier } from './token'
import { SERVER_DEFAULTS } from './defaults'

export type { ServerOptions } from './options'
import type { ServerOptions } from './options'

export interface LiveServer {
  /** `ws://host:port/ws` */
  readonly url: string
  readonly port: number
  readonly engine: Engine
  readonly metrics: ServerMetrics
  /** What one account may cost this server (the defaults with `accountLimits` applied). */
  readonly accountLimits: Readonly<AccountLimits>
  /** Open connections right now. */
  readonly connectionCount: number
  /** Users polling a room over the HTTP fallback right now (one per user and room). */
  readonly httpPollers: number
  /** HTTP fallback requests being answered right now (commands and held polls). */
  readonly httpRequests: number
  /** Refuse (true) or accept again (false) WebSocket upgrades, as `refuseUpgrades`. */
  refuseUpgrades(refuse: boolean): void
  /**
   * Drops every connection without a close frame, as a crash or a network cut would
   * (clients see 1006 and recover). For chaos testing and the demo. Returns how many.
   */
  dropConnections(): number
  /** Closes every socket with 1001, flushes the report sink and stops listening. */
  close(): Promise<void>
}

/**
 * Starts the reference live-room server: WebSocket `live.v1` at `/ws`, `GET /healthz`,
 * `GET /metrics` (Prometheus) on the same port.
 *
 * @example
 * const server = await createServer({ port: 0, secret: 'dev-secret' })
 * console.log(server.url) // ws://127.0.0.1:53211/ws
 * await server.close()
 */
export async function createServer(options: ServerOptions): Promise<LiveServer> {
  if (options?.secret !== undefined && (typeof options.secret !== 'string' || options.secret.length === 0)) {
    throw new TypeError('createServer: options.secret must be a non-empty string')
  }
  if (options?.secret === undefined && options?.jwt?.publicKey === undefined && options?.jwt?.jwks === undefined) {
    throw new TypeError('createServer: options.secret (or options.jwt.publicKey / options.jwt.jwks) is required')
  }
  const tokens = new TokenVerifier({ ...options.jwt, ...(options.secret !== undefined ? { secret: options.secret } : {}) })
  const baseClock = options.clock ?? systemClock
  const now = options.now ?? (() => baseClock.now())
  const clock: Clock = { now, setTimer: (fn, ms) => baseClock.setTimer(fn, ms) }
  const log = options.log ?? (() => undefined)
  const heartbeatMs = options.heartbeatMs ?? SERVER_DEFAULTS.heartbeatMs
  const maxFrameBytes = options.maxFrameBytes ?? SERVER_DEFAULTS.maxFrameBytes
  const authTimeoutMs = options.authTimeoutMs ?? SERVER_DEFAULTS.authTimeoutMs
  const redis = typeof options.redis === 'string' ? { url: options.redis } : options.redis
  const engine: Engine =
    options.engine ??
    (redis !== undefined
      ? await RedisEngine.connect({
          redis: redis.cluster !== undefined ? { cluster: redis.cluster } : redis.url,
          prefix: redis.prefix,
          leaseMs: redis.leaseMs,
          dedupTtlMs: redis.dedupTtlMs,
          commandTimeoutMs: redis.commandTimeoutMs,
          idleRoomMs: options.idleRoomMs,
          emptyRoomMs: options.emptyRoomMs,
          crowdedRoomSize: options.crowdedRoomSize ?? SERVER_DEFAULTS.crowdedRoomSize,
          history: options.history,
          rooms: options.rooms,
          fixedRooms: options.fixedRooms ?? options.rooms !== undefined,
          likeWindowMs: options.likeWindowMs,
          // Leases are measured against Redis's own clock: the engine keeps real time for them.
          now: options.now,
          clock,
          log,
        })
      : undefined) ??
    new MemoryEngine({
      history: options.history,
      rooms: options.rooms,
      fixedRooms: options.fixedRooms ?? options.rooms !== undefined,
      likeWindowMs: options.likeWindowMs,
      idleRoomMs: options.idleRoomMs,
      emptyRoomMs: options.emptyRoomMs,
      dedupTtlMs: options.dedupTtlMs,
      // The dedup window outlives a restart: resends after it are answered, not applied again.
      dedupFile: path.join(path.resolve(options.dataDir ?? 'data'), 'dedup.jsonl'),
      clock,
    })
  const metrics = new ServerMetrics()
  engine.attachMetrics?.({
    storeErrors: () => metrics.engineErrors.inc(),
    gapFills: (count) => metrics.engineGapFills.inc(count),
    swept: (count) => metrics.engineSwept.inc(count),
  })
  const reports = new ReportSink(path.resolve(options.dataDir ?? 'data'), options.reports)
  const batchMs = options.batchMs ?? SERVER_DEFAULTS.batchMs
  if (!Number.isInteger(batchMs) || batchMs < 0 || batchMs > 1000) throw new TypeError('createServer: batchMs must be a whole number of ms in 0..1000')
  const compression = options.compression ?? {}
  const connections: Set<LiveConnection> = new Set()
  const deflateThreshold = compression === false ? Infinity : (compression.threshold ?? SERVER_DEFAULTS.deflateThreshold)
  const ctx: ServerContext = {
    engine,
    tokens,
    metrics,
    reports,
    now,
    clock,
    heartbeatMs,
    maxFrameBytes,
    maxBufferedBytes: options.maxBufferedBytes ?? SERVER_DEFAULTS.maxBufferedBytes,
    closeTimeoutMs: options.closeTimeoutMs ?? SERVER_DEFAULTS.closeTimeoutMs,
    rate: options.rateLimit ?? SERVER_DEFAULTS.rateLimit,
    connections,
    deflateThreshold,
    budgets: new AccountBudgets(
      {
        ...DEFAULT_ACCOUNT_LIMITS,
        // A user's commands together get what one connection may send, unless set apart.
        ...(options.rateLimit !== undefined ? { commands: options.rateLimit } : {}),
        ...(options.messageRateLimit !== undefined ? { messages: options.messageRateLimit } : {}),
        ...(options.roomCreationRate !== undefined ? { roomOpens: { perSecond: options.roomCreationRate.perMinute / 60, burst: options.roomCreationRate.burst } } : {}),
        ...options.accountLimits,
      },
      now,
    ),
    userConnections: new Tally(),
    fanouts: new FanoutRegistry(
      (roomId, listener) =>
        engine.subscribe(roomId, (event, data) => {
          listener(event, data)
          if (event.msg_type === 'kicked') kickOut(roomId, event.user.uid, data)
        }),
      {
        tickMs: batchMs,
        deflateThreshold,
        counters: metrics.fanout,
        setTimer: (fn, ms) => clock.setTimer(fn, ms),
      },
    ),
    presence: new PresenceThinner(engine, {
      crowdedRoomSize: options.crowdedRoomSize ?? SERVER_DEFAULTS.crowdedRoomSize,
      windowMs: options.presenceWindowMs ?? SERVER_DEFAULTS.presenceWindowMs,
      clock,
    }),
    maxConnectionsPerUser: options.maxConnectionsPerUser ?? SERVER_DEFAULTS.maxConnectionsPerUser,
    roomCreation: options.roomCreation ?? ((options.fixedRooms ?? options.rooms !== undefined) ? 'fixed' : 'anyone'),
    contentCheck: typeof options.contentCheck === 'function' ? { check: options.contentCheck } : options.contentCheck,
    inflight: new Map(),
    maxRooms: options.maxRooms ?? SERVER_DEFAULTS.maxRooms,
    userRooms: new UserRooms(options.maxRoomsPerUser ?? SERVER_DEFAULTS.maxRoomsPerUser),
    addressConnections: new Tally(),
    maxConnectionsPerAddress: options.maxConnectionsPerAddress ?? SERVER_DEFAULTS.maxConnectionsPerAddress,
    log,
  }

  const httpApi =
    options.http === false
      ? undefined
      : new HttpApi(ctx, { leaseMs: 60000, maxPollsPerUser: 10, gatherMs: Math.max(250, batchMs), maxRequestsPerUser: 16, maxRequestsPerAddress: 200, ...options.http })
  /** A `kicked` event, from whichever process applied it: the user's sockets and HTTP lease here leave the room. */
  function kickOut(roomId: string, uid: string, data: string): void {
    ctx.fanouts.kickOut(roomId, uid, data)
    httpApi?.kickOut(roomId, uid)
  }

  // The deadlines below are checked this often (Node's default, 30 s, would let a trickle run long past them).
  const httpServer = http.createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    const url = (req.url ?? '/').split('?')[0]
    if (httpApi !== undefined && url.startsWith('/api/') && httpApi.handle(req, res, new URL(req.url ?? '/', 'http://localhost'), upgrades.addressOf(req))) return
    if (req.method === 'GET' && url === '/healthz') {
      const healthy = engine.healthy
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ ok: healthy, connections: connections.size, rooms: engine.roomCount, epoch: engine.epoch, ...(engine.storeStatus ? { store: engine.storeStatus() } : {}) }))
      return
    }
    if (req.method === 'GET' && url === '/metrics') {
      metrics.connections.set(connections.size)
      metrics.rooms.set(engine.roomCount)
      metrics.engineHealthy.set(engine.healthy ? 1 : 0)
      metrics.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType })
          res.end(text)
        })
        .catch(() => {
          res.writeHead(500)
          res.end()
        })
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain' })
    res.end('not found\n')
  })

  // A request's headers and body must arrive in time (a long poll's wait is the answer's, not the
  // request's): a body trickled a byte at a time is dropped with 408, not held for Node's 5 minutes.
  httpServer.headersTimeout = options.requestTimeoutMs?.headers ?? SERVER_DEFAULTS.headersTimeoutMs
  httpServer.requestTimeout = options.requestTimeoutMs?.whole ?? SERVER_DEFAULTS.requestTimeoutMs
  const upgrades = new UpgradeGate(ctx, { compression, batchMs, trustProxy: options.trustProxy })
  upgrades.refused = options.refuseUpgrades === true
  let closing: Promise<void> | undefined
  httpServer.on('upgrade', (req, socket, head) => upgrades.handle(req, socket, head))

  // A room's history changed in the engine's store (lost, or taken back by a failover): its
  // clients must rejoin and take a snapshot under the new epoch.
  engine.onRoomReset?.((roomId, epoch) => {
    const told = ctx.fanouts.historyLost(roomId)
    httpApi?.historyLost(roomId)
    log(`room ${roomId} has a new epoch ${epoch}: ${told} members sent to a snapshot (1012 on sockets)`)
  })

  // One sweep for every connection: the auth deadline and the heartbeat timeout (2.5 x heartbeat).
  const sweepMs = Math.max(20, Math.min(1000, Math.floor(Math.min(heartbeatMs, authTimeoutMs) / 4)))
  const sweep = every(clock, sweepMs, () => {
    const t = now()
    httpApi?.sweep(t)
    // Per-user buckets are kept only while they matter: memory grows with active users, not all users ever seen.
    ctx.budgets.sweep()
    for (const connection of connections) {
      if (!connection.authenticated && t - connection.openedAt > authTimeoutMs) {
        connection.close(CloseCode.unauthorized, 'not authenticated in time')
      } else if (connection.expired(t)) {
        // docs/protocol.md, "Tokens": a connection is closed with 4001 when its token expires; the client gets a fresh one.
        connection.close(CloseCode.unauthorized, 'token expired')
      } else if (t - connection.lastFrameAt > 2.5 * heartbeatMs) {
        connection.close(CloseCode.heartbeatTimeout, 'heartbeat timeout')
      }
    }
  })

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject)
    httpServer.listen(options.port ?? SERVER_DEFAULTS.port, options.host ?? SERVER_DEFAULTS.host, () => {
      httpServer.off('error', reject)
      resolve()
    })
  })
  const address = httpServer.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address

  return {
    url: `ws://${host}:${address.port}/ws`,
    port: address.port,
    engine,
    metrics,
    accountLimits: ctx.budgets.limits,
    get connectionCount() {
      return connections.size
    },
    get httpPollers() {
      return httpApi?.pollers ?? 0
    },
    get httpRequests() {
      return httpApi?.requests ?? 0
    },
    refuseUpgrades(refuse) {
      upgrades.refused = refuse
    },
    dropConnections() {
      const count = connections.size
      for (const connection of connections) connection.terminate()
      return count
    },
    close() {
      upgrades.closing = true
      closing ??= (async () => {
        sweep.cancel()
        httpApi?.close()
        for (const connection of connections) connection.close(CloseCode.goingAway, 'server shutting down')
        // Give the close frames a moment to leave; stragglers are terminated.
        const deadline = Date.now() + 1000
        while (connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
        for (const connection of connections) connection.terminate()
        await reports.flush()
        ctx.presence.close()
        await engine.close()
        await upgrades.close()
        const httpClosed = new Promise<void>((resolve) => httpServer.close(() => resolve()))
        httpServer.closeAllConnections()
        await httpClosed
      })()
      return closing
    },
  }
}
