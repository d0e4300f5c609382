/**
 * The HTTP long-poll fallback (docs/protocol.md, "HTTP fallback"): for clients whose
 * socket gateway is down, refused or overloaded.
 *
 * - `POST /api/commands`: `{ "commands": [...] }` (at most 50; an empty list checks the token).
 *   The same commands, checks, acks and `msg_id` dedup as the socket (commands.ts); `leave`
 *   takes the user out of a room. Answer: `{ msg_type: "commands", user, epoch, server_time,
 *   max_frame_bytes, acks }`.
 * - `GET /api/rooms/:room_id/events?since_seq=N&epoch=E&wait_ms=W`: what a socket's join sends.
 *   With `since_seq` and `epoch` and the history holding everything after N: the events after
 *   N at once, or, when there are none yet, as soon as one comes (held up to W ms, default
 *   25000, at most 30000); `recovered: true`. Otherwise a snapshot (`recovered: false`).
 *
 * The token goes in `Authorization: Bearer` only, never in a URL (URLs end up in logs). A user
 * who polls a room is in it (counted in `online_num`, may comment) until they leave or stop
 * polling for `leaseMs`.
 */
import type { IncomingMessage, ServerResponse } from 'http'
import {
  type AckFrame,
  type ClientCommand,
  type CommandsReply,
  ErrorCode,
  MAX_HTTP_COMMANDS,
  MAX_HTTP_WAIT_MS,
  parseClientFrame,
  type PollReply,
  type RoomEvent,
} from 'miniprogram-live-store/protocol'
import { chargeHistory, overCommandBudget, overHistoryBudget } from './accountCharges'
import { refusal, tooManyRooms, unavailableReason } from './acks'
import { type CommandActor, runCommand } from './commands'
import type { ServerContext } from './context'
import { EngineUnavailableError } from './engine/types'
import type { FanoutMember } from './fanout'
import { HttpError, intParam, readBody, refuse, roomIdOf, send } from './httpMessages'
import { takeFrom, type TokenBucket } from './rateLimit'
import { announceEnter, announceLeave, joinGate } from './roomAccess'
import { publicUser, type TokenPayload } from './token'
import { type ClockTimer, sleepOn } from './clock'
import { Tally } from './tally'

export interface HttpApiOptions {
  /** A user that has not polled a room for this long has left it. Default 60000. */
  leaseMs: number
  /** Polls one user may hold open at once. Default 10 (WeChat's concurrent request limit). */
  maxPollsPerUser: number
  /**
   * After the first new event, a held poll waits this long for more, to answer with them all:
   * a busy room costs a poller a request per `gatherMs`, not one per event (default 250 ms,
   * or the batch tick if longer: 4 polls a second per room, within the per-user request rate).
   */
  gatherMs: number
  /** Requests one user may have in flight at once (commands and polls together); more get 429. Default 16. */
  maxRequestsPerUser: number
  /** Requests one client address may have in flight at once; more get 429. Default 200. */
  maxRequestsPerAddress: number
}

/** A request body refused or cut before it was read whole: the connection is closed after the answer, the rest is never read. */
const ABORTED = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE'])

const EVENTS_PATH = /^\/api\/rooms\/([^/]{1,384})\/events$/

/** A held poll, as the room's fan-out sees it: woken by the room's next event. */
class Waiter implements FanoutMember {
  readonly batch = false
  readonly joining = false
  woken = false
  constructor(
    readonly head: number,
    private readonly wake: () => void,
  ) {}
  hold(): void {}
  sendPrepared(): void {
    this.notify()
  }
  sendText(): void {
    this.notify()
  }
  /** The poll answers now: its epoch is gone, so the next one gets a snapshot. */
  historyLost(): void {
    this.notify()
  }
  /** The poll answers with the `kicked` event; the lease is ended by the HTTP API (`kickOut`). */
  kickedOut(): void {
    this.notify()
  }
  private notify(): void {
    if (this.woken) return
    this.woken = true
    this.wake()
  }
}

export class HttpApi {
  /** Users polling a room: `uid \0 room` -> when the lease runs out. */
  private readonly leases = new Map<string, Lease>()
  private readonly polls = new Tally()
  private readonly buckets = new Map<string, TokenBucket>()
  private readonly held = new Set<() => void>()
  /** Requests in flight per client address and per user. */
  private readonly byAddress = new Tally()
  private readonly byUser = new Tally()

  constructor(
    private readonly ctx: ServerContext,
    private readonly options: HttpApiOptions,
  ) {}

  /** Answers the request if it is the fallback's; false when the path is not. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL, address = req.socket.remoteAddress ?? 'unknown'): boolean {
    let run: (() => Promise<unknown>) | undefined
    if (url.pathname === '/api/commands') run = req.method === 'POST' ? () => this.commands(req, res) : undefined
    else {
      const match = EVENTS_PATH.exec(url.pathname)
      if (match === null) return false
      if (req.method === 'GET') run = () => this.events(req, res, roomIdOf(match[1]), url.searchParams)
    }
    if (run === undefined) {
      refuse(req, res, new HttpError(ErrorCode.badRequest, `${req.method ?? ''} is not allowed here`, 405))
      return true
    }
    if (this.byAddress.get(address) >= this.options.maxRequestsPerAddress) {
      this.ctx.metrics.httpRefused.inc({ reason: 'address_in_flight' })
      refuse(req, res, new HttpError(ErrorCode.rateLimited, `at most ${this.options.maxRequestsPerAddress} requests at once from one address`))
      return true
    }
    this.byAddress.add(address)
    res.once('close', () => this.byAddress.remove(address))
    // Anything `run` throws, even before its first await, is answered, never a crash of the server.
    Promise.resolve()
      .then(run)
      .then(
        (body) => send(res, 200, body),
        (error: unknown) => {
          if (error instanceof HttpError) refuse(req, res, error)
          else if (error instanceof EngineUnavailableError) refuse(req, res, new HttpError(ErrorCode.internal, unavailableReason(error)))
          else if (req.destroyed || ABORTED.has((error as { code?: string }).code ?? '') || (error as Error).message === 'aborted') {
            // The client went away mid-request: counted, not an error of the server's.
            this.ctx.metrics.httpRefused.inc({ reason: 'client_aborted' })
          } else {
            this.ctx.log(`http ${url.pathname}: ${error instanceof Error ? error.stack : String(error)}`)
            send(res, 500, { code: ErrorCode.internal, reason: 'internal error' })
          }
        },
      )
    return true
  }

  /** Takes users who stopped polling out of their rooms. */
  sweep(now: number): void {
    for (const [key, lease] of this.leases) if (lease.until <= now) void this.endLease(key, lease).catch(() => undefined)
    for (const [uid, bucket] of this.buckets) if (bucket.full) this.buckets.delete(uid)
  }

  /** Answers every held poll now (the server is closing). */
  close(): void {
    for (const release of [...this.held]) release()
  }

  /** Requests being answered right now (commands and polls). */
  get requests(): number {
    return this.byAddress.total
  }

  get pollers(): number {
    return this.leases.size
  }

  /** The request's user, counted in flight until its response closes. */
  private async authenticate(req: IncomingMessage, res: ServerResponse): Promise<TokenPayload> {
    const auth = req.headers.authorization
    if (typeof auth !== 'string' || !auth.startsWith('Bearer ')) throw new HttpError(ErrorCode.unauthorized, 'a token in the Authorization header (Bearer) is required')
    const check = await this.ctx.tokens.verify(auth.slice(7).trim(), this.ctx.now())
    if (!check.ok) throw new HttpError(ErrorCode.unauthorized, check.reason)
    const uid = check.payload.uid
    if (!takeFrom(this.buckets, uid, this.ctx.rate, this.ctx.now)) throw new HttpError(ErrorCode.rateLimited, 'too many requests')
    if (this.byUser.get(uid) >= this.options.maxRequestsPerUser) {
      this.ctx.metrics.httpRefused.inc({ reason: 'user_in_flight' })
      throw new HttpError(ErrorCode.rateLimited, `at most ${this.options.maxRequestsPerUser} requests at once per user`)
    }
    this.byUser.add(uid)
    res.once('close', () => this.byUser.remove(uid))
    return check.payload
  }

  private async commands(req: IncomingMessage, res: ServerResponse): Promise<CommandsReply> {
    const user = await this.authenticate(req, res)
    const text = await readBody(req, this.ctx.maxFrameBytes)
    let body: unknown
    try {
      body = JSON.parse(text === '' ? '{"commands":[]}' : text)
    } catch {
      throw new HttpError(ErrorCode.badRequest, 'malformed JSON')
    }
    const list = (body as { commands?: unknown } | null)?.commands
    if (!Array.isArray(list)) throw new HttpError(ErrorCode.badRequest, 'the body must be { "commands": [...] }')
    if (list.length > MAX_HTTP_COMMANDS) throw new HttpError(ErrorCode.tooLarge, `at most ${MAX_HTTP_COMMANDS} commands per request`)
    // The cache of `cache_fields` is per connection: a request is one.
    const actor: CommandActor = { isMember: (roomId) => this.leases.has(leaseKey(user.uid, roomId)), cacheFields: undefined, reportBytes: { received: 0, written: 0 } }
    const acks: AckFrame[] = []
    // In order, one after the other: acks and broadcasts follow the order sent, as on a socket.
    for (const item of list) acks.push(await this.command(item, user, actor))
    return { msg_type: 'commands', user: publicUser(user), epoch: this.ctx.engine.epoch, server_time: this.ctx.now(), max_frame_bytes: this.ctx.maxFrameBytes, acks }
  }

  private async command(item: unknown, user: TokenPayload, actor: CommandActor): Promise<AckFrame> {
    const text = JSON.stringify(item) ?? ''
    const parsed = parseClientFrame(text, { maxBytes: this.ctx.maxFrameBytes })
    if (!parsed.ok) {
      this.ctx.metrics.framesIn.inc({ type: 'invalid' })
      return refusal(parsed.error.msg_id ?? '', parsed.error.code, parsed.error.reason)
    }
    const frame = parsed.frame
    this.ctx.metrics.framesIn.inc({ type: frame.msg_type })
    const spent = overCommandBudget(this.ctx, user)
    if (spent !== undefined) return refusal('msg_id' in frame ? frame.msg_id : '', spent.code, spent.reason)
    if (frame.msg_type === 'leave') {
      const key = leaseKey(user.uid, frame.room_id)
      const lease = this.leases.get(key)
      if (lease !== undefined) await this.endLease(key, lease)
      return { msg_type: 'ack', msg_id: frame.msg_id, ok: true, room_id: frame.room_id }
    }
    if (frame.msg_type === 'ping' || frame.msg_type === 'auth' || frame.msg_type === 'join') {
      return refusal('msg_id' in frame ? frame.msg_id : '', ErrorCode.badRequest, `${frame.msg_type} is not an HTTP command: the token goes in the header, rooms are joined by polling their events`)
    }
    try {
      return await runCommand(this.ctx, actor, user, frame as ClientCommand, Buffer.byteLength(text))
    } catch (error) {
      if (error instanceof EngineUnavailableError) return refusal(frame.msg_id, ErrorCode.internal, unavailableReason(error))
      throw error
    }
  }

  private async events(req: IncomingMessage, res: ServerResponse, roomId: string, query: URLSearchParams): Promise<PollReply> {
    const user = await this.authenticate(req, res)
    const refused = await joinGate(this.ctx, roomId, user, this.leases.has(leaseKey(user.uid, roomId)))
    if (refused !== undefined) throw HttpError.of(refused)
    const since = intParam(query, 'since_seq')
    const epoch = query.get('epoch') ?? undefined
    const waitMs = Math.min(MAX_HTTP_WAIT_MS, intParam(query, 'wait_ms') ?? 25000)
    if (this.polls.get(user.uid) >= this.options.maxPollsPerUser) throw new HttpError(ErrorCode.rateLimited, `at most ${this.options.maxPollsPerUser} polls at once per user`)
    this.polls.add(user.uid)
    try {
      const lease = await this.touch(roomId, user, waitMs)
      const delivered = lease.delivered
      const reply = since === undefined || epoch === undefined ? await this.snapshot(roomId) : await this.recoverOrWait(res, roomId, since, epoch, waitMs)
      // History sent again is paid by its bytes: a snapshot, or events this user was answered
      // before (all of them on a lease's first poll: a recovery). Live events are free.
      const again = reply.snapshot !== undefined ? [reply.snapshot] : reply.events.filter((event) => delivered === undefined || (event.seq ?? 0) <= delivered)
      // While the budget is in debt, only an answer of new events goes out.
      const spent = again.length > 0 ? overHistoryBudget(this.ctx, user) : undefined
      if (spent !== undefined) throw new HttpError(spent.code, spent.reason)
      chargeHistory(
        this.ctx,
        user,
        again.reduce((sum, frame) => sum + Buffer.byteLength(JSON.stringify(frame)), 0),
      )
      lease.delivered = Math.max(lease.delivered ?? 0, reply.seq)
      return reply
    } finally {
      this.polls.remove(user.uid)
    }
  }

  /** The events after `since`, waiting up to `waitMs` for some; a snapshot when they cannot be recovered. */
  private async recoverOrWait(res: ServerResponse, roomId: string, since: number, epoch: string, waitMs: number): Promise<PollReply> {
    const { engine } = this.ctx
    // Listening before reading: an event that comes while the history is read wakes the poll.
    let wake: () => void = () => undefined
    const woken = new Promise<void>((resolve) => (wake = resolve))
    const waiter = new Waiter(since, wake)
    this.ctx.fanouts.join(roomId, waiter)
    const release = (): void => wake()
    this.held.add(release)
    res.once('close', release)
    try {
      let recovery = await engine.recover(roomId, since, epoch)
      if (recovery !== null && waitMs > 0 && recovery.events.length < MAX_EVENTS_PER_POLL) {
        if (recovery.events.length === 0 && !waiter.woken) {
          let timer: ClockTimer | undefined
          await Promise.race([woken, new Promise<void>((resolve) => (timer = this.ctx.clock.setTimer(resolve, waitMs)))])
          timer?.cancel()
        }
        // Something came (now or already): what follows within the window goes in the same
        // answer. A busy room costs a poller one request per window, not one per event.
        if ((recovery.events.length > 0 || waiter.woken) && !res.destroyed) {
          await sleepOn(this.ctx.clock, this.options.gatherMs)
          recovery = await engine.recover(roomId, since, epoch)
        }
      }
      if (recovery === null) return await this.snapshot(roomId)
      return pollReply(roomId, recovery.epoch, recovery.head, true, recovery.events)
    } finally {
      this.ctx.fanouts.leave(roomId, waiter)
      this.held.delete(release)
      res.off('close', release)
    }
  }

  private async snapshot(roomId: string): Promise<PollReply> {
    const snapshot = await this.ctx.engine.snapshot(roomId)
    return { ...pollReply(roomId, snapshot.epoch, snapshot.seq, false, []), snapshot }
  }

  /** The room's history changed: its leases end, and each poller's next poll enters the new history (a snapshot). */
  historyLost(roomId: string): void {
    for (const [key, lease] of this.leases) if (lease.roomId === roomId) void this.endLease(key, lease).catch(() => undefined)
  }

  /** A `kicked` event: the user's lease of the room ends at once (their next poll is refused 4031). */
  kickOut(roomId: string, uid: string): void {
    const key = leaseKey(uid, roomId)
    const lease = this.leases.get(key)
    if (lease !== undefined) void this.endLease(key, lease).catch(() => undefined)
  }

  /** The user has left the room (a `leave`, or no poll for `leaseMs`). */
  private endLease(key: string, lease: Lease): Promise<unknown> {
    this.leases.delete(key)
    this.ctx.userRooms.leave(lease.user.uid, lease.roomId)
    return announceLeave(this.ctx, lease.roomId, connId(lease.user), lease.user)
  }

  /** The user is in the room while they poll it: the first poll counts them in. */
  private async touch(roomId: string, user: TokenPayload, waitMs: number): Promise<Lease> {
    const key = leaseKey(user.uid, roomId)
    const until = this.ctx.now() + waitMs + this.options.leaseMs
    const lease = this.leases.get(key)
    if (lease !== undefined) {
      lease.until = Math.max(lease.until, until)
      lease.user = user
      return lease
    }
    // The gate checked it before the poll's awaits; another poll may have entered a room since.
    if (!this.ctx.userRooms.mayEnter(user.uid, roomId)) throw HttpError.of(tooManyRooms(this.ctx.userRooms.maxPerUser))
    const fresh: Lease = { roomId, user, until }
    this.leases.set(key, fresh)
    this.ctx.userRooms.enter(user.uid, roomId)
    await announceEnter(this.ctx, roomId, connId(user), user)
    return fresh
  }
}

/** A user in a room over HTTP: in it while it polls (until `until`). */
interface Lease {
  roomId: string
  user: TokenPayload
  until: number
  /** The highest seq this user was answered in this room: events up to it sent again are paid for. */
  delivered?: number
}

/** At most a batch's worth of events per answer: the client asks again from the last one. */
const MAX_EVENTS_PER_POLL = 1000

function pollReply(roomId: string, epoch: string, head: number, recovered: boolean, events: RoomEvent[]): PollReply {
  const some = events.length > MAX_EVENTS_PER_POLL ? events.slice(0, MAX_EVENTS_PER_POLL) : events
  const seq = some.length < events.length ? (some[some.length - 1].seq ?? head) : head
  return { msg_type: 'poll', room_id: roomId, epoch, seq, recovered, events: some }
}

const leaseKey = (uid: string, roomId: string): string => `${uid}\u0000${roomId}`
/** One presence per user and room over HTTP, however many requests. */
const connId = (user: TokenPayload): string => `http:${user.uid}`
