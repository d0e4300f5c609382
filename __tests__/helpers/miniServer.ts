/**
 * A deliberately small live-room peer on a real `ws` server (127.0.0.1, free port):
 * sequenced events with history and recovery, acks with msg_id dedup, and test
 * controls (publish, kill every connection, send raw frames). With `plain: true` it
 * speaks the plain protocol: no seq, no ack, no epoch. The reference server in
 * `server/` is the full implementation; this one lets client tests control the peer.
 */
import { type AddressInfo } from 'net'
import { WebSocketServer, type WebSocket } from 'ws'
import type { RoomEvent } from '../../src/protocol/frames'

export interface MiniServerOptions {
  plain?: boolean
  heartbeatMs?: number
}

interface Conn {
  ws: WebSocket
  authed: boolean
  uid: string
  rooms: Set<string>
}

type EventBody = { msg_type: RoomEvent['msg_type'] } & Record<string, unknown>

export class MiniServer {
  readonly epoch = `e${Math.random().toString(36).slice(2, 8)}`
  readonly history = new Map<string, RoomEvent[]>()
  /** msg_id -> times the command was applied (must stay 1). */
  readonly applied = new Map<string, number>()
  /** Commands answered with dup: true. */
  dupAcks = 0
  joins = 0
  leaves = 0
  connections = 0
  private readonly conns = new Set<Conn>()
  private readonly acked = new Map<string, Record<string, unknown>>()

  private constructor(
    private readonly wss: WebSocketServer,
    private readonly options: MiniServerOptions,
  ) {
    wss.on('connection', (ws, req) => this.onConnection(ws, req.headers.authorization))
  }

  static async start(options: MiniServerOptions = {}): Promise<MiniServer> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws' })
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
    return new MiniServer(wss, options)
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/ws`
  }

  get openConnections(): number {
    return this.conns.size
  }

  head(roomId: string): number {
    return this.history.get(roomId)?.length ?? 0
  }

  /** Appends an event to a room and sends it to every member. */
  publish(roomId: string, body: EventBody): RoomEvent {
    const events = this.history.get(roomId) ?? []
    this.history.set(roomId, events)
    const event = { ...body, room_id: roomId, seq: events.length + 1, ts: Date.now() } as RoomEvent
    events.push(event)
    const data = JSON.stringify(this.options.plain ? { ...event, seq: undefined, ts: undefined } : event)
    for (const c of this.conns) if (c.rooms.has(roomId) && c.ws.readyState === c.ws.OPEN) c.ws.send(data)
    return event
  }

  /** Every connection dies abnormally (no close frame), as in a crash or network cut. */
  killAll(): number {
    const n = this.conns.size
    for (const c of this.conns) c.ws.terminate()
    return n
  }

  /** Sends raw text to every open connection. */
  sendRaw(data: string): void {
    for (const c of this.conns) c.ws.send(data)
  }

  close(): Promise<void> {
    for (const c of this.conns) c.ws.terminate()
    return new Promise((resolve) => this.wss.close(() => resolve()))
  }

  private onConnection(ws: WebSocket, authorization: string | undefined): void {
    this.connections++
    const headerToken = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined
    const conn: Conn = { ws, authed: false, uid: '', rooms: new Set() }
    this.conns.add(conn)
    ws.on('close', () => this.conns.delete(conn))
    ws.on('error', () => undefined)
    const send = (frame: Record<string, unknown>): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame))
    }
    if (this.options.plain) {
      conn.authed = true
      send({ msg_type: 'init', client_id: `c${this.connections}` })
    } else {
      const user = headerToken?.startsWith('ok') ? { uid: headerToken.slice(2) || 'u', name: 'U', role: 'viewer' } : undefined
      if (user) {
        conn.authed = true
        conn.uid = user.uid
      }
      send({
        msg_type: 'init',
        client_id: `c${this.connections}`,
        epoch: this.epoch,
        server_time: Date.now(),
        heartbeat_ms: this.options.heartbeatMs ?? 25000,
        max_frame_bytes: 65536,
        ...(user ? { user } : {}),
      })
    }
    ws.on('message', (raw) => {
      let frame: Record<string, unknown>
      try {
        frame = JSON.parse(String(raw)) as Record<string, unknown>
      } catch {
        return
      }
      const type = frame.msg_type
      const msgId = String(frame.msg_id ?? '')
      if (type === 'ping') return send({ msg_type: 'pong', t: frame.t, server_time: Date.now() })
      if (type === 'auth') {
        const token = String(frame.token)
        if (!token.startsWith('ok')) {
          send({ msg_type: 'ack', msg_id: msgId, ok: false, code: 4001, reason: 'bad token' })
          return ws.close(4001, 'bad token')
        }
        conn.authed = true
        conn.uid = token.slice(2) || 'u'
        return send({ msg_type: 'ack', msg_id: msgId, ok: true, user: { uid: conn.uid, name: 'U', role: 'viewer' } })
      }
      if (!conn.authed) return ws.close(4001, 'unauthorized')
      const roomId = String(frame.room_id)
      if (type === 'join') return this.join(conn, msgId, roomId, frame, send)
      if (type === 'leave') {
        this.leaves++
        conn.rooms.delete(roomId)
        if (!this.options.plain) send({ msg_type: 'ack', msg_id: msgId, ok: true })
        return
      }
      // Every other command: dedup by (uid, msg_id), apply once, ack.
      const key = `${conn.uid}:${msgId}`
      const previous = this.acked.get(key)
      if (previous) {
        this.dupAcks++
        return send({ ...previous, dup: true })
      }
      this.applied.set(msgId, (this.applied.get(msgId) ?? 0) + 1)
      const ack = { msg_type: 'ack', msg_id: msgId, ok: true }
      this.acked.set(key, ack)
      if (type === 'message') {
        this.publish(roomId, { msg_type: 'message', msg_id: msgId, from_uid: conn.uid, from_name: 'U', content: String(frame.content) })
      }
      if (!this.options.plain) send(ack)
    })
  }

  private join(conn: Conn, msgId: string, roomId: string, frame: Record<string, unknown>, send: (f: Record<string, unknown>) => void): void {
    this.joins++
    conn.rooms.add(roomId)
    const events = this.history.get(roomId) ?? []
    const head = events.length
    if (this.options.plain) return
    const since = typeof frame.since_seq === 'number' ? frame.since_seq : undefined
    const recovered = since !== undefined && frame.epoch === this.epoch && since <= head
    send({ msg_type: 'ack', msg_id: msgId, ok: true, room_id: roomId, epoch: this.epoch, seq: head, recovered })
    if (recovered) {
      for (const e of events.slice(since)) send(e as unknown as Record<string, unknown>)
    } else {
      send({
        msg_type: 'snapshot',
        room_id: roomId,
        epoch: this.epoch,
        seq: head,
        room: { title: 'room', status: 'live', anchor: { uid: 'a', name: 'A' }, online_num: this.conns.size, like_num: 0, subscribe_num: 0 },
        message_list: [],
        shelf: [],
      })
    }
  }
}
