/** What `createServer` takes: every option, its default in brackets (server/defaults.ts holds them). */
import type { ContentCheck, ContentCheckOptions } from './contentCheck'
import type { AccountLimits } from './budgets'
import type { Clock } from './clock'
import type { HttpApiOptions } from './http'
import type { Engine } from './engine/types'
import type { ReportSinkOptions } from './reports'
import type { RoomConfig } from './room'
import type { TokenVerifierOptions } from './token'

/** The Redis engine's settings besides where Redis is. */
export interface RedisSettings {
  /** Prefix of every key and channel [live]. */
  prefix?: string
  leaseMs?: number
  dedupTtlMs?: number
  commandTimeoutMs?: number
}

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
   * A check every comment goes through before it is applied: allow it, broadcast a masked text,
   * or refuse it (4032). A function, or `{ check, deadlineMs, onFailure }` (default 1000 ms,
   * fail open). Built in: `blockedWordsCheck(BlockedWords.fromText(...))`, `wechatContentCheck(...)`.
   */
  contentCheck?: ContentCheck | ContentCheckOptions
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
  /** How long an ack is remembered for a resent `msg_id` (docs/protocol.md, "Dedup": at least 10 minutes). Default 600000. */
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
   * `{ url, prefix, leaseMs }`; through a Redis Cluster with `{ cluster: ['host:port', ...] }`
   * (some of its nodes; every room lives in one slot, fanned out with sharded pub/sub).
   * Without it rooms live in this process's memory.
   */
  redis?: string | (RedisSettings & ({ url: string; cluster?: undefined } | { cluster: string[]; url?: undefined }))
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
