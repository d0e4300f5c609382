import * as http from 'http'
import type { AddressInfo } from 'net'
import * as path from 'path'
import { CloseCode, DEFAULT_MAX_FRAME_BYTES } from 'miniprogram-live-store/protocol'
import { AccountBudgets, type AccountLimits, DEFAULT_ACCOUNT_LIMITS } from './budgets'
import { type Clock, every, systemClock } from './clock'
import { FanoutRegistry } from './fanout'
import { HttpApi, type HttpApiOptions } from './http'
import type { ConnectionContext, LiveConnection } from './connection'
import { UpgradeGate } from './upgrade'
import { MemoryEngine } from './engine/memory'
import { RedisEngine } from './engine/redis'
import type { Engine } from './engine/types'
import { ServerMetrics } from './metrics'
import { Tally } from './tally'
import { UserRooms } from './userRooms'
import { PresenceThinner } from './presence'
import { ReportSink, type ReportSinkOptions } from './reports'
import type { RoomConfig } from './room'
import { TokenVerifier, type TokenVerifierOptions } from './token'

export interface ServerOptions {
  /** 0 (default) picks a free port. */
  port?: number
  host?: string
  /**
   * HMAC secret: the project's own tokens and HS256 JWTs. Required unless `jwt` names a public
   * key or a JWKS (then the server holds no signing secret); the CLI generates one when none is given.
   */
  secret?: string
  /**
   * Standard JWTs verified with public keys: `publicKey` (PEM, RS256 or ES256) or `jwks` (a JWKS
   * file's path, re-read when it changes, or the set itself); `issuer` and `audience` checked
   * when given (they apply to HS256 JWTs too).
   */
  jwt?: Omit<TokenVerifierOptions, 'secret'>
  heartbeatMs?: number
  /** Events kept per room for recovery. Default 1000. */
  history?: number
  maxFrameBytes?: number
  /** Where `reports.jsonl` goes. Default ./data */
  dataDir?: string
  /** `reports.jsonl` rotation: `maxFileBytes` [64 MiB] a file, `keepFiles` [5] rotated files kept. */
  reports?: ReportSinkOptions
  rooms?: RoomConfig[]
  /** Only the rooms in `rooms` exist (joins to others get 4004). Default: true when `rooms` is given. */
  fixedRooms?: boolean
  /**
   * Who may open a room that is not open yet: `'anyone'` (default without `rooms`), `'anchors'`
   * (only an anchor whose token names the room; viewers of a room nobody opened get 4004), or
   * `'fixed'` (only the `rooms` list: the default with `rooms`).
   */
  roomCreation?: 'anyone' | 'anchors' | 'fixed'
  /**
   * Rooms one user may open (joins of a room not open yet, with `roomCreation: 'anyone'`): a
   * burst, then so many a minute; past it the join gets 4029. Default 10, then 10 a minute.
   */
  roomCreationRate?: { perMinute: number; burst: number }
  /**
   * Rooms one user may be in at once, over all its sockets and HTTP leases (a user counts in each
   * one's online_num and fan-out); a join of one more gets 4029 (HTTP 429). Default 10.
   */
  maxRoomsPerUser?: number
  /** Rooms this process holds at most; a join that would open one more gets 4500 (try again later). Default 10,000. */
  maxRooms?: number
  /** An empty, idle room is freed from memory after this long (in-memory engine). Default 10 min. */
  idleRoomMs?: number
  /** An empty room nobody owns, where nothing but joins and leaves happened, is freed after this long (its Redis keys expire then). Default 10 s. */
  emptyRoomMs?: number
  /** Connections one user may hold in this process; more are closed with 1008. Default 10. */
  maxConnectionsPerUser?: number
  /** Above this many members a room's joins and leaves are thinned: one notice per `presenceWindowMs`. Default 100. */
  crowdedRoomSize?: number
  /** Default 1000. */
  presenceWindowMs?: number
  /** How long an ack is remembered for a resent `msg_id` (protocol.md: at least 10 minutes). Default 600000. */
  dedupTtlMs?: number
  /** Unauthenticated connections are closed with 4001 after this long. Default 10000. */
  authTimeoutMs?: number
  /** Per connection. Default 20 frames/s, bursts of 40. */
  rateLimit?: { perSecond: number; burst: number }
  /** Per user, for `message` and `buy` (the same as `accountLimits.messages`). Default 5/s, bursts of 5. */
  messageRateLimit?: { perSecond: number; burst: number }
  /**
   * What one account may cost this process, per user whatever the transport: commands (every
   * socket and HTTP together), messages, rooms opened, report bytes written, snapshot bytes
   * sent. Past a budget a command gets 4029 (HTTP 429). Defaults: `DEFAULT_ACCOUNT_LIMITS`.
   */
  accountLimits?: Partial<AccountLimits>
  /** A connection with more than this waiting to be sent is closed with 1013. Default 1 MiB. */
  maxBufferedBytes?: number
  /**
   * Batched delivery (`live.v1.batch`, for clients that offer it): a room's events of one tick
   * of this many ms in one frame. 0 turns it off (only `live.v1` is selected). Default 50.
   */
  batchMs?: number
  /**
   * permessage-deflate, with server_no_context_takeover so a room's frame is compressed once
   * for every socket that negotiated it; frames under `threshold` bytes go plain. False turns
   * it off. Default `{ threshold: 1024 }`.
   */
  compression?: false | { threshold?: number }
  /**
   * How long a peer has to answer a close the server started before its socket is cut (then it
   * sees 1006; counted in `live_closes_cut_off_total`). Default 2000.
   */
  closeTimeoutMs?: number
  likeWindowMs?: number
  /** A room engine of your own; default the in-memory engine. */
  engine?: Engine
  /**
   * Share rooms with other server processes through Redis (`redis://host:port`), or
   * `{ url, prefix, leaseMs }`. Without it rooms live in this process's memory.
   */
  redis?: string | { url: string; prefix?: string; leaseMs?: number; dedupTtlMs?: number; commandTimeoutMs?: number }
  /**
   * The HTTP long-poll fallback (`POST /api/commands`, `GET /api/rooms/:room_id/events`), for
   * clients whose socket cannot get through. On by default; false turns it off.
   */
  http?: false | Partial<HttpApiOptions>
  /**
   * Open sockets one client address may hold; more upgrades get 429. Default 500 (a carrier's
   * NAT puts many phones behind one address).
   */
  maxConnectionsPerAddress?: number
  /**
   * Behind a reverse proxy: the header that carries the client's address (e.g. `x-forwarded-for`;
   * its last entry, the one your proxy appended, is taken). Without it the socket's peer address counts.
   */
  trustProxy?: string
  /**
   * Deadlines for receiving a request (Node's `headersTimeout` and `requestTimeout`): its headers
   * within `headers` ms [10000], all of it, body included, within `whole` ms [15000]; then 408 and
   * the connection is closed. WebSocket upgrades and held polls are not cut by them.
   */
  requestTimeoutMs?: { headers?: number; whole?: number }
  /** Answer every WebSocket upgrade with 503 (the socket gateway is down): for tests and drills of the HTTP fallback. */
  refuseUpgrades?: boolean
  log?: (line: string) => void
  /**
   * The server's time: every deadline, window and tick runs on it (see {@link Clock}). Default
   * {@link systemClock}; tests pass a virtual clock. `now`, when given, overrides `clock.now`.
   */
  clock?: Clock
  now?: () => number
}

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
  const heartbeatMs = options.heartbeatMs ?? 25000
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  const authTimeoutMs = options.authTimeoutMs ?? 10000
  const redis = typeof options.redis === 'string' ? { url: options.redis } : options.redis
  const engine: Engine =
    options.engine ??
    (redis !== undefined
      ? await RedisEngine.connect({
          redis: redis.url,
          prefix: redis.prefix,
          leaseMs: redis.leaseMs,
          dedupTtlMs: redis.dedupTtlMs,
          commandTimeoutMs: redis.commandTimeoutMs,
          idleRoomMs: options.idleRoomMs,
          emptyRoomMs: options.emptyRoomMs,
          crowdedRoomSize: options.crowdedRoomSize ?? 100,
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
  const batchMs = options.batchMs ?? 50
  if (!Number.isInteger(batchMs) || batchMs < 0 || batchMs > 1000) throw new TypeError('createServer: batchMs must be a whole number of ms in 0..1000')
  const compression = options.compression ?? {}
  const connections: Set<LiveConnection> = new Set()
  const deflateThreshold = compression === false ? Infinity : (compression.threshold ?? 1024)
  const ctx: ConnectionContext = {
    engine,
    tokens,
    metrics,
    reports,
    now,
    clock,
    heartbeatMs,
    maxFrameBytes,
    maxBufferedBytes: options.maxBufferedBytes ?? 1024 * 1024,
    closeTimeoutMs: options.closeTimeoutMs ?? 2000,
    rate: options.rateLimit ?? { perSecond: 20, burst: 40 },
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
    fanouts: new FanoutRegistry((roomId, listener) => engine.subscribe(roomId, listener), {
      tickMs: batchMs,
      deflateThreshold,
      counters: metrics.fanout,
      setTimer: (fn, ms) => clock.setTimer(fn, ms),
    }),
    presence: new PresenceThinner(engine, { crowdedRoomSize: options.crowdedRoomSize ?? 100, windowMs: options.presenceWindowMs ?? 1000, clock }),
    maxConnectionsPerUser: options.maxConnectionsPerUser ?? 10,
    roomCreation: options.roomCreation ?? ((options.fixedRooms ?? options.rooms !== undefined) ? 'fixed' : 'anyone'),
    inflight: new Map(),
    maxRooms: options.maxRooms ?? 10000,
    userRooms: new UserRooms(options.maxRoomsPerUser ?? 10),
    addressConnections: new Tally(),
    maxConnectionsPerAddress: options.maxConnectionsPerAddress ?? 500,
    log,
  }

  const httpApi =
    options.http === false
      ? undefined
      : new HttpApi(ctx, { leaseMs: 60000, maxPollsPerUser: 10, gatherMs: Math.max(250, batchMs), maxRequestsPerUser: 16, maxRequestsPerAddress: 200, ...options.http })

  // The deadlines below are checked this often (Node's default, 30 s, would let a trickle run long past them).
  const httpServer = http.createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    const url = (req.url ?? '/').split('?')[0]
    if (httpApi !== undefined && url.startsWith('/api/') && httpApi.handle(req, res, new URL(req.url ?? '/', 'http://localhost'), upgrades.addressOf(req))) return
    if (req.method === 'GET' && url === '/healthz') {
      const healthy = engine.healthy
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ ok: healthy, connections: connections.size, rooms: engine.roomCount, epoch: engine.epoch }))
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
  httpServer.headersTimeout = options.requestTimeoutMs?.headers ?? 10000
  httpServer.requestTimeout = options.requestTimeoutMs?.whole ?? 15000
  const upgrades = new UpgradeGate(ctx, { compression, batchMs, trustProxy: options.trustProxy })
  upgrades.refused = options.refuseUpgrades === true
  let closing: Promise<void> | undefined
  httpServer.on('upgrade', (req, socket, head) => upgrades.handle(req, socket, head))

  // The engine's store lost its history: every client must rejoin and take a snapshot.
  engine.onEpochChange?.((epoch) => {
    log(`epoch changed to ${epoch}: closing ${connections.size} connections with 1012`)
    for (const connection of connections) connection.close(CloseCode.serviceRestart, 'history lost, rejoin')
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
        // protocol.md: a connection is closed with 4001 when its token expires; the client gets a fresh one.
        connection.close(CloseCode.unauthorized, 'token expired')
      } else if (t - connection.lastFrameAt > 2.5 * heartbeatMs) {
        connection.close(CloseCode.heartbeatTimeout, 'heartbeat timeout')
      }
    }
  })

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject)
    httpServer.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
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
