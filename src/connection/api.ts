/** The client's public types: its options, its interface, its counters and the problems it reports. */
import type { Observable, SchedulerLike } from 'rxjs'
import type { AckFrame, AuthUser, ClientCommand, ReportLog, ServerFrame } from '../protocol/frames'
import type { Platform } from '../platform/types'
import type { BackoffOptions } from './backoff'
import type { ConnectionLogEvent, ConnectionSummary } from './connectionLog'
import type { CommandResult, OutboxOptions } from './outbox'
import type { ReportOptions } from './reporter'
import type { RoomUpdate } from './rooms'
import type { RttEstimate } from './rtt'
import type { ConnectionState } from './state'

/** A token, or where to get one. Called again after a 4001 close: it must return a fresh token. */
export type TokenSource = string | (() => string | Promise<string>)

/** What a URL function is told before each connection attempt. */
export interface UrlAttempt {
  /** Reconnect attempt (0 for the first connection, and again after a success). */
  attempt: number
  /** The URL of the last attempt, if any. */
  previous: string | undefined
  /** The last connection failed or was lost without the client asking: move on. */
  failed: boolean
}

/**
 * Where to connect: one URL; several, tried in turn (a failed or lost connection moves on to
 * the next, so a dead server process does not strand its viewers); or a function that picks
 * each attempt's URL.
 */
export type UrlSource = string | readonly string[] | ((attempt: UrlAttempt) => string)

export interface LiveClientOptions {
  /** `ws(s)://host/ws`, a list of them, or a function returning the next one. */
  url: UrlSource
  /** The host. Default: the mini-program's `wx` through `createWxPlatform`. */
  platform?: Platform
  token?: TokenSource
  /** Send the token in the handshake header (default) or in a first `auth` frame. */
  tokenIn?: 'header' | 'frame'
  /**
   * Offer batched delivery (`live.v1.batch`: a busy room's events of one tick in one frame,
   * unpacked here into the same per-event stream). Default true; servers without it answer
   * with plain `live.v1`.
   */
  batch?: boolean
  /**
   * Offer permessage-deflate (WeChat base library 2.8.0+): a server that compresses a room's
   * frames once sends a fraction of the bytes. Default true.
   */
  compression?: boolean
  /** Scheduler for every timer. Default `asyncScheduler`; tests pass a `TestScheduler`. */
  scheduler?: SchedulerLike
  /** Source of randomness in [0, 1) for backoff jitter and msg ids. Default `Math.random`. */
  random?: () => number
  backoff?: Partial<BackoffOptions>
  /**
   * Delay before reconnect attempt `attempt` (1-based), replacing the jittered backoff, as
   * phoenix's `reconnectAfterMs`: e.g. fixed steps `(n) => [3000, 10000, 450000][Math.min(n, 3) - 1]`.
   * `slow` is true after a flooding close (1008): the server asked us to back off.
   */
  reconnectAfterMs?: (attempt: number, slow: boolean) => number
  /** Ping interval. Default: the server's `init.heartbeat_ms`, else 25000. */
  heartbeatMs?: number
  /** Pong deadline. Default: max(4 x RTO, 3000), at most 10000 (10000 before the first sample). */
  pongTimeoutMs?: number
  /** Ack deadline for each command and join. Default 10000. */
  ackTimeoutMs?: number
  outbox?: Partial<OutboxOptions>
  /** Close the socket this long after the app is hidden, before WeChat cuts it off. Default 4000. */
  backgroundCloseMs?: number
  /** Keep the socket this long after the last subscriber leaves (page switches). Default 1000. */
  lingerMs?: number
  /**
   * With a token function: this long before the token's `exp` (read from the token: the
   * project's format or a JWT), a fresh token is sent on the open socket (`auth`), so the
   * server does not close it at `exp` (4001) and the rooms are never left. At most halfway
   * through what is left of the token's life, and not before 1 s. Default 60000; 0 turns it off.
   */
  refreshTokenAheadMs?: number
  /** Deadline for connect + init + auth. Default 10000. */
  connectTimeoutMs?: number
  /** Largest frame accepted from the server, in bytes. Default 1 MiB. */
  maxFrameBytes?: number
  /**
   * The HTTP long-poll fallback, for when the socket gateway is down or refused: after
   * `afterFailures` socket attempts fail in a row (default 3), or when the app calls
   * `useHttp()`, the client polls the server's `/api` over `platform.request` (WeChat's request API):
   * the same events, recovery and acks. Meanwhile it probes the socket with backoff and moves
   * back when one opens. `url`: the server's HTTP origin (default: the socket URL's, `wss` ->
   * `https`). On by default when the platform can make requests; false turns it off.
   */
  httpFallback?: false | HttpFallbackOptions
  /**
   * Analytics reports (`client.report`): how often buffered logs go out and how many wait at
   * most. `connectionEvents`: report the client's own connection life too (attempts, opens,
   * closes, retries, fallbacks, rejoins; see `connectionLog$`) as logs of kind `live_connection`.
   */
  reports?: Partial<ReportOptions> & { connectionEvents?: boolean }
  /**
   * What the backend speaks: `'live.v1'` (default: this protocol), or `'plain'`, the frames many
   * live-room backends already send (flat `from_uid`/`from_name`, `online_num`, `message_list`
   * on join, no `seq`): mapped onto these frames (see `PlainDecoder`). A plain backend gives no
   * recovery and no acks: see the README's "Your existing backend".
   */
  codec?: 'live.v1' | 'plain'
  /** Who a plain backend knows this client as (it does not say): own comments and follows are recognised by it. */
  plainUser?: AuthUser
}

export interface HttpFallbackOptions {
  /** `https://host[:port]`; default derived from the socket URL. */
  url?: string
  /** Socket attempts that fail in a row before the client falls back. Default 3. */
  afterFailures?: number
  /** How long the server may hold a poll, ms. Default 25000 (WeChat's request limit is 60 s). */
  waitMs?: number
  /** Requests in flight at most (polls of joined rooms and one for commands). Default 6 of WeChat's 10. */
  maxRequests?: number
  /** Delay before socket probe `n` while on HTTP, ms. Default 2 s doubling up to 60 s. */
  probeDelayMs?: (n: number) => number
}

/** Counters a client keeps; read them from `client.stats`. */
export interface LiveClientStats {
  framesIn: number
  framesOut: number
  /** Frames dropped because they were not valid protocol frames (unknown `msg_type` included). */
  badFrames: number
  /** Of `badFrames`, those with an unknown `msg_type`. */
  unknownFrames: number
  reconnects: number
  duplicatesDropped: number
  gapsDetected: number
  acksTimedOut: number
  /** Outbox writes refused by storage (limits); the commands stayed in memory. */
  storageErrors: number
  /** Commands restored after a restart that were too old to resend safely. */
  outboxExpired: number
  /** Commands refused before sending: over the server's frame limit (`CommandTooLargeError`). */
  commandsTooLarge: number
  /** Times the client moved to the HTTP fallback, and socket probes made while on it. */
  httpFallbacks: number
  socketProbes: number
  /** Analytics logs dropped: larger than any report may be, or pushed out of a full buffer. */
  reportsDropped: number
  /** Fresh tokens the server took on an open socket before the old one expired. */
  tokenRefreshes: number
}

/** A fresh set of counters, all 0. */
export function newStats(): LiveClientStats {
  return {
    framesIn: 0,
    framesOut: 0,
    badFrames: 0,
    unknownFrames: 0,
    reconnects: 0,
    duplicatesDropped: 0,
    gapsDetected: 0,
    acksTimedOut: 0,
    storageErrors: 0,
    outboxExpired: 0,
    commandsTooLarge: 0,
    httpFallbacks: 0,
    socketProbes: 0,
    reportsDropped: 0,
    tokenRefreshes: 0,
  }
}

/** A problem the client absorbed without stopping, for logs and diagnostics. */
export type LiveClientError =
  | { kind: 'bad_frame'; code: number; reason: string }
  | { kind: 'server_error'; code: number; reason: string }
  | { kind: 'storage'; reason: string }
  /** Analytics logs were dropped (see `stats.reportsDropped`). */
  | { kind: 'report'; dropped: number; reason: string }
  /** A callback of the app's threw or rejected; the client retried with backoff. */
  | { kind: 'callback'; callback: 'token' | 'url' | 'random' | 'reconnectAfterMs'; reason: string }

/** A command as the caller gives it: the client adds `msg_id` when missing. */
export type CommandInput = ClientCommand extends infer C ? (C extends ClientCommand ? Omit<C, 'msg_id'> & { msg_id?: string } : never) : never

export interface LiveClient {
  /** The URL of the current (or last) connection. */
  readonly url: string
  /**
   * The client's clock (`options.scheduler`, default `asyncScheduler`): its rooms' stores and the
   * page bindings run their windows and budgets on it too, so one virtual scheduler drives them all in a test.
   */
  readonly scheduler: SchedulerLike
  /** Connection state, for a banner; emits only on a real change. */
  readonly state$: Observable<ConnectionState>
  readonly state: ConnectionState
  /** Every validated server frame, on one shared socket. Subscribing keeps the socket open. */
  readonly frames$: Observable<ServerFrame>
  /** RTT estimates from ping/pong (RFC 6298). */
  readonly rtt$: Observable<RttEstimate>
  /** Problems absorbed without stopping: bad frames, server `error` frames, storage refusals. */
  readonly errors$: Observable<LiveClientError>
  /** How each command ended (ack, refusal, timeout, close), as it happens: for stores that reconcile. */
  readonly results$: Observable<CommandResult>
  readonly stats: Readonly<LiveClientStats>
  /** Who the server says we are, once authenticated. */
  readonly user: AuthUser | undefined
  /** Commands waiting for an ack (including those restored after a restart). */
  readonly pendingCommands: number
  /** The commands waiting for an ack, oldest first. */
  pending(): readonly ClientCommand[]
  /**
   * Commands an earlier run of the app left unacknowledged for this user and server, restored
   * once the server has said who the user is; they are resent, and settle on `results$`.
   */
  readonly restored$: Observable<ClientCommand>
  /** Sends a command through the outbox; resolves with the server's ack. */
  send(command: CommandInput): Promise<AckFrame>
  /** One room's events with recovery: shared, joined while subscribed. */
  room(roomId: string): Observable<RoomUpdate>
  /** A fresh msg id, unique for this sender. */
  nextMsgId(): string
  /**
   * Buffers an analytics log; it goes out in a `report` command with others (every
   * `reports.flushMs`, every `reports.maxLogs`), at once when `important`. Reports are commands:
   * acknowledged, kept in the outbox, resent without duplicates.
   */
  report(log: ReportLog, options?: { important?: boolean }): void
  /**
   * Fields every later log carries (app version, device, user ...): sent once per connection as
   * `cache_fields`, merged into each log by the server. Throws over 32 keys or 1,024 bytes.
   */
  setReportFields(fields: ReportLog): void
  /** Sends the buffered logs now. */
  flushReports(): void
  /** The connection's life as it happens: attempts, opens, closes (code, reason, how long the link lived), retries, RTT samples, fallbacks, rejoins. */
  readonly connectionLog$: Observable<ConnectionLogEvent>
  /** The same in numbers, so far. */
  connectionSummary(): ConnectionSummary
  /** After `failed`: start over (attempts from 0). Does nothing in any other state. */
  reconnect(): void
  /**
   * Moves to the HTTP fallback now (the app knows the socket gateway is down or overloaded);
   * the client still probes the socket and moves back when one opens. Needs `platform.request`.
   */
  useHttp(): void
  /** Closes with 1000 and stops for good: rooms complete, commands reject with `ClientClosedError`. */
  close(): void
}
