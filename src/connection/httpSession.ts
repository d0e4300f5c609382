import { Observable, type SchedulerLike, Subscription, timer } from 'rxjs'
import { CloseCode, codeOfHttpStatus, ErrorCode } from '../protocol/codes'
import { type AckFrame, type ClientFrame, type CommandsReply, HTTP_COMMANDS_PATH, HTTP_EVENTS_PATH, type HttpReply, MAX_HTTP_COMMANDS, type PollReply, type ServerFrame } from '../protocol/frames'
import { type FrameError, parseHttpReply } from '../protocol/parse'
import type { Platform, RequestTask, SocketTask } from '../platform/types'
import { SessionEnd } from './errors'
import type { Link, SessionEvent } from './session'

/** The HTTP session ended because a socket opened again: the client goes back to it at once. */
export const SOCKET_IS_BACK = 'the socket is back'

export interface HttpSessionConfig {
  id: number
  platform: Platform
  /** `http(s)://host:port`: the fallback's paths go under it. */
  baseUrl: string
  /** Where the probes go: the socket's URL. */
  socketUrl: string
  protocols: string[]
  token: string | undefined
  scheduler: SchedulerLike
  /** How long the server may hold a poll (ms). */
  waitMs: number
  /** Requests in flight at most (WeChat allows 10 for the whole app). */
  maxRequests: number
  maxFrameBytes: number
  /** Delay before socket probe `n` (1-based). */
  probeDelayMs: (n: number) => number
  onFrame: (frame: ServerFrame) => void
  onBadFrame: (error: FrameError) => void
  onFrameIn: () => void
  onFrameOut: () => void
  onProbe?: (opened: boolean) => void
}

/** A failed request: the HTTP status (0 when the request itself failed) and the server's reason. */
class RequestFailed extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    reason: string,
  ) {
    super(reason)
  }
}

/** Room polls of one HTTP session. */
interface Poll {
  roomId: string
  since: number | undefined
  epoch: string | undefined
  /** The join to answer with the first poll's result. */
  joinMsgId: string | undefined
  stopped: boolean
}

/**
 * The HTTP long-poll transport as a session: the same `Link` and `SessionEvent`s as a socket's
 * (session.ts), so rooms, the outbox and the stores see no difference. A join becomes a
 * poll loop of `GET /api/rooms/:id/events` (its first answer is the join's ack and snapshot or
 * recovery), commands go in batches through `POST /api/commands` (one request at a time, in
 * order) and their acks come back as frames. Meanwhile it probes the socket with backoff; when
 * one opens it ends with {@link SOCKET_IS_BACK} and the client moves back.
 */
export function createHttpSession(config: HttpSessionConfig): Observable<SessionEvent> {
  return new Observable<SessionEvent>((subscriber) => {
    const { platform, scheduler } = config
    const request = platform.request
    if (request === undefined) {
      subscriber.error(new SessionEnd(CloseCode.abnormal, 'the platform cannot make HTTP requests'))
      return undefined
    }
    const subscriptions = new Subscription()
    const header: Record<string, string> = { 'content-type': 'application/json' }
    if (config.token !== undefined) header.Authorization = `Bearer ${config.token}`
    let ended = false
    let maxFrameBytes = config.maxFrameBytes
    const polls = new Map<string, Poll>()
    const tasks = new Set<RequestTask>()
    let inFlight = 0
    const waiting: Array<() => void> = []

    const end = (error: SessionEnd): void => {
      if (ended) return
      ended = true
      stop()
      subscriber.error(error)
    }
    const stop = (): void => {
      ended = true
      subscriptions.unsubscribe()
      for (const poll of polls.values()) poll.stopped = true
      for (const task of [...tasks]) task.abort()
      tasks.clear()
      waiting.length = 0
    }
    /** A request that failed ends the session the way a socket close would. */
    const failed = (error: unknown): void => {
      if (ended) return
      if (error instanceof RequestFailed) {
        // The status stands for a code (the protocol's table); a socket would have been closed with:
        const code = codeOfHttpStatus(error.status)
        if (code === ErrorCode.unauthorized || code === ErrorCode.forbidden) end(new SessionEnd(code, error.message))
        else if (code === ErrorCode.rateLimited || code === ErrorCode.internal) end(new SessionEnd(CloseCode.tryAgainLater, error.message))
        else end(new SessionEnd(CloseCode.abnormal, error.message))
      } else end(new SessionEnd(CloseCode.abnormal, error instanceof Error ? error.message : String(error)))
    }

    /** One request, within the concurrency budget; resolves with the checked reply. */
    const call = <R extends HttpReply>(method: 'GET' | 'POST', path: string, expect: R['msg_type'], body?: string, timeoutMs?: number): Promise<R> =>
      new Promise<R>((resolve, reject) => {
        const start = (): void => {
          if (ended) return
          inFlight++
          let task: RequestTask | undefined = undefined
          const settle = (): void => {
            inFlight--
            if (task !== undefined) tasks.delete(task)
            waiting.shift()?.()
          }
          task = request({
            url: config.baseUrl + path,
            method,
            header,
            ...(body !== undefined ? { data: body } : {}),
            timeout: timeoutMs ?? 15000,
            dataType: 'text',
            responseType: 'text',
            success: ({ statusCode, data }) => {
              settle()
              if (statusCode !== 200) {
                const error = safeError(data)
                reject(new RequestFailed(statusCode, error.code, `HTTP ${statusCode}: ${error.reason}`))
                return
              }
              config.onFrameIn()
              const parsed = parseHttpReply(data, { maxBytes: Math.max(maxFrameBytes, 4 * 1024 * 1024) })
              if (!parsed.ok || parsed.frame.msg_type !== expect) {
                const error = parsed.ok ? { code: ErrorCode.badRequest, reason: `expected a ${expect} reply` } : parsed.error
                config.onBadFrame(error)
                reject(new RequestFailed(0, error.code, error.reason))
                return
              }
              resolve(parsed.frame as R)
            },
            fail: ({ errMsg }) => {
              settle()
              reject(new RequestFailed(0, CloseCode.abnormal, errMsg))
            },
          })
          tasks.add(task)
        }
        if (inFlight < config.maxRequests) start()
        else waiting.push(start)
      })

    // ------------------------------------------------------------ commands
    const outgoing: Array<{ frame: ClientFrame; done?: (accepted: boolean) => void }> = []
    let posting = false
    const post = (): void => {
      if (posting || ended || outgoing.length === 0) return
      posting = true
      const batch = outgoing.splice(0, MAX_HTTP_COMMANDS)
      call<CommandsReply>('POST', HTTP_COMMANDS_PATH, 'commands', JSON.stringify({ commands: batch.map((b) => b.frame) }))
        .then((reply) => {
          posting = false
          for (const item of batch) item.done?.(true)
          for (const ack of reply.acks) config.onFrame(ack)
          post()
        })
        .catch((error: unknown) => {
          posting = false
          for (const item of batch) item.done?.(false)
          failed(error)
        })
    }

    // ------------------------------------------------------------ rooms
    const answerJoin = (poll: Poll, ack: Omit<AckFrame, 'msg_type' | 'msg_id'>): void => {
      const msgId = poll.joinMsgId
      poll.joinMsgId = undefined
      if (msgId !== undefined) config.onFrame({ msg_type: 'ack', msg_id: msgId, ...ack })
    }
    const pollLoop = (poll: Poll): void => {
      if (poll.stopped || ended) return
      const first = poll.joinMsgId !== undefined
      const query = [
        ...(poll.since !== undefined && poll.epoch !== undefined ? [`since_seq=${poll.since}`, `epoch=${encodeURIComponent(poll.epoch)}`] : []),
        // The join's answer comes at once; later polls wait for news.
        `wait_ms=${first ? 0 : config.waitMs}`,
      ].join('&')
      call<PollReply>('GET', `${HTTP_EVENTS_PATH(poll.roomId)}?${query}`, 'poll', undefined, config.waitMs + 15000)
        .then((reply) => {
          if (poll.stopped || ended) return
          if (!first && !reply.recovered) {
            // History the poll relied on is gone (a new epoch, or it fell too far behind): rejoin,
            // as a socket is closed with 1012 and rejoins with a snapshot.
            end(new SessionEnd(CloseCode.serviceRestart, 'history lost, rejoin'))
            return
          }
          answerJoin(poll, { ok: true, room_id: reply.room_id, epoch: reply.epoch, seq: reply.seq, recovered: reply.recovered })
          if (reply.snapshot !== undefined) config.onFrame(reply.snapshot)
          for (const event of reply.events) config.onFrame(event)
          poll.since = reply.seq
          poll.epoch = reply.epoch
          pollLoop(poll)
        })
        .catch((error: unknown) => {
          if (poll.stopped || ended) return
          if (first && error instanceof RequestFailed && (codeOfHttpStatus(error.status) === ErrorCode.notFound || codeOfHttpStatus(error.status) === ErrorCode.forbidden)) {
            polls.delete(poll.roomId)
            answerJoin(poll, { ok: false, code: error.code, reason: error.message })
            return
          }
          failed(error)
        })
    }

    const send = (frame: ClientFrame, done?: (accepted: boolean) => void): void => {
      if (ended) {
        done?.(false)
        return
      }
      config.onFrameOut()
      switch (frame.msg_type) {
        case 'ping':
        case 'auth':
          // A long poll is its own heartbeat; the token goes with every request.
          done?.(true)
          return
        case 'join': {
          const existing = polls.get(frame.room_id)
          if (existing !== undefined) existing.stopped = true
          const poll: Poll = { roomId: frame.room_id, since: frame.since_seq, epoch: frame.epoch, joinMsgId: frame.msg_id, stopped: false }
          polls.set(frame.room_id, poll)
          done?.(true)
          pollLoop(poll)
          return
        }
        case 'leave': {
          const poll = polls.get(frame.room_id)
          if (poll !== undefined) poll.stopped = true
          polls.delete(frame.room_id)
          break
        }
      }
      outgoing.push({ frame, done })
      post()
    }

    const link: Link = {
      id: config.id,
      plain: false,
      stateless: true,
      get maxFrameBytes() {
        return maxFrameBytes
      },
      send,
      close: (code, reason) => end(new SessionEnd(code, reason)),
    }

    /**
     * Moving back to the socket: the server counts a poller in its rooms until it leaves (or its
     * lease runs out): leave them, so the socket's join does not make the viewer count twice.
     */
    const leaveRooms = (): void => {
      const rooms = [...polls.keys()]
      if (rooms.length === 0) return
      const commands = rooms.slice(0, MAX_HTTP_COMMANDS).map((roomId, i) => ({ msg_type: 'leave', msg_id: `leave-${config.id}-${i}`, room_id: roomId }))
      request({ url: config.baseUrl + HTTP_COMMANDS_PATH, method: 'POST', header, data: JSON.stringify({ commands }), timeout: 15000, dataType: 'text', responseType: 'text' })
    }

    // ------------------------------------------------------------ socket probes
    let probes = 0
    const probe = (): void => {
      probes++
      subscriptions.add(
        timer(config.probeDelayMs(probes), scheduler).subscribe(() => {
          if (ended) return
          let task: SocketTask
          try {
            task = platform.connectSocket({ url: config.socketUrl, header: { ...(config.token !== undefined ? { Authorization: `Bearer ${config.token}` } : {}) }, protocols: config.protocols })
          } catch {
            probe()
            return
          }
          let opened = false
          task.onOpen(() => {
            opened = true
            config.onProbe?.(true)
            leaveRooms()
            try {
              task.close({ code: CloseCode.normal, reason: 'probe' })
            } catch {
              // Already gone: nothing to close.
            }
            end(new SessionEnd(CloseCode.normal, SOCKET_IS_BACK, 'transport'))
          })
          task.onClose(() => {
            if (opened || ended) return
            config.onProbe?.(false)
            probe()
          })
        }),
      )
    }

    // ------------------------------------------------------------ open
    call<CommandsReply>('POST', HTTP_COMMANDS_PATH, 'commands', JSON.stringify({ commands: [] }))
      .then((reply) => {
        if (ended) return
        maxFrameBytes = reply.max_frame_bytes
        probe()
        subscriber.next({
          type: 'open',
          link,
          init: { msg_type: 'init', client_id: '', epoch: reply.epoch, server_time: reply.server_time, max_frame_bytes: reply.max_frame_bytes, user: reply.user },
          user: reply.user,
        })
      })
      .catch(failed)

    return () => {
      if (ended) return
      stop()
    }
  })
}

function safeError(data: string): { code: number; reason: string } {
  try {
    const body = JSON.parse(data) as { code?: unknown; reason?: unknown }
    return { code: typeof body.code === 'number' ? body.code : ErrorCode.internal, reason: typeof body.reason === 'string' ? body.reason.slice(0, 200) : 'no reason given' }
  } catch {
    return { code: ErrorCode.internal, reason: 'no reason given' }
  }
}

/** `ws(s)://host:port/path` -> `http(s)://host:port`. */
export function httpBaseOf(socketUrl: string): string {
  const match = /^ws(s?):\/\/([^/?#]+)/.exec(socketUrl)
  if (match === null) throw new TypeError(`not a ws:// or wss:// URL: ${socketUrl}`)
  return `http${match[1]}://${match[2]}`
}
