import type { WebSocket } from 'ws'
import {
  type AckFrame,
  BATCH_PROTOCOL_NAME,
  type ClientFrame,
  CloseCode,
  ErrorCode,
  type JoinCommand,
  parseClientFrame,
  type ParseResult,
  type ReportLog,
  type ServerFrame,
} from 'miniprogram-live-store/protocol'
import { chargeHistory, overCommandBudget, overHistoryBudget } from './accountCharges'
import { refusal, tooManyConnections, unavailableReason } from './acks'
import { runCommand } from './commands'
import type { ServerContext } from './context'
import { EngineUnavailableError } from './engine/types'
import { type FanoutCounters, PreparedFrame, writePrepared } from './fanout'
import { allRooms, Membership, roomOf, type Rooms, withoutRoom, withRoom } from './membership'
import { attachSocket, deflateWithoutContext } from './socketEvents'
import { TokenBucket, WindowCounter } from './rateLimit'
import { announceEnter, announceLeave, joinGate } from './roomAccess'
import { publicUser, type TokenCheck, type TokenPayload } from './token'

/**
 * The largest frame a socket may send before it is authenticated: an `auth` frame with a token
 * at its longest (4,096 characters) fits. Anything larger is closed with 1009 before it is parsed.
 */
export const PRE_AUTH_MAX_FRAME_BYTES = 8 * 1024

/** Refused frames (rate limit or garbage) a connection may send in 10 s before it is closed with 1008. */
const FLOOD_LIMIT = 100
const GARBAGE_LIMIT = 20
const ABUSE_WINDOW_MS = 10000

const RESOLVED = Promise.resolve()
/** Written as is: ws compresses nothing itself (see `sendData`). */
const PLAIN = { compress: false }
/** A socket's own frames are not the fan-out's: its counters count room frames. */
const UNCOUNTED: FanoutCounters = { framed: () => undefined, deflated: () => undefined }

/** One client's WebSocket, from `init` to close: every rule of the protocol that is per connection. */
export class LiveConnection {
  user: TokenPayload | undefined
  lastFrameAt: number
  readonly openedAt: number
  /** The rooms this connection is in (see `Rooms`). */
  private rooms: Rooms
  private readonly bucket: TokenBucket
  private floods: WindowCounter | undefined
  private garbage: WindowCounter | undefined
  /** `cache_fields` of this connection's reports (commands.ts keeps them up to date). */
  cacheFields: ReportLog | undefined
  readonly reportBytes = { received: 0, written: 0 }
  private queue: Promise<void> = RESOLVED
  private closed = false
  /** Selected `live.v1.batch`: a room's events come in one frame per tick. */
  readonly batch: boolean
  /** permessage-deflate with server_no_context_takeover: room frames compressed once fit this socket. */
  readonly deflateOnce: boolean

  constructor(
    readonly id: string,
    private readonly ws: WebSocket,
    readonly ctx: ServerContext,
    /** The upgrade's token, checked before the upgrade (it decided whether the socket may compress). */
    headerCheck: TokenCheck | undefined,
    /** The client's address, as counted against `maxConnectionsPerAddress`. */
    readonly address: string,
  ) {
    this.openedAt = this.lastFrameAt = ctx.now()
    this.batch = ws.protocol === BATCH_PROTOCOL_NAME
    this.deflateOnce = deflateWithoutContext(ws)
    this.bucket = new TokenBucket(ctx.rate.perSecond, ctx.rate.burst, ctx.now)
    ctx.connections.add(this)
    attachSocket(ws, this)
    ctx.addressConnections.add(address)
    const overLimit = headerCheck?.ok === true && !this.claim(headerCheck.payload)
    this.hello()
    if (overLimit) this.close(CloseCode.policyViolation, tooManyConnections(ctx.maxConnectionsPerUser).reason)
  }

  /** `init`: with `user` when the handshake's token was good. */
  private hello(): void {
    const { ctx } = this
    this.send({
      msg_type: 'init',
      client_id: this.id,
      epoch: ctx.engine.epoch,
      server_time: ctx.now(),
      heartbeat_ms: ctx.heartbeatMs,
      max_frame_bytes: ctx.maxFrameBytes,
      ...(this.user ? { user: publicUser(this.user) } : {}),
    })
  }

  /** Counts this connection against its user's limit; false (and not authenticated) when over it. */
  private claim(user: TokenPayload): boolean {
    if (this.ctx.userConnections.get(user.uid) >= this.ctx.maxConnectionsPerUser) return false
    this.ctx.userConnections.add(user.uid)
    this.user = user
    return true
  }

  private unclaim(): void {
    const uid = this.user?.uid
    if (uid !== undefined) this.ctx.userConnections.remove(uid)
  }

  get authenticated(): boolean {
    return this.user !== undefined
  }

  /** Closes with a code; the socket layer's `close` handler cleans up. */
  close(code: number, reason: string): void {
    if (this.closed) return
    this.closed = true
    this.ctx.metrics.closes.inc({ code: String(code) })
    try {
      this.ws.close(code, reason)
    } catch {
      this.ws.terminate()
    }
    // A peer that does not answer the close handshake is cut off. Its close frame may still be
    // queued behind data it never read (a slow reader's 1 MiB), so such a peer sees 1006, not
    // `code`: counted apart, so the metrics say what peers saw.
    this.ctx.clock.setTimer(() => {
      if (this.ws.readyState === this.ws.CLOSED) return
      this.ctx.metrics.closesCutOff.inc({ code: String(code) })
      this.ws.terminate()
    }, this.ctx.closeTimeoutMs)
  }

  /** The socket is gone: leave every room. */
  async closedByPeer(code: number): Promise<void> {
    if (!this.closed) this.ctx.metrics.closes.inc({ code: String(code) })
    this.closed = true
    const user = this.user
    this.unclaim()
    const rooms = allRooms(this.rooms)
    this.rooms = undefined
    for (const membership of rooms) {
      membership.unsubscribe()
      if (user) this.ctx.userRooms.leave(user.uid, membership.roomId)
      if (user) await announceLeave(this.ctx, membership.roomId, this.id, user).catch(() => undefined)
    }
  }

  /** Sends text already serialised (a broadcast); closes a reader that cannot keep up. */
  sendData(data: string, type: string): void {
    if (!this.mayWrite(type)) return
    // A frame of this socket's own (a snapshot, recovery) is compressed here, once, like a room's:
    // left to ws, each socket would keep a zlib stream of its own (~26 KB of native memory each).
    if (this.deflateOnce && data.length >= this.ctx.deflateThreshold) writePrepared(this.ws, new PreparedFrame(data, type, UNCOUNTED, this.ctx.deflateThreshold), true)
    else this.ws.send(data, PLAIN)
  }

  /** Sends a frame prepared once for the whole room (see fanout.ts); closes a reader that cannot keep up. */
  sendPrepared(frame: PreparedFrame): void {
    if (this.mayWrite(frame.type)) writePrepared(this.ws, frame, this.deflateOnce)
  }

  /** Whether a frame of `type` may be written now (it is counted if so); a reader that cannot keep up is closed. */
  private mayWrite(type: string): boolean {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return false
    if (this.ws.bufferedAmount > this.ctx.maxBufferedBytes) {
      this.ctx.metrics.slowReaders.inc()
      this.close(CloseCode.tryAgainLater, 'reading too slowly')
      return false
    }
    this.ctx.metrics.frameOut(type)
    return true
  }

  /** Sends a frame; its bytes. */
  private send(frame: ServerFrame): number {
    const data = JSON.stringify(frame)
    this.sendData(data, frame.msg_type)
    return Buffer.byteLength(data)
  }

  private ack(ack: AckFrame): void {
    this.ctx.metrics.acks.inc({ code: String(ack.ok ? 0 : (ack.code ?? 0)) })
    this.send(ack)
  }

  private refuse(msgId: string | undefined, code: number, reason: string, until?: number): void {
    if (msgId !== undefined) this.ack(refusal(msgId, code, reason, until))
    else this.send({ msg_type: 'error', code, reason })
  }

  /** Cuts the socket at once (no close handshake). */
  terminate(): void {
    this.ws.terminate()
  }

  /** A frame from the socket. */
  onMessage(data: Buffer, isBinary: boolean): void {
    if (this.closed) return
    // Before auth, almost nothing: a socket with no user yet may send small frames only (and
    // never compressed ones: it negotiated no deflate), so it cannot make the server work hard.
    if (this.user === undefined && data.length > PRE_AUTH_MAX_FRAME_BYTES) {
      this.ctx.metrics.framesIn.inc({ type: 'too_large_before_auth' })
      this.close(CloseCode.tooBig, `at most ${PRE_AUTH_MAX_FRAME_BYTES} bytes a frame before auth`)
      return
    }
    this.lastFrameAt = this.ctx.now()
    if (!this.bucket.take()) {
      this.ctx.metrics.framesIn.inc({ type: 'rate_limited' })
      const msgId = /"msg_id"\s*:\s*"([^"]{1,64})"/.exec(data.toString('utf8', 0, 512))?.[1]
      this.refuse(msgId, ErrorCode.rateLimited, 'too many frames')
      // Counters of abuse exist only once a connection has been refused: most never are.
      if ((this.floods ??= new WindowCounter(FLOOD_LIMIT, ABUSE_WINDOW_MS, this.ctx.now)).hit()) this.close(CloseCode.policyViolation, 'flooding')
      return
    }
    const parsed: ParseResult<ClientFrame> = isBinary
      ? { ok: false, error: { code: ErrorCode.badRequest, reason: 'binary frames are not part of the protocol' } }
      : parseClientFrame(data.toString('utf8'), { maxBytes: this.ctx.maxFrameBytes })
    if (!parsed.ok) {
      this.ctx.metrics.framesIn.inc({ type: 'invalid' })
      this.refuse(parsed.error.msg_id, parsed.error.code, parsed.error.reason)
      if ((this.garbage ??= new WindowCounter(GARBAGE_LIMIT, ABUSE_WINDOW_MS, this.ctx.now)).hit()) this.close(CloseCode.policyViolation, 'too many bad frames')
      return
    }
    const frame = parsed.frame
    this.ctx.metrics.framesIn.inc({ type: frame.msg_type })
    if (frame.msg_type === 'ping') {
      // Answered at once, outside the command queue, so RTT measures the link.
      this.send({ msg_type: 'pong', ...(frame.t !== undefined ? { t: frame.t } : {}), server_time: this.ctx.now() })
      return
    }
    // Commands of one connection run in order: acks and broadcasts follow the order sent.
    const frameBytes = data.length
    const queued: Promise<void> = this.queue
      .then(() => this.handle(frame, frameBytes))
      .catch((error: unknown) => {
        const msgId = 'msg_id' in frame ? frame.msg_id : undefined
        if (error instanceof EngineUnavailableError) {
          this.refuse(msgId, ErrorCode.internal, unavailableReason(error))
          return
        }
        this.ctx.log(`connection ${this.id}: ${error instanceof Error ? error.stack : String(error)}`)
        this.refuse(msgId, ErrorCode.internal, 'internal error')
      })
      .then(() => {
        // Idle again: the settled chain is let go (a promise per connection otherwise, for nothing).
        if (this.queue === queued) this.queue = RESOLVED
      })
    this.queue = queued
  }

  private async handle(frame: Exclude<ClientFrame, { msg_type: 'ping' }>, frameBytes: number): Promise<void> {
    if (this.closed) return
    if (frame.msg_type === 'auth') return this.auth(frame.msg_id, frame.token)
    const user = this.user
    if (user === undefined) return this.refuse(frame.msg_id, ErrorCode.unauthorized, 'authenticate first')
    const spent = overCommandBudget(this.ctx, user)
    if (spent !== undefined) return this.refuse(frame.msg_id, spent.code, spent.reason)
    if (frame.msg_type === 'join') return this.join(frame, user)
    if (frame.msg_type === 'leave') {
      await this.leave(frame.room_id, user)
      return this.ack({ msg_type: 'ack', msg_id: frame.msg_id, ok: true, room_id: frame.room_id })
    }
    this.ack(await runCommand(this.ctx, this, user, frame, frameBytes))
  }

  /** The command path's view of this connection (see commands.ts). */
  isMember(roomId: string): boolean {
    return this.membership(roomId) !== undefined
  }

  /**
   * Authenticates, or (already authenticated) takes a fresh token of the same user: its later
   * `exp` keeps the connection open. A bad token closes with 4001 either way; another user's
   * token on an authenticated connection is refused (4003) and changes nothing.
   */
  private async auth(msgId: string, token: string): Promise<void> {
    const check = await this.ctx.tokens.verify(token, this.ctx.now())
    if (this.closed) return
    if (!check.ok) {
      this.refuse(msgId, ErrorCode.unauthorized, check.reason)
      this.close(CloseCode.unauthorized, check.reason)
      return
    }
    if (this.user !== undefined && check.payload.uid !== this.user.uid) {
      this.refuse(msgId, ErrorCode.forbidden, 'this connection belongs to another user')
      return
    }
    if (this.user !== undefined) this.user = check.payload
    else if (!this.claim(check.payload)) {
      const over = tooManyConnections(this.ctx.maxConnectionsPerUser)
      this.refuse(msgId, over.code, over.reason)
      this.close(CloseCode.policyViolation, over.reason)
      return
    }
    this.ack({ msg_type: 'ack', msg_id: msgId, ok: true, user: publicUser(check.payload) })
  }

  /** The token's `exp` has passed: the connection is no longer authenticated. */
  expired(nowMs: number): boolean {
    return this.user !== undefined && this.user.exp * 1000 <= nowMs
  }

  private async join(frame: JoinCommand, user: TokenPayload): Promise<void> {
    const { engine } = this.ctx
    const roomId = frame.room_id
    const existing = this.membership(roomId)
    const refused = await joinGate(this.ctx, roomId, user, existing !== undefined)
    if (refused !== undefined) return this.refuse(frame.msg_id, refused.code, refused.reason, refused.until)
    existing?.unsubscribe()
    const membership = new Membership(roomId, this)
    this.setMembership(membership)
    if (existing === undefined) this.ctx.userRooms.enter(user.uid, roomId)
    this.ctx.fanouts.join(roomId, membership)
    const recovery = frame.since_seq !== undefined && frame.epoch !== undefined ? await engine.recover(roomId, frame.since_seq, frame.epoch) : null
    // History sent again is paid by its bytes: while the user's budget is in debt, only a join
    // that recovers nothing missed gets through (it costs nothing); the others are refused, out
    // of the room, and the client tries again later.
    const spent = recovery === null || recovery.events.length > 0 ? overHistoryBudget(this.ctx, user) : undefined
    if (spent !== undefined) {
      if (existing !== undefined) await this.leave(roomId, user)
      else {
        this.deleteMembership(roomId)
        membership.unsubscribe()
        this.ctx.userRooms.leave(user.uid, roomId)
      }
      return this.refuse(frame.msg_id, spent.code, spent.reason)
    }
    let head: number
    if (recovery !== null) {
      head = recovery.head
      this.ack({ msg_type: 'ack', msg_id: frame.msg_id, ok: true, room_id: roomId, epoch: recovery.epoch, seq: head, recovered: true })
      let bytes = 0
      for (const event of recovery.events) bytes += this.send(event)
      chargeHistory(this.ctx, user, bytes)
    } else {
      const snapshot = await engine.snapshot(roomId)
      head = snapshot.seq
      this.ack({ msg_type: 'ack', msg_id: frame.msg_id, ok: true, room_id: roomId, epoch: snapshot.epoch, seq: head, recovered: false })
      chargeHistory(this.ctx, user, this.send(snapshot))
    }
    // Live events that raced the read: only those past the head are new to this client.
    const buffered = membership.buffer ?? []
    membership.buffer = undefined
    membership.head = head
    for (const [event, data] of buffered) {
      if ((event.seq ?? 0) <= head) continue
      this.sendData(data, event.msg_type)
      membership.head = event.seq ?? head
    }
    // The link died while the join was reading (the close handler has left every room it knew):
    // counting the viewer now would leave a ghost in `online_num`.
    if (this.closed || this.membership(roomId) !== membership) {
      membership.unsubscribe()
      // Closed before the membership was set: the close handler never saw it.
      if (this.membership(roomId) === membership) {
        this.deleteMembership(roomId)
        this.ctx.userRooms.leave(user.uid, roomId)
      }
      return
    }
    if (existing === undefined) {
      await announceEnter(this.ctx, roomId, this.id, user)
      // Closed while the join was being applied: the close handler's leave may have gone first.
      if (this.closed) await announceLeave(this.ctx, roomId, this.id, user)
    }
  }

  private membership(roomId: string): Membership | undefined {
    return roomOf(this.rooms, roomId)
  }

  private setMembership(membership: Membership): void {
    this.rooms = withRoom(this.rooms, membership)
  }

  private deleteMembership(roomId: string): void {
    this.rooms = withoutRoom(this.rooms, roomId)
  }

  /** The socket layer saw the peer break a rule of WebSocket itself (a frame over maxPayload: 1009, bad UTF-8: 1007). */
  closingWith(code: number): void {
    if (this.closed) return
    this.closed = true
    this.ctx.metrics.closes.inc({ code: String(code) })
  }

  /** Takes this connection out of a room (a `leave`, a kick); again is harmless. */
  async leave(roomId: string, user: TokenPayload): Promise<void> {
    const membership = this.membership(roomId)
    if (membership === undefined) return
    this.deleteMembership(roomId)
    membership.unsubscribe()
    this.ctx.userRooms.leave(user.uid, roomId)
    await announceLeave(this.ctx, roomId, this.id, user)
  }
}
