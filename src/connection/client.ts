import { asyncScheduler, BehaviorSubject, catchError, defer, EMPTY, filter, finalize, NEVER, Observable, race, retry, share, Subject, switchMap, take, takeUntil, tap, throwError, timer } from 'rxjs'
import { CloseCode, ErrorCode } from '../protocol/codes'
import type { AuthUser, ClientCommand, ServerFrame } from '../protocol/frames'
import { isRoomEvent } from '../protocol/frames'
import type { FrameError } from '../protocol/parse'
import { PlainDecoder } from '../protocol/plain'
import type { Platform } from '../platform/types'
import { createWxPlatform, type WxLike } from '../platform/wx'
import { type LiveClient, type LiveClientError, type LiveClientOptions, newStats } from './api'
import { backoffDelayMs, type BackoffOptions, DEFAULT_BACKOFF } from './backoff'
import { ClosingSockets } from './closingSockets'
import { ConnectionLog } from './connectionLog'
import { Device } from './device'
import { ClientClosedError, ConnectionFailedError, SessionEnd } from './errors'
import { createCommandPath } from './commands'
import { checkedObject, commandOf } from './inputs'
import { msgIdSource } from './msgIds'
import { ConnectionHolds } from './holds'
import { type LinkSettings, openLink } from './links'
import { CALLBACK_FAILURE_CODE, canConnect, type LifecycleEvent, type Transition, transition } from './lifecycle'
import { type CommandResult, outboxKeyFor } from './outbox'
import { retryDelays } from './retryDelays'
import { RoomRegistry } from './rooms'
import type { RttEstimate } from './rtt'
import type { Link, SessionEvent } from './session'
import { ConnectionStateSubject } from './state'
import { tokenClaims, TokenKeeper } from './tokens'
import { DEFAULT_FALLBACK, TransportChoice } from './transportChoice'
import { UrlRotation } from './urls'

export type { CommandInput, HttpFallbackOptions, LiveClient, LiveClientError, LiveClientOptions, LiveClientStats, TokenSource, UrlAttempt, UrlSource } from './api'
export { tokenClaims, tokenExpiry } from './tokens'

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** Waits this long at most for a socket this client closed before the next one opens. */
const CLOSE_WAIT_MS = 1000

/**
 * Creates the client: one shared socket, reconnecting, heartbeating, authenticating,
 * with an acknowledged outbox and rooms that recover what a reconnect missed. It assembles
 * the parts (urls.ts, tokens.ts, transportChoice.ts, device.ts, holds.ts, outbox.ts, rooms.ts,
 * reporter.ts) around one retrying connection, `connection$`, whose state changes only through
 * the lifecycle's `transition`.
 *
 * @example
 * const client = createLiveClient({ url: 'wss://live.example.com/ws', token: () => fetchToken() })
 * client.room('r1').subscribe((update) => console.log(update))
 */
export function createLiveClient(options: LiveClientOptions): LiveClient {
  const state = new ConnectionStateSubject()
  const urls = new UrlRotation(options?.url, () => state.value.attempt)
  const platform = options.platform ?? defaultPlatform()
  const scheduler = options.scheduler ?? asyncScheduler
  const backoff: BackoffOptions = { ...DEFAULT_BACKOFF, ...options.backoff }
  const ackTimeoutMs = options.ackTimeoutMs ?? 10000
  const backgroundCloseMs = options.backgroundCloseMs ?? 4000
  const lingerMs = options.lingerMs ?? 1000
  const connectTimeoutMs = options.connectTimeoutMs ?? 10000
  const maxFrameBytes = options.maxFrameBytes ?? 1024 * 1024

  const stats = newStats()
  const errors$ = new Subject<LiveClientError>()
  const connectionLog = new ConnectionLog(() => platform.now())
  const { random, delayMs } = retryDelays(backoff, options.random ?? Math.random, options.reconnectAfterMs, errors$)
  const policy = { maxAttempts: backoff.maxAttempts, canRefreshToken: typeof options.token === 'function', delayMs }
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
  let closed = false
  let link: Link | undefined
  let linkCount = 0
  /** Set when a connection ended without being asked to: the next open is a reconnect. */
  let reconnecting = false
  let user: AuthUser | undefined
  const plainDecoder = options.codec === 'plain' ? new PlainDecoder() : undefined
  // A plain backend has no HTTP fallback of this protocol.
  const hasFallback = options.httpFallback !== false && plainDecoder === undefined && typeof platform.request === 'function'
  const choice = new TransportChoice(hasFallback ? { ...DEFAULT_FALLBACK, ...(options.httpFallback || {}) } : undefined)
  const device = new Device(platform, () => link?.close(4000, 'offline'))

  const nextMsgId = msgIdSource(random, scheduler.now())

  const tokens = new TokenKeeper({
    source: options.token,
    scheduler,
    now: () => platform.now(),
    refreshAheadMs: options.refreshTokenAheadMs ?? 60000,
    nextMsgId,
    isCurrent: (on) => on === link && !closed,
    onRefreshed: () => stats.tokenRefreshes++,
    onRefreshError: (reason) => errors$.next({ kind: 'callback', callback: 'token', reason }),
  })
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
  const { outbox, reporter } = createCommandPath({
    options,
    scheduler,
    platform,
    ackTimeoutMs,
    rooms,
    stats,
    errors$,
    results$,
    restored$,
    connectionLog,
    nextMsgId,
    link: () => link,
    onPending: (pending) => holds.commands(pending),
  })

  const setLink = (next: Link | undefined): void => {
    link = next
    rooms.setLink(next)
    outbox.setLink(next)
    tokens.schedule(next)
  }

  const handle = (event: SessionEvent): void => {
    if (event.type === 'authenticating') {
      dispatch({ type: 'authenticate' })
      return
    }
    if (reconnecting) stats.reconnects++
    reconnecting = false
    tokens.accepted()
    user = event.user ?? (plainDecoder !== undefined ? options.plainUser : undefined)
    choice.open()
    connectionLog.open(urls.current ?? '')
    dispatch({ type: 'open', transport: choice.transport })
    // The server names the user: their outbox (and what an earlier run left in it) is theirs.
    outbox.bindIdentity(outboxKeyFor(urls.current ?? '', user?.uid ?? ''))
    setLink(event.link)
  }

  /** Every frame subscribers of `frames$` see (nexted only while someone listens). */
  const frameTap$ = new Subject<ServerFrame>()
  /** The frames of an open link, straight from the session (see `SessionConfig.onFrame`). */
  const handleFrame = (frame: ServerFrame): void => {
    if (frame.msg_type === 'ack') {
      if (!tokens.handleAck(frame, link) && !rooms.handleAck(frame)) outbox.handleAck(frame)
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
  const frameCounters = { onFrame: handleFrame, onBadFrame, onFrameIn: () => stats.framesIn++, onFrameOut: () => stats.framesOut++ }

  const closingSockets = new ClosingSockets(scheduler, CLOSE_WAIT_MS)

  const linkSettings: LinkSettings = {
    platform,
    scheduler,
    options,
    plainDecoder,
    connectTimeoutMs,
    maxFrameBytes,
    nextMsgId,
    checkLink$: device.checkLink$,
    rtt$,
    onRttSample: (sample) => connectionLog.rtt(sample),
    ...frameCounters,
    onClosing: () => closingSockets.closing(),
    onProbe: () => stats.socketProbes++,
  }
  /** A link (socket or HTTP, as `choice` decides) to `url` with `token`. */
  const openSession = (url: string, token: string | undefined): Observable<SessionEvent> => {
    const { transport, moved } = choice.choose()
    if (moved) {
      connectionLog.moved(transport)
      if (transport === 'http') stats.httpFallbacks++
    }
    connectionLog.attempt(transport, url, state.value.attempt)
    try {
      return openLink(linkSettings, transport, choice.fallback, linkCount, url, token)
    } catch (error) {
      return callbackFailed('url', error)
    }
  }

  /** One connection attempt: token, socket, session. Errors with SessionEnd when it ends. */
  const connectOnce = (): Observable<SessionEvent> =>
    defer(() => {
      // Failed: nothing connects until the app asks again (a late subscriber included).
      if (!canConnect(state.value)) return closed ? EMPTY : restart$.pipe(take(1), switchMap(connectOnce))
      if (!device.online) return throwError(() => new SessionEnd(CloseCode.abnormal, 'offline', 'offline'))
      if (!device.visible) return throwError(() => new SessionEnd(CloseCode.normal, 'app hidden', 'hidden'))
      dispatch({ type: 'connect' })
      return closingSockets.none().pipe(
        switchMap(() => tokens.next().pipe(catchError((error: unknown) => callbackFailed('token', error)))),
        switchMap((value) => {
          if (tokens.isRejected(value)) return throwError(() => new SessionEnd(ErrorCode.unauthorized, 'the token source returned the rejected token again'))
          let url: string
          try {
            url = urls.next()
          } catch (error) {
            return callbackFailed('url', error)
          }
          tokens.current = value
          // The token names its user: what is written from now on is kept under their outbox at
          // once, so an app killed before the server answered loses nothing (the server still
          // decides who the user is; an opaque token waits for its answer).
          const named = value !== undefined ? tokenClaims(value).uid : undefined
          if (named !== undefined) outbox.bindIdentity(outboxKeyFor(url, named))
          linkCount++
          return openSession(url, value)
        }),
        // Backgrounded: close before WeChat cuts the socket off, then wait to be shown.
        takeUntil(
          device.visible$.pipe(
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

  /** Carries out what the lifecycle decided after a connection ended (docs/protocol.md, "Close codes"). */
  const afterEnd = (error: unknown): Observable<unknown> => {
    if (closed) return EMPTY
    const end =
      error instanceof SessionEnd
        ? { code: error.code, reason: error.reason, cause: !device.online ? ('offline' as const) : !device.visible ? ('hidden' as const) : error.cause }
        : { code: CALLBACK_FAILURE_CODE, reason: messageOf(error), cause: 'closed' as const }
    choice.ended(end.cause)
    connectionLog.close(end.code, end.reason)
    const next = dispatch({ type: 'end', ...end })
    if (next.refreshToken) tokens.refuseCurrent()
    urls.moveOn = next.moveOn === true
    if (next.dropLastCommand) outbox.dropLastSent()
    reconnecting = true
    switch (next.next) {
      case 'waitOnline':
        return device.online$.pipe(filter(Boolean), take(1))
      case 'waitVisible':
        return device.visible$.pipe(filter(Boolean), take(1))
      case 'retry':
        connectionLog.retry(next.state.attempt, next.state.retryInMs ?? 0)
        // App shown again: try at once rather than sit out the delay.
        return race(timer(next.state.retryInMs ?? 0, scheduler), device.checkLink$.pipe(take(1)))
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
    share({ resetOnError: true, resetOnComplete: true, resetOnRefCountZero: () => timer(lingerMs, scheduler) }),
  )
  const holds = new ConnectionHolds(connection$, rooms, () => closed)

  /** Every frame, while it keeps the connection up like any other subscriber. */
  const frames$ = holds.whileHeld(frameTap$)

  // A token given as a string names its user now: the outbox is theirs before any connection
  // (offline from the start, what is written survives a kill). Bound on the next tick, so that
  // what an earlier run left reaches the app's `restored$` subscribers.
  const namedAtOnce = typeof options.token === 'string' ? tokenClaims(options.token).uid : undefined
  const firstUrl = urls.first
  if (namedAtOnce !== undefined && firstUrl !== undefined) {
    scheduler.schedule(() => {
      if (!closed && outbox.storageKey === undefined) outbox.bindIdentity(outboxKeyFor(firstUrl, namedAtOnce))
    })
  }

  return {
    scheduler,
    get url() {
      return urls.shown
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
      return outbox.enqueue(commandOf(input, nextMsgId))
    },
    room: (roomId) => holds.room(roomId),
    nextMsgId,
    report(log, reportOptions) {
      if (closed) return
      reporter.add(checkedObject('report: log', log), reportOptions?.important === true)
    },
    setReportFields(fields) {
      reporter.setFields(checkedObject('setReportFields: fields', fields))
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
      if (closed || !choice.ask()) return
      // A socket link ends now; the next attempt goes over HTTP.
      if (link !== undefined && choice.transport === 'socket') link.close(4000, 'moving to HTTP')
    },
    close() {
      if (closed) return
      closed = true
      // What is buffered goes into the outbox, persisted, to be sent on the next start (closed
      // first: the outbox must not open a connection for it).
      reporter.flush()
      reporter.stop()
      tokens.stop()
      dispatch({ type: 'close' })
      // Room streams complete first: closing is not a `left` to recover from.
      rooms.dispose()
      holds.clear()
      closed$.next()
      closed$.complete()
      outbox.close()
      device.dispose()
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
