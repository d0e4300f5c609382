/**
 * A scripted platform for marble tests: sockets live on the RxJS scheduler's clock,
 * so `TestScheduler.run()` drives every open, frame and close in virtual time.
 * This fakes the platform seam only; real-socket tests use the Node platform.
 */
import { asyncScheduler, Subject } from 'rxjs'
import type { ConnectSocketOptions, NetworkStatus, Platform, PlatformResult, SocketCloseEvent, SocketMessageEvent, SocketOpenEvent, SocketSendOptions, SocketTask } from '../platform/types'
import type { ClientFrame, ServerFrame } from '../protocol/frames'

export interface FakeServerScript {
  /** Delay from connect to open. Default 1. */
  openMs?: number
  /** Refuse the connection (onError + onClose 1006). */
  refuse?: boolean
  /** `init` sent on open; undefined sends none. Default: a live.v1 init without user. */
  init?: Record<string, unknown> | undefined
  /** Reply to auth: 'ok' (default), or a code to refuse with. */
  auth?: 'ok' | number
  /** Pong delay; 'never' for a half-open link. Default 1. */
  pongMs?: number | 'never'
  /** Ack every command (default true). */
  ackCommands?: boolean
  /** Delay of acks and snapshots; 0 (default) answers synchronously. */
  replyMs?: number
  /** Answers a frame itself; return true to skip the default reply. */
  reply?: (frame: ClientFrame, task: FakeTask) => boolean
  /** Reply to join (default: ack + empty snapshot at seq `headSeq`). */
  headSeq?: number
}

type Listener<T> = (value: T) => void

export class FakeTask implements SocketTask {
  readonly sent: ClientFrame[] = []
  state: 'connecting' | 'open' | 'closed' = 'connecting'
  closedBy?: SocketCloseEvent
  private readonly open: Listener<SocketOpenEvent>[] = []
  private readonly closeL: Listener<SocketCloseEvent>[] = []
  private readonly errorL: Listener<PlatformResult>[] = []
  private readonly messageL: Listener<SocketMessageEvent>[] = []

  constructor(
    readonly options: ConnectSocketOptions,
    readonly script: FakeServerScript,
    private readonly sent$: Subject<ClientFrame>,
  ) {}

  onOpen(l: Listener<SocketOpenEvent>): void {
    this.open.push(l)
  }
  onClose(l: Listener<SocketCloseEvent>): void {
    this.closeL.push(l)
  }
  onError(l: Listener<PlatformResult>): void {
    this.errorL.push(l)
  }
  onMessage(l: Listener<SocketMessageEvent>): void {
    this.messageL.push(l)
  }

  send(o: SocketSendOptions): void {
    if (this.state !== 'open') {
      o.fail?.({ errMsg: 'sendSocketMessage:fail WebSocket is not connected' })
      return
    }
    const frame = JSON.parse(String(o.data)) as ClientFrame
    this.sent.push(frame)
    this.sent$.next(frame)
    o.success?.({ errMsg: 'sendSocketMessage:ok' })
    this.reply(frame)
  }

  close(o: { code?: number; reason?: string } = {}): void {
    if (this.state === 'closed') return
    this.closedBy = { code: o.code ?? 1000, reason: o.reason ?? '' }
    this.finish(this.closedBy)
  }

  // ---- server side controls

  /** Server sends a frame (object, or raw text). */
  deliver(frame: ServerFrame | Record<string, unknown> | string): void {
    if (this.state !== 'open') return
    const data = typeof frame === 'string' ? frame : JSON.stringify(frame)
    const listeners = this.messageL
    // One listener (the client's) is the rule: no copy of the list for each frame.
    if (listeners.length === 1) listeners[0]({ data })
    else for (const l of listeners.slice()) l({ data })
  }

  /** Server closes with a code. */
  serverClose(code: number, reason = ''): void {
    this.finish({ code, reason })
  }

  /** The link dies without a close reaching the client (half-open). */
  goSilent(): void {
    this.script.pongMs = 'never'
    this.script.ackCommands = false
  }

  start(): void {
    asyncScheduler.schedule(() => {
      if (this.state !== 'connecting') return
      if (this.script.refuse) {
        this.state = 'closed'
        for (const l of this.errorL.slice()) l({ errMsg: 'connectSocket:fail connection refused' })
        for (const l of this.closeL.slice()) l({ code: 1006, reason: 'abnormal closure' })
        return
      }
      this.state = 'open'
      for (const l of this.open.slice()) l({})
      const init = 'init' in this.script ? this.script.init : { msg_type: 'init', client_id: 'c1', epoch: 'e1', heartbeat_ms: 25000 }
      if (init !== undefined) this.deliver(init)
    }, this.script.openMs ?? 1)
  }

  private finish(event: SocketCloseEvent): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    for (const l of this.closeL.slice()) l(event)
  }

  private reply(frame: ClientFrame): void {
    const delay = this.script.replyMs ?? 0
    if (delay > 0 && frame.msg_type !== 'ping') asyncScheduler.schedule(() => this.replyNow(frame), delay)
    else this.replyNow(frame)
  }

  private replyNow(frame: ClientFrame): void {
    const s = this.script
    if (frame.msg_type !== 'ping' && s.reply?.(frame, this)) return
    switch (frame.msg_type) {
      case 'ping': {
        if (s.pongMs === 'never') return
        const t = frame.t
        asyncScheduler.schedule(() => this.deliver({ msg_type: 'pong', t, server_time: 0 }), s.pongMs ?? 1)
        return
      }
      case 'auth':
        if (s.auth === undefined || s.auth === 'ok') {
          this.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: true, user: { uid: 'u1', name: 'U', role: 'viewer' } })
        } else {
          this.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: false, code: s.auth, reason: 'bad token' })
          this.serverClose(s.auth, 'bad token')
        }
        return
      case 'join': {
        if (s.ackCommands === false) return
        const seq = s.headSeq ?? 0
        this.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: true, room_id: frame.room_id, epoch: 'e1', seq, recovered: false })
        this.deliver({
          msg_type: 'snapshot',
          room_id: frame.room_id,
          epoch: 'e1',
          seq,
          room: { title: 't', status: 'live', anchor: { uid: 'a', name: 'A' }, online_num: 1, like_num: 0, subscribe_num: 0 },
          message_list: [],
          shelf: [],
        })
        return
      }
      default:
        if (s.ackCommands === false) return
        this.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: true })
    }
  }
}

export class FakePlatform implements Platform {
  readonly tasks: FakeTask[] = []
  /** Every frame any socket sent, as it was sent. */
  readonly sent$ = new Subject<ClientFrame>()
  private readonly storage = new Map<string, string>()
  private network: NetworkStatus = { isConnected: true, networkType: 'wifi' }
  private readonly networkL: Listener<NetworkStatus>[] = []
  private readonly showL: Listener<void>[] = []
  private readonly hideL: Listener<void>[] = []
  /** Script for the next connections (shift one per connect, the last one sticks). */
  scripts: FakeServerScript[] = [{}]

  get last(): FakeTask {
    return this.tasks[this.tasks.length - 1]
  }

  /** Virtual times at which connects happened. */
  readonly connectTimes: number[] = []

  connectSocket(options: ConnectSocketOptions): SocketTask {
    const script = { ...(this.scripts.length > 1 ? this.scripts.shift() : this.scripts[0]) }
    const task = new FakeTask(options, script, this.sent$)
    this.tasks.push(task)
    this.connectTimes.push(asyncScheduler.now())
    if (!this.network.isConnected) script.refuse = true
    task.start()
    return task
  }
  getNetworkType(): Promise<NetworkStatus> {
    return Promise.resolve(this.network)
  }
  onNetworkStatusChange(l: Listener<NetworkStatus>): () => void {
    this.networkL.push(l)
    return () => this.networkL.splice(this.networkL.indexOf(l), 1)
  }
  onAppShow(l: Listener<void>): () => void {
    this.showL.push(l)
    return () => this.showL.splice(this.showL.indexOf(l), 1)
  }
  onAppHide(l: Listener<void>): () => void {
    this.hideL.push(l)
    return () => this.hideL.splice(this.hideL.indexOf(l), 1)
  }
  getStorageSync(key: string): unknown {
    const v = this.storage.get(key)
    return v === undefined ? undefined : JSON.parse(v)
  }
  setStorageSync(key: string, value: unknown): void {
    this.storage.set(key, JSON.stringify(value))
  }
  removeStorageSync(key: string): void {
    this.storage.delete(key)
  }
  now(): number {
    return asyncScheduler.now()
  }

  setOnline(isConnected: boolean): void {
    this.network = { isConnected, networkType: isConnected ? 'wifi' : 'none' }
    for (const l of this.networkL.slice()) l(this.network)
  }
  hide(): void {
    for (const l of this.hideL.slice()) l()
  }
  show(): void {
    for (const l of this.showL.slice()) l()
  }
  get listenerCount(): number {
    return this.networkL.length + this.showL.length + this.hideL.length
  }
}
