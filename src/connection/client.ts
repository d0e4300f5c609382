import {
  asyncScheduler,
  BehaviorSubject,
  catchError,
  defer,
  EMPTY,
  filter,
  finalize,
  from,
  map,
  NEVER,
  Observable,
  of,
  race,
  retry,
  type SchedulerLike,
  share,
  Subject,
  type Subscription,
  switchMap,
  take,
  takeUntil,
  tap,
  throwError,
  timer,
} from 'rxjs'
import { CloseCode, ErrorCode } from '../protocol/codes'
import type { AckFrame, AuthUser, ClientCommand, ReportLog, RoomCommand, ServerFrame } from '../protocol/frames'
import { isRoomEvent } from '../protocol/frames'
import type { FrameError } from '../protocol/parse'
import { PlainDecoder } from '../protocol/plain'
import type { Platform } from '../platform/types'
import { createWxPlatform, type WxLike } from '../platform/wx'
import { backoffDelayMs, type BackoffOptions, DEFAULT_BACKOFF } from './backoff'
import { ClientClosedError, CommandTooLargeError, ConnectionFailedError, SessionEnd } from './errors'
import { CALLBACK_FAILURE_CODE, canConnect, type LifecycleEvent, type Transition, transition } from './lifecycle'
import { type CommandResult, DEFAULT_OUTBOX, Outbox, outboxKeyFor, type OutboxOptions } from './outbox'
import { RoomRegistry, type RoomUpdate } from './rooms'
import { nextRttEstimate, pongTimeoutMs, type RttEstimate } from './rtt'
import { ConnectionLog, type ConnectionLogEvent, type ConnectionSummary } from './connectionLog'
import { createHttpSession, httpBaseOf } from './httpSession'
import { DEFAULT_REPORTS, Reporter, type ReportOptions } from './reporter'
import { createSession, type Link, offeredProtocols, type SessionEvent } from './session'
import { type ConnectionState, ConnectionStateMachine } from './state'

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

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

function tokenValue(source: TokenSource | undefined): Observable<string | undefined> {
  if (source === undefined || typeof source === 'string') return of(source)
  return defer(() => {
    const value = source()
    return typeof value === 'string' ? of(value) : from(value)
  }).pipe(
    map((value) => {
      if (typeof value !== 'string' || value.length === 0) throw new TypeError(`it returned ${value === '' ? 'an empty string' : String(value)}, not a token`)
      return value
    }),
  )
}

/** Base64url text as a string of bytes (Latin-1): enough to JSON.parse a token payload for its `exp`. */
function base64urlBytes(text: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  let out = ''
  let bits = 0
  let value = 0
  for (const ch of text) {
    const index = alphabet.indexOf(ch)
    if (index === -1) return ''
    value = (value << 6) | index
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out += String.fromCharCode((value >> bits) & 0xff)
    }
  }
  return out
}

/** UTF-8 bytes held as a Latin-1 string, decoded (undefined when they are not UTF-8). */
function utf8Text(bytes: string): string | undefined {
  try {
    return decodeURIComponent(bytes.replace(/[%\x80-\xff]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`))
  } catch {
    return undefined
  }
}

/**
 * What a token says of itself, read from its payload without checking it (the server does):
 * `exp` (unix seconds) and the user it names (`uid`, or a JWT's `sub`). The project's tokens
 * (`payload.signature`) and JWTs (`header.payload.signature`) both qualify; anything else
 * (an opaque session id) tells nothing.
 */
export function tokenClaims(token: string): { exp?: number; uid?: string } {
  const parts = token.split('.')
  const payload = parts.length === 2 ? parts[0] : parts.length === 3 ? parts[1] : undefined
  if (payload === undefined || payload.length > 8192) return {}
  const text = utf8Text(base64urlBytes(payload))
  if (text === undefined) return {}
  try {
    const claims = JSON.parse(text) as { exp?: unknown; uid?: unknown; sub?: unknown } | null
    if (typeof claims !== 'object' || claims === null) return {}
    const uid = typeof claims.uid === 'string' ? claims.uid : claims.sub
    return {
      ...(typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? { exp: claims.exp } : {}),
      ...(typeof uid === 'string' && uid.length > 0 && uid.length <= 128 ? { uid } : {}),
    }
  } catch {
    return {}
  }
}

/** When a token expires (unix seconds), read from its payload without checking it (see `tokenClaims`). */
export function tokenExpiry(token: string): number | undefined {
  return tokenClaims(token).exp
}

/**
 * Creates the client: one shared socket, reconnecting, heartbeating, authenticating,
 * with an acknowledged outbox and rooms that recover what a reconnect missed.
 *
 * @example
 * const client = createLiveClient({ url: 'wss://live.example.com/ws', platform: createWxPlatform(wx), token: getToken })
 * client.state$.subscribe((s) => console.log(s.status))
 * client.room('r1').subscribe((u) => u.type === 'event' && console.log(u.event.msg_type))
 * await client.send({ msg_type: 'message', room_id: 'r1', content: 'hello' })
 */
export function createLiveClient(options: LiveClientOptions): LiveClient {
  const isWsUrl = (url: unknown): url is string => typeof url === 'string' && /^wss?:\/\//.test(url)
  const urls = options?.url
  if (!(isWsUrl(urls) || typeof urls === 'function' || (Array.isArray(urls) && urls.length > 0 && urls.every(isWsUrl)))) {
    throw new TypeError('createLiveClient: options.url must be a ws:// or wss:// URL, a non-empty list of them, or a function returning one')
  }
  const platform = options.platform ?? defaultPlatform()
  const scheduler = options.scheduler ?? asyncScheduler
  const backoff: BackoffOptions = { ...DEFAULT_BACKOFF, ...options.backoff }
  const ackTimeoutMs = options.ackTimeoutMs ?? 10000
  const backgroundCloseMs = options.backgroundCloseMs ?? 4000
  const lingerMs = options.lingerMs ?? 1000
  const connectTimeoutMs = options.connectTimeoutMs ?? 10000
  const closeWaitMs = 1000
  const maxFrameBytes = options.maxFrameBytes ?? 1024 * 1024

  const stats: LiveClientStats = {
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
  const state = new ConnectionStateMachine()
  const errors$ = new Subject<LiveClientError>()
  const connectionLog = new ConnectionLog(() => platform.now())
  /** The app's callbacks, guarded: a throw is reported and replaced, never a dead client. */
  const guarded = <T>(callback: 'random' | 'reconnectAfterMs', run: () => T, valid: (value: T) => boolean, fallback: () => T): T => {
    try {
      const value = run()
      if (valid(value)) return value
      errors$.next({ kind: 'callback', callback, reason: `returned ${String(value)}` })
    } catch (error) {
      errors$.next({ kind: 'callback', callback, reason: messageOf(error) })
    }
    return fallback()
  }
  const userRandom = options.random ?? Math.random
  const random = (): number =>
    guarded(
      'random',
      userRandom,
      (r) => typeof r === 'number' && r >= 0 && r <= 1,
      () => 0.5,
    )
  const jittered = (attempt: number, slow: boolean): number =>
    // Flooding closes (1008) start at the maximum: the server asked us to slow down.
    slow ? Math.round(random() * backoff.maxMs) : backoffDelayMs(attempt, backoff, random)
  const reconnectAfterMs = options.reconnectAfterMs
  const delayMs = (attempt: number, slow: boolean): number =>
    reconnectAfterMs === undefined
      ? jittered(attempt, slow)
      : guarded(
          'reconnectAfterMs',
          () => reconnectAfterMs(attempt, slow),
          (ms) => typeof ms === 'number' && ms >= 0 && Number.isFinite(ms),
          () => jittered(attempt, slow),
        )
  const policy = {
    maxAttempts: backoff.maxAttempts,
    canRefreshToken: typeof options.token === 'function',
    delayMs,
  }
  /** The one place the connection state changes. */
  const dispatch = (event: LifecycleEvent): Transition => {
    const next = transition(state.value, event, policy)
    state.set(next.state)
    return next
  }
  /** A callback of the app's (`token`, `url`) failed: reported, and this attempt ends with 4500 (retried with backoff). */
  const callbackFailed = (callback: 'token' | 'url', error: unknown): Observable<never> => {
    const reason = `${callback}() failed: ${messageOf(error)}`
    errors$.next({ kind: 'callback', callback, reason })
    return throwError(() => new SessionEnd(CALLBACK_FAILURE_CODE, reason))
  }
  /** `client.reconnect()` after `failed`. */
  const restart$ = new Subject<void>()
  const restored$ = new Subject<ClientCommand>()
  const results$ = new Subject<CommandResult>()
  const rtt$ = new BehaviorSubject<RttEstimate | undefined>(undefined)
  const closed$ = new Subject<void>()
  const online$ = new BehaviorSubject<boolean>(true)
  const visible$ = new BehaviorSubject<boolean>(true)
  const checkLink$ = new Subject<void>()
  let closed = false
  let link: Link | undefined
  let linkCount = 0
  /** Set when a connection ended without being asked to: the next open is a reconnect. */
  let reconnecting = false
  const plainDecoder = options.codec === 'plain' ? new PlainDecoder() : undefined
  const fallback =
    // A plain backend has no HTTP fallback of this protocol.
    options.httpFallback === false || plainDecoder !== undefined || typeof platform.request !== 'function'
      ? undefined
      : {
          afterFailures: 3,
          waitMs: 25000,
          maxRequests: 6,
          probeDelayMs: (n: number) => Math.min(60000, 2000 * 2 ** Math.min(n - 1, 5)),
          ...options.httpFallback,
        }
  /** Socket attempts that failed in a row (never opened); the fallback counts them. */
  let socketFailures = 0
  /** The app asked for HTTP (`useHttp()`), until a probe finds the socket working. */
  let httpAsked = false
  /** What the current (or last) attempt used, and whether it opened. */
  let attemptTransport: 'socket' | 'http' = 'socket'
  let attemptOpened = false
  let user: AuthUser | undefined
  let token: string | undefined
  let rejectedToken: string | undefined
  let urlIndex = 0
  let currentUrl: string | undefined
  /** The last connection failed or was lost: the next attempt goes to the next URL. */
  let moveOn = false
  const nextUrl = (): string => {
    const failed = moveOn
    moveOn = false
    let url: string
    if (typeof urls === 'string') url = urls
    else if (typeof urls === 'function') {
      url = urls({ attempt: state.value.attempt, previous: currentUrl, failed })
      if (!isWsUrl(url)) throw new TypeError(`it returned ${String(url)}, not a ws:// or wss:// URL`)
    } else {
      const list = urls as readonly string[]
      if (failed && currentUrl !== undefined) urlIndex = (urlIndex + 1) % list.length
      url = list[urlIndex]
    }
    currentUrl = url
    return url
  }

  const idPrefix =
    Math.floor(random() * 36 ** 6)
      .toString(36)
      .padStart(6, '0') + scheduler.now().toString(36).slice(-4)
  let idCounter = 0
  const nextMsgId = (): string => `${idPrefix}-${(++idCounter).toString(36)}`

  const outbox: Outbox = new Outbox(
    { ...DEFAULT_OUTBOX, ...options.outbox },
    {
      scheduler,
      platform,
      ackTimeoutMs,
      canSend: (command, l) => !('room_id' in command) || rooms.isJoined((command as RoomCommand).room_id, l),
      onAckTimeout: () => stats.acksTimedOut++,
      onResult: (result) => {
        if (result.error instanceof CommandTooLargeError) stats.commandsTooLarge++
        results$.next(result)
      },
      onPendingChange: (pending) => holdForCommands(pending),
      onRestored: (commands) => {
        for (const command of commands) restored$.next(command)
      },
      prepare: (command, l): ClientCommand => reporter.prepare(command, l),
      onStorageError: (error) => {
        stats.storageErrors++
        errors$.next({ kind: 'storage', reason: error instanceof Error ? error.message : String(error) })
      },
    },
  )
  stats.outboxExpired = outbox.expired
  const reporter: Reporter = new Reporter(
    { ...DEFAULT_REPORTS, ...options.reports },
    {
      scheduler,
      maxFrameBytes: (): number => link?.maxFrameBytes ?? outbox.maxFrameBytes,
      nextMsgId,
      send: (command) => outbox.enqueue(command),
      onDropped: (dropped, reason) => {
        stats.reportsDropped += dropped
        errors$.next({ kind: 'report', dropped, reason })
      },
    },
  )
  if (options.reports?.connectionEvents === true) {
    connectionLog.events$.subscribe((event) => {
      // RTT samples are many: the summary carries them.
      if (event.type !== 'rtt') reporter.add({ kind: 'live_connection', ...event }, false)
    })
  }
  const rooms = new RoomRegistry({
    scheduler,
    ackTimeoutMs,
    nextMsgId,
    onDuplicate: () => stats.duplicatesDropped++,
    onGap: () => stats.gapsDetected++,
    onAckTimeout: () => stats.acksTimedOut++,
    retryDelayMs: (n) => Math.max(backoff.minMs, backoffDelayMs(n, backoff, random)),
    onJoined: (roomId, rejoin, recovered, missed) => {
      if (rejoin) connectionLog.rejoin(roomId, recovered, missed)
      outbox.pump()
    },
  })

  const setLink = (next: Link | undefined): void => {
    link = next
    rooms.setLink(next)
    outbox.setLink(next)
    scheduleRefresh(next)
  }

  // ------------------------------------------------------------ token refresh before expiry
  const refreshAheadMs = options.refreshTokenAheadMs ?? 60000
  let refreshTimer: Subscription | undefined
  let refreshing: { msgId: string; token: string } | undefined
  /** On a socket link, a fresh token before the current one's `exp`: sent as `auth`, the link stays. */
  const scheduleRefresh = (on: Link | undefined): void => {
    refreshTimer?.unsubscribe()
    refreshTimer = undefined
    refreshing = undefined
    if (on === undefined || on.plain || on.stateless || refreshAheadMs <= 0 || typeof options.token !== 'function' || token === undefined) return
    const exp = tokenExpiry(token)
    if (exp === undefined) return
    const left = exp * 1000 - platform.now()
    const delay = Math.max(1000, left - refreshAheadMs, left / 2)
    refreshTimer = timer(delay, scheduler)
      .pipe(switchMap(() => tokenValue(options.token)))
      .subscribe({
        next: (fresh) => {
          if (fresh === undefined || link !== on || closed || fresh === token) return
          const msgId = nextMsgId()
          refreshing = { msgId, token: fresh }
          on.send({ msg_type: 'auth', msg_id: msgId, token: fresh })
        },
        // Not fatal: at `exp` the server closes with 4001 and the reconnect asks again.
        error: (error: unknown) => errors$.next({ kind: 'callback', callback: 'token', reason: `token() failed: ${messageOf(error)}` }),
      })
  }

  const handle = (event: SessionEvent): void => {
    switch (event.type) {
      case 'authenticating':
        dispatch({ type: 'authenticate' })
        return
      case 'open':
        if (reconnecting) stats.reconnects++
        reconnecting = false
        rejectedToken = undefined
        user = event.user ?? (plainDecoder !== undefined ? options.plainUser : undefined)
        attemptOpened = true
        if (attemptTransport === 'socket') socketFailures = 0
        connectionLog.open(currentUrl ?? '')
        dispatch({ type: 'open', transport: attemptTransport })
        // Only now is the user known: their outbox (and what an earlier run left in it) is theirs.
        outbox.bindIdentity(outboxKeyFor(currentUrl ?? '', user?.uid ?? ''))
        setLink(event.link)
        return
    }
  }

  /** Every frame subscribers of `frames$` see (nexted only while someone listens). */
  const frameTap$ = new Subject<ServerFrame>()
  /** The frames of an open link, straight from the session (see `SessionConfig.onFrame`). */
  const handleFrame = (frame: ServerFrame): void => {
    if (frame.msg_type === 'ack') {
      if (refreshing !== undefined && frame.msg_id === refreshing.msgId) {
        // Accepted: the link lives on under the fresh token. Refused: the server closes (4001).
        if (frame.ok) {
          token = refreshing.token
          stats.tokenRefreshes++
          scheduleRefresh(link)
        }
        refreshing = undefined
      } else if (!rooms.handleAck(frame)) outbox.handleAck(frame)
    } else if (frame.msg_type === 'snapshot') rooms.handleSnapshot(frame)
    else if (frame.msg_type === 'error') errors$.next({ kind: 'server_error', code: frame.code, reason: frame.reason })
    else if (isRoomEvent(frame)) rooms.handleEvent(frame)
    if (frameTap$.observed) frameTap$.next(frame)
  }

  const onBadFrame = (error: FrameError): void => {
    stats.badFrames++
    if (error.unknownType) stats.unknownFrames++
    errors$.next({ kind: 'bad_frame', code: error.code, reason: error.reason })
  }

  /**
   * Sockets this client closed whose `onClose` has not come yet. A new connect waits for
   * them (at most `closeWaitMs` each), so quick leave/rejoin never holds two sockets.
   */
  const closingSockets$ = new BehaviorSubject<number>(0)
  const onClosing = (): (() => void) => {
    closingSockets$.next(closingSockets$.value + 1)
    let done = false
    const settle = (): void => {
      if (done) return
      done = true
      wait.unsubscribe()
      closingSockets$.next(closingSockets$.value - 1)
    }
    const wait = timer(closeWaitMs, scheduler).subscribe(settle)
    return settle
  }

  /** One connection attempt: token, socket, session. Errors with SessionEnd when it ends. */
  const connectOnce = (): Observable<SessionEvent> =>
    defer(() => {
      // Failed: nothing connects until the app asks again (a late subscriber included).
      if (!canConnect(state.value)) return closed ? EMPTY : restart$.pipe(take(1), switchMap(connectOnce))
      if (!online$.value) return throwError(() => new SessionEnd(CloseCode.abnormal, 'offline', 'offline'))
      if (!visible$.value) return throwError(() => new SessionEnd(CloseCode.normal, 'app hidden', 'hidden'))
      dispatch({ type: 'connect' })
      return closingSockets$.pipe(
        filter((n) => n === 0),
        take(1),
        switchMap(() => tokenValue(options.token).pipe(catchError((error: unknown) => callbackFailed('token', error)))),
        switchMap((value) => {
          if (value !== undefined && value === rejectedToken) {
            return throwError(() => new SessionEnd(ErrorCode.unauthorized, 'the token source returned the rejected token again'))
          }
          let url: string
          try {
            url = nextUrl()
          } catch (error) {
            return callbackFailed('url', error)
          }
          token = value
          // The token names its user: what is written from now on is kept under their outbox at
          // once, so an app killed before the server answered loses nothing (the server still
          // decides who the user is; an opaque token waits for its answer).
          const named = value !== undefined ? tokenClaims(value).uid : undefined
          if (named !== undefined) outbox.bindIdentity(outboxKeyFor(url, named))
          linkCount++
          attemptOpened = false
          const overHttp = fallback !== undefined && (httpAsked || socketFailures >= fallback.afterFailures)
          attemptTransport = overHttp ? 'http' : 'socket'
          if (connectionLog.attempt(attemptTransport, url, state.value.attempt) === 'http') stats.httpFallbacks++
          if (overHttp) {
            let baseUrl: string
            try {
              baseUrl = fallback.url ?? httpBaseOf(url)
            } catch (error) {
              return callbackFailed('url', error)
            }
            return createHttpSession({
              id: linkCount,
              platform,
              baseUrl,
              socketUrl: url,
              protocols: offeredProtocols(options.batch ?? true),
              token: value,
              scheduler,
              waitMs: fallback.waitMs,
              maxRequests: fallback.maxRequests,
              maxFrameBytes,
              probeDelayMs: fallback.probeDelayMs,
              onFrame: handleFrame,
              onBadFrame,
              onFrameIn: () => stats.framesIn++,
              onFrameOut: () => stats.framesOut++,
              onProbe: () => stats.socketProbes++,
            })
          }
          return createSession({
            id: linkCount,
            platform,
            url,
            token: value,
            tokenIn: options.tokenIn ?? 'header',
            batch: options.batch ?? true,
            ...(plainDecoder !== undefined ? { plainDecoder } : {}),
            compression: options.compression ?? true,
            scheduler,
            heartbeatMs: options.heartbeatMs,
            pongTimeoutMs: () => options.pongTimeoutMs ?? pongTimeoutMs(rtt$.value),
            connectTimeoutMs,
            maxFrameBytes,
            nextMsgId,
            checkLink$,
            onRttSample: (sample) => {
              connectionLog.rtt(sample)
              rtt$.next(nextRttEstimate(rtt$.value, sample))
            },
            onBadFrame,
            onFrame: handleFrame,
            onFrameIn: () => stats.framesIn++,
            onFrameOut: () => stats.framesOut++,
            onClosing,
          })
        }),
        // Backgrounded: close before WeChat cuts the socket off, then wait to be shown.
        takeUntil(
          visible$.pipe(
            switchMap((visible) => (visible ? NEVER : timer(backgroundCloseMs, scheduler))),
            tap(() => {
              throw new SessionEnd(CloseCode.normal, 'app hidden', 'hidden')
            }),
          ),
        ),
        finalize(() => {
          if (link !== undefined) setLink(undefined)
        }),
      )
    })

  /** Carries out what the lifecycle decided after a connection ended (protocol.md's retry policy). */
  const afterEnd = (error: unknown): Observable<unknown> => {
    if (closed) return EMPTY
    const end =
      error instanceof SessionEnd
        ? { code: error.code, reason: error.reason, cause: !online$.value ? ('offline' as const) : !visible$.value ? ('hidden' as const) : error.cause }
        : { code: CALLBACK_FAILURE_CODE, reason: messageOf(error), cause: 'closed' as const }
    if (end.cause === 'transport') {
      // A probe found the socket working: back to it.
      socketFailures = 0
      httpAsked = false
    } else if (attemptTransport === 'socket' && !attemptOpened && end.cause === 'closed') socketFailures++
    connectionLog.close(end.code, end.reason)
    const next = dispatch({ type: 'end', ...end })
    if (next.refreshToken && token !== undefined) rejectedToken = token
    moveOn = next.moveOn === true
    if (next.dropLastCommand) outbox.dropLastSent()
    reconnecting = true
    switch (next.next) {
      case 'waitOnline':
        return online$.pipe(filter(Boolean), take(1))
      case 'waitVisible':
        return visible$.pipe(filter(Boolean), take(1))
      case 'retry':
        connectionLog.retry(next.state.attempt, next.state.retryInMs ?? 0)
        // App shown again: try at once rather than sit out the delay.
        return race(timer(next.state.retryInMs ?? 0, scheduler), checkLink$.pipe(take(1)))
      default: {
        // Failed: every waiting command settles now; the connection waits for `reconnect()`.
        const failed = next.state
        outbox.fail(() => new ConnectionFailedError(failed.code ?? 0, failed.reason ?? ''))
        return restart$.pipe(take(1))
      }
    }
  }

  const connection$ = defer(connectOnce).pipe(
    tap(handle),
    retry({ delay: afterEnd }),
    takeUntil(closed$),
    // The whole retrying connection is gone: the last subscriber left and the linger ran out.
    finalize(() => {
      if (!closed) dispatch({ type: 'release' })
    }),
    share({
      resetOnError: true,
      resetOnComplete: true,
      resetOnRefCountZero: () => timer(lingerMs, scheduler),
    }),
  )

  /** Every frame, while it keeps the connection up like any other subscriber. */
  const frames$ = new Observable<ServerFrame>((subscriber) => {
    const frames = frameTap$.subscribe(subscriber)
    const connection = connection$.subscribe({ error: (error: unknown) => subscriber.error(error), complete: () => subscriber.complete() })
    return () => {
      frames.unsubscribe()
      connection.unsubscribe()
    }
  })

  /**
   * Rooms in use: one channel and one hold on the connection each, however many subscribers.
   * The last subscriber out leaves the room and lets go of the connection.
   */
  const roomUses = new Map<string, { subscribers: number; connection: Subscription }>()
  const room = (roomId: string): Observable<RoomUpdate> => {
    if (typeof roomId !== 'string' || roomId.length === 0) throw new TypeError('room(roomId): roomId must be a non-empty string')
    return new Observable<RoomUpdate>((subscriber) => {
      // Closed is final: nothing joins, nothing connects.
      if (closed) {
        subscriber.complete()
        return undefined
      }
      let use = roomUses.get(roomId)
      if (use === undefined) {
        rooms.add(roomId)
        use = { subscribers: 0, connection: connection$.subscribe() }
        roomUses.set(roomId, use)
      }
      const held = use
      held.subscribers++
      // A late subscriber starts from the room's current state, then follows it live; when
      // too much happened to replay, from a fresh snapshot (asked for once it listens).
      const replay = rooms.replay(roomId)
      for (const update of replay ?? []) subscriber.next(update)
      const live = rooms.updates(roomId)?.subscribe(subscriber)
      if (replay === undefined) rooms.refresh(roomId)
      return () => {
        live?.unsubscribe()
        held.subscribers--
        if (held.subscribers > 0 || roomUses.get(roomId) !== held) return
        roomUses.delete(roomId)
        rooms.remove(roomId)
        held.connection.unsubscribe()
      }
    })
  }

  /** Commands waiting for an ack hold the connection too: a send with no room open connects. */
  let commandHold: Subscription | undefined
  const holdForCommands = (pending: number): void => {
    if (pending > 0 && commandHold === undefined && !closed) commandHold = connection$.subscribe()
    else if (pending === 0 && commandHold !== undefined) {
      const hold = commandHold
      commandHold = undefined
      hold.unsubscribe()
    }
  }

  // A token given as a string names its user now: the outbox is theirs before any connection
  // (offline from the start, what is written survives a kill). Bound on the next tick, so that
  // what an earlier run left reaches the app's `restored$` subscribers.
  const namedAtOnce = typeof options.token === 'string' ? tokenClaims(options.token).uid : undefined
  const firstUrl = typeof urls === 'string' ? urls : Array.isArray(urls) ? (urls as readonly string[])[0] : undefined
  if (namedAtOnce !== undefined && firstUrl !== undefined) {
    scheduler.schedule(() => {
      if (!closed && outbox.storageKey === undefined) outbox.bindIdentity(outboxKeyFor(firstUrl, namedAtOnce))
    })
  }

  // Platform signals: network and app lifecycle.
  const unsubscribes = [
    platform.onNetworkStatusChange(({ isConnected }) => {
      if (isConnected === online$.value) return
      online$.next(isConnected)
      // The socket may linger on a dead network: end it now rather than wait for a timeout.
      if (!isConnected) link?.close(4000, 'offline')
    }),
    platform.onAppHide(() => visible$.next(false)),
    platform.onAppShow(() => {
      visible$.next(true)
      // Still open? It may be half-open after the background: ping now. Closed? Reconnect now.
      checkLink$.next()
    }),
  ]
  platform
    .getNetworkType()
    .then(({ isConnected }) => {
      if (!closed && !isConnected && online$.value) {
        online$.next(false)
        link?.close(4000, 'offline')
      }
    })
    .catch(() => undefined)

  return {
    scheduler,
    get url() {
      return currentUrl ?? (typeof urls === 'string' ? urls : Array.isArray(urls) ? (urls as readonly string[])[urlIndex] : '')
    },
    state$: state.state$,
    get state() {
      return state.value
    },
    frames$,
    rtt$: rtt$.pipe(filter((e): e is RttEstimate => e !== undefined)),
    errors$: errors$.asObservable(),
    results$: results$.asObservable(),
    stats,
    get user() {
      return user
    },
    get pendingCommands() {
      return outbox.size
    },
    pending: () => outbox.commands(),
    restored$: restored$.asObservable(),
    send(input) {
      if (closed) return Promise.reject(new ClientClosedError(input?.msg_id ?? ''))
      const current = state.value
      if (current.status === 'failed') return Promise.reject(new ConnectionFailedError(current.code ?? 0, current.reason ?? ''))
      const type = (input as { msg_type?: unknown })?.msg_type
      if (type === 'auth' || type === 'join' || type === 'leave' || type === 'ping') {
        throw new TypeError(`send: "${String(type)}" is managed by the client; use client.room(roomId) to join and leave`)
      }
      const msgId = input.msg_id ?? nextMsgId()
      if (typeof msgId !== 'string' || msgId.length === 0 || msgId.length > 64) {
        throw new TypeError('send: msg_id must be a string of 1..64 characters')
      }
      const command = { ...input, msg_id: msgId } as ClientCommand
      return outbox.enqueue(command)
    },
    room,
    nextMsgId,
    report(log, reportOptions) {
      if (closed) return
      if (typeof log !== 'object' || log === null || Array.isArray(log)) throw new TypeError('report: log must be an object')
      reporter.add(log, reportOptions?.important === true)
    },
    setReportFields(fields) {
      if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw new TypeError('setReportFields: fields must be an object')
      reporter.setFields(fields)
    },
    flushReports() {
      if (!closed) reporter.flush()
    },
    connectionLog$: connectionLog.events$,
    connectionSummary: () => connectionLog.summary(),
    reconnect() {
      if (state.value.status !== 'failed') return
      dispatch({ type: 'restart' })
      restart$.next()
    },
    useHttp() {
      if (closed || fallback === undefined || httpAsked) return
      httpAsked = true
      // A socket link ends now; the next attempt goes over HTTP.
      if (link !== undefined && attemptTransport === 'socket') link.close(4000, 'moving to HTTP')
    },
    close() {
      if (closed) return
      closed = true
      // What is buffered goes into the outbox, persisted, to be sent on the next start (closed
      // first: the outbox must not open a connection for it).
      reporter.flush()
      reporter.stop()
      refreshTimer?.unsubscribe()
      dispatch({ type: 'close' })
      // Room streams complete first: closing is not a `left` to recover from.
      rooms.dispose()
      roomUses.clear()
      closed$.next()
      closed$.complete()
      outbox.close()
      commandHold = undefined
      for (const unsubscribe of unsubscribes) unsubscribe()
      state.complete()
      errors$.complete()
      results$.complete()
      rtt$.complete()
      restart$.complete()
      restored$.complete()
      connectionLog.complete()
    },
  }
}

/** The `wx` platform when running inside a mini-program. */
function defaultPlatform(): Platform {
  const host = (globalThis as { wx?: WxLike }).wx
  if (host === undefined) throw new TypeError('createLiveClient: no options.platform and no global wx')
  return createWxPlatform(host)
}
