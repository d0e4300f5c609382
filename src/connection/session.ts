import { EMPTY, exhaustMap, filter, interval, merge, Observable, race, type SchedulerLike, Subject, Subscription, take, tap, timer } from 'rxjs'
import { CloseCode, ErrorCode } from '../protocol/codes'
import { type AuthUser, BATCH_PROTOCOL_NAME, type ClientFrame, type InitFrame, PROTOCOL_NAME, type PongFrame, type ServerFrame } from '../protocol/frames'
import { DEFAULT_MAX_FRAME_BYTES, type FrameError, parseServerFrame } from '../protocol/parse'
import type { PlainDecoder } from '../protocol/plain'
import { fitCloseReason, type Platform, type SocketTask } from '../platform/types'
import { SessionEnd } from './errors'

/** Default heartbeat when neither the options nor the server's `init` give one (docs/protocol.md, "Connection"). */
export const DEFAULT_HEARTBEAT_MS = 25000

/** The subprotocols a client offers: batched delivery first, then plain `live.v1` (docs/protocol.md, "Transport"). */
export const offeredProtocols = (batch: boolean): string[] => (batch ? [BATCH_PROTOCOL_NAME, PROTOCOL_NAME] : [PROTOCOL_NAME])

/** One open, authenticated connection, as the rest of the client uses it. */
export interface Link {
  /** Sequence number of this connection (1, 2, ...): tells a resend after a reconnect apart. */
  readonly id: number
  /** The peer speaks the plain protocol: no `seq`, `ack` or `epoch`. */
  readonly plain: boolean
  /** Largest frame the server takes (`init.max_frame_bytes`, else the protocol's default). */
  readonly maxFrameBytes: number
  /**
   * Each send is a connection of its own on the server (the HTTP fallback's requests): state the
   * server keeps per connection (`cache_fields`) must go with every send.
   */
  readonly stateless?: boolean
  /** Sends one frame; `done(true)` once the socket accepted it, `done(false)` if it refused. */
  send(frame: ClientFrame, done?: (accepted: boolean) => void): void
  /** Closes this connection; the session ends as if the server had closed it with `code`. */
  close(code: number, reason: string): void
}

export type SessionEvent = { type: 'authenticating'; init: InitFrame } | { type: 'open'; link: Link; init: InitFrame; user?: AuthUser }

export interface SessionConfig {
  id: number
  platform: Platform
  url: string
  token: string | undefined
  tokenIn: 'header' | 'frame'
  /** Offer `live.v1.batch` before `live.v1`. */
  batch: boolean
  /** Offer permessage-deflate. */
  compression: boolean
  /** The backend speaks the plain protocol (`codec: 'plain'`): its frames go through this decoder. */
  plainDecoder?: PlainDecoder
  scheduler: SchedulerLike
  /** Overrides the server's `init.heartbeat_ms`. */
  heartbeatMs: number | undefined
  /** How long to wait for each pong. */
  pongTimeoutMs: () => number
  /** Deadline for open + init + auth. */
  connectTimeoutMs: number
  maxFrameBytes: number
  nextMsgId: () => string
  /** Each value asks for a ping right now (the app was shown again). */
  checkLink$: Observable<unknown>
  onRttSample: (sampleMs: number) => void
  onBadFrame: (error: FrameError) => void
  /**
   * Each frame of an open link, called straight from the socket's message handler: the hot
   * path (a frame per comment in a busy room) skips the Observable chain that carries the
   * session's life (`authenticating`, `open`, its end).
   */
  onFrame: (frame: ServerFrame) => void
  onFrameIn: () => void
  onFrameOut: () => void
  /**
   * Called when the client closes this socket itself; the returned function is called once
   * the close is seen (`onClose`), so the next connect can wait for the slot to free.
   */
  onClosing: () => () => void
}

/**
 * One socket's life as an Observable: connect, `init`, auth, then frames and heartbeats.
 * It errors with a {@link SessionEnd} whenever the link ends without the subscriber asking
 * (server close, refused connect, auth refused, pong timeout), and completes never:
 * unsubscribing closes the socket with 1000. Reconnecting is the caller's business.
 */
export function createSession(config: SessionConfig): Observable<SessionEvent> {
  return new Observable<SessionEvent>((subscriber) => {
    const { scheduler } = config
    const subscriptions = new Subscription()
    const pongs$ = new Subject<PongFrame>()
    let phase: 'connecting' | 'init' | 'auth' | 'open' | 'ended' = 'connecting'
    let authMsgId: string | undefined
    let init: InitFrame | undefined

    const header: Record<string, string> = {}
    if (config.token !== undefined && config.tokenIn === 'header') header.Authorization = `Bearer ${config.token}`
    const task: SocketTask = config.platform.connectSocket({
      url: config.url,
      header,
      // Batched delivery first, plain live.v1 for servers without it (docs/protocol.md, "Transport"). A plain
      // backend selects no subprotocol: offering one it does not know would fail the handshake.
      ...(config.plainDecoder !== undefined ? {} : { protocols: offeredProtocols(config.batch) }),
      ...(config.compression ? { perMessageDeflate: true } : {}),
      // Small frames (acks, pings, comments) go at once, not after Nagle's wait.
      tcpNoDelay: true,
      timeout: config.connectTimeoutMs,
    })

    const closeTask = (code: number, reason: string): void => {
      try {
        task.close({ code, reason })
      } catch {
        // A task that is already gone has nothing left to close.
      }
    }

    const end = (error: SessionEnd, closeCode?: number): void => {
      if (phase === 'ended') return
      phase = 'ended'
      subscriptions.unsubscribe()
      if (closeCode !== undefined) closeTask(closeCode, fitCloseReason(error.reason))
      subscriber.error(error)
    }

    const send = (frame: ClientFrame, done?: (accepted: boolean) => void): void => {
      config.onFrameOut()
      task.send({ data: JSON.stringify(frame), success: () => done?.(true), fail: () => done?.(false) })
    }

    const link: Link = {
      id: config.id,
      get plain() {
        return init?.epoch === undefined
      },
      get maxFrameBytes() {
        return init?.max_frame_bytes ?? DEFAULT_MAX_FRAME_BYTES
      },
      send,
      close: (code, reason) => end(new SessionEnd(code, reason), code),
    }

    const open = (user?: AuthUser): void => {
      phase = 'open'
      deadline.unsubscribe()
      const heartbeatMs = config.heartbeatMs ?? init?.heartbeat_ms ?? DEFAULT_HEARTBEAT_MS
      const ping = (): Observable<unknown> => {
        const t = scheduler.now()
        send({ msg_type: 'ping', t })
        // A plain-protocol peer may not answer pings: keep the link warm, do not judge it.
        if (link.plain) return EMPTY
        return race(
          pongs$.pipe(
            filter((pong) => pong.t === t),
            take(1),
          ),
          // Half-open links never report a close: do not wait for one.
          timer(config.pongTimeoutMs(), scheduler).pipe(tap(() => end(new SessionEnd(CloseCode.abnormal, 'pong timeout'), 4000))),
        )
      }
      subscriptions.add(merge(interval(heartbeatMs, scheduler), config.checkLink$).pipe(exhaustMap(ping)).subscribe())
      subscriber.next({ type: 'open', link, init: init as InitFrame, user })
    }

    const onInit = (frame: InitFrame): void => {
      init = frame
      if (frame.epoch === undefined || frame.user !== undefined) {
        open(frame.user)
        return
      }
      if (config.token === undefined) {
        end(new SessionEnd(ErrorCode.unauthorized, 'no token to authenticate with'), 4001)
        return
      }
      phase = 'auth'
      subscriber.next({ type: 'authenticating', init: frame })
      authMsgId = config.nextMsgId()
      send({ msg_type: 'auth', msg_id: authMsgId, token: config.token })
    }

    const deadline = timer(config.connectTimeoutMs, scheduler).subscribe(() => end(new SessionEnd(CloseCode.abnormal, `not open within ${config.connectTimeoutMs} ms`), 4000))
    subscriptions.add(deadline)

    task.onOpen(() => {
      if (phase === 'connecting') phase = 'init'
    })
    const parseOptions = { maxBytes: config.maxFrameBytes }
    const plain = config.plainDecoder
    task.onMessage(({ data }) => {
      if (phase === 'ended' || phase === 'connecting') return
      config.onFrameIn()
      if (plain !== undefined) {
        // A backend of the plain protocol: its frames mapped onto these (one may become two).
        const decoded = plain.decode(data, parseOptions)
        if (!decoded.ok) config.onBadFrame(decoded.error)
        // (A frame may end the session: the ones after it are not for anyone.)
        else for (const frame of decoded.frames) if ((phase as string) !== 'ended') onServerFrame(frame)
        return
      }
      const parsed = parseServerFrame(data, parseOptions)
      if (!parsed.ok) {
        config.onBadFrame(parsed.error)
        return
      }
      onServerFrame(parsed.frame)
    })
    const onServerFrame = (frame: ServerFrame): void => {
      if (phase === 'init') {
        if (frame.msg_type === 'init') {
          onInit(frame)
          return
        }
        // A plain peer that skips `init`: take the link as open and use the frame.
        init = { msg_type: 'init', client_id: '' }
        open()
      } else if (phase === 'auth') {
        if (frame.msg_type === 'ack' && frame.msg_id === authMsgId) {
          if (frame.ok) open(frame.user)
          else end(new SessionEnd(frame.code ?? ErrorCode.unauthorized, frame.reason ?? 'auth refused'), 4001)
        }
        // Before auth the server sends nothing else worth keeping.
        return
      }
      if (frame.msg_type === 'pong') {
        if (frame.t !== undefined) config.onRttSample(scheduler.now() - frame.t)
        pongs$.next(frame)
      }
      // A batch is its events, one by one: seq, recovery and gap detection work per event.
      if (frame.msg_type === 'batch') for (const event of frame.events) config.onFrame(event)
      else config.onFrame(frame)
    }
    task.onError(({ errMsg }) => {
      // A connect that fails never opens; on the Node stand-in onClose follows at once,
      // on some devices it never comes.
      if (phase === 'connecting') end(new SessionEnd(CloseCode.abnormal, errMsg))
    })
    let closed: (() => void) | undefined
    task.onClose(({ code, reason }) => {
      closed?.()
      closed = undefined
      end(new SessionEnd(code, reason))
    })

    return () => {
      if (phase === 'ended') return
      phase = 'ended'
      subscriptions.unsubscribe()
      // A socket counts against WeChat's limit of 5 until its close is seen.
      closed = config.onClosing()
      try {
        task.close({ code: CloseCode.normal, reason: 'client closed' })
      } catch {
        closed()
        closed = undefined
      }
    }
  })
}
