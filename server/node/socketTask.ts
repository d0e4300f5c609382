import WebSocket from 'ws'
import {
  type ConnectSocketOptions,
  isValidCloseCode,
  MAX_CLOSE_REASON_BYTES,
  type PlatformResult,
  type SocketCloseEvent,
  type SocketCloseOptions,
  type SocketMessageEvent,
  type SocketOpenEvent,
  type SocketSendOptions,
  type SocketTask,
  utf8ByteLength,
} from 'miniprogram-live-store/platform'
import { Listeners, result } from './listeners'

export interface NodeSocketTask extends SocketTask {
  readonly readyState: number
  readonly url: string
  /** Drops the link abnormally, as a network loss would (close 1006). For tests and chaos. */
  drop(): void
}

const CLOSE_REASONS: Record<number, string> = { 1000: 'normal closure', 1006: 'abnormal closure' }

/** A SocketTask over a `ws` socket, with WeChat's rules: close codes and reasons, errMsg strings, the background cut-off. */
export class NodeTask implements NodeSocketTask {
  private readonly openListeners = new Listeners<SocketOpenEvent>()
  private readonly closeListeners = new Listeners<SocketCloseEvent>()
  private readonly errorListeners = new Listeners<PlatformResult>()
  private readonly messageListeners = new Listeners<SocketMessageEvent>()
  private ws: WebSocket | undefined
  /** Set when the link died silently: the task still looks open to its user. */
  private silent = false
  private closed = false
  private requestedClose: SocketCloseEvent | undefined

  constructor(
    readonly url: string,
    /** Called once when the task stops counting against the socket limit (closed, or cut off silently). */
    private readonly gone: (task: NodeTask) => void,
  ) {}

  get readyState(): number {
    if (this.closed) return WebSocket.CLOSED
    if (this.silent) return WebSocket.OPEN
    return this.ws?.readyState ?? WebSocket.CONNECTING
  }

  start(options: ConnectSocketOptions, refuse: string | undefined): void {
    if (refuse !== undefined) {
      // Listeners are attached after connectSocket returns, so report on the next turn.
      setImmediate(() => this.finish({ code: 1006, reason: CLOSE_REASONS[1006] }, refuse))
      return
    }
    const ws = new WebSocket(options.url, options.protocols ?? [], {
      headers: options.header,
      handshakeTimeout: options.timeout,
      // As WeChat does with `perMessageDeflate: true`: offered, the server decides the parameters.
      perMessageDeflate: options.perMessageDeflate === true,
    })
    this.ws = ws
    let responseHeaders: Record<string, string> = {}
    ws.on('upgrade', (res) => {
      responseHeaders = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]))
    })
    ws.on('open', () => this.openListeners.emit({ header: responseHeaders }))
    ws.on('message', (data, isBinary) => {
      if (this.silent || this.closed) return
      const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)
      this.messageListeners.emit({
        data: isBinary ? buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) : buffer.toString('utf8'),
      })
    })
    let errorMessage: string | undefined
    ws.on('error', (err) => {
      errorMessage = `connectSocket:fail ${err.message}`
    })
    ws.on('close', (code, reasonBuffer) => {
      if (this.silent) return
      // ws reports 1005 when a close frame had no code; WeChat reports what was asked for.
      const reason = reasonBuffer.toString('utf8')
      const event = code === 1005 && this.requestedClose ? this.requestedClose : { code: code === 1005 ? 1000 : code, reason: reason || CLOSE_REASONS[code] || '' }
      this.finish(event, errorMessage)
    })
  }

  /** A task that was never started: `onError` only (on the next turn, once listeners are on). */
  reject(errMsg: string): void {
    this.closed = true
    setImmediate(() => this.errorListeners.emit({ errMsg }))
  }

  /** Ends the task: onError (when it failed) then onClose, once. */
  private finish(event: SocketCloseEvent, errMsg: string | undefined): void {
    if (this.closed) return
    this.closed = true
    this.gone(this)
    if (errMsg !== undefined) this.errorListeners.emit({ errMsg })
    this.closeListeners.emit(event)
  }

  send(o: SocketSendOptions): void {
    const ws = this.ws
    if (this.silent && !this.closed) {
      // The device believes the socket is open; the bytes go nowhere.
      result('sendSocketMessage:ok', o.success, o.complete)
      return
    }
    if (!ws || this.closed || ws.readyState !== WebSocket.OPEN) {
      result('sendSocketMessage:fail WebSocket is not connected', o.fail, o.complete)
      return
    }
    ws.send(o.data, (err) => {
      if (err) result(`sendSocketMessage:fail ${err.message}`, o.fail, o.complete)
      else result('sendSocketMessage:ok', o.success, o.complete)
    })
  }

  close(o: SocketCloseOptions = {}): void {
    const code = o.code ?? 1000
    const reason = o.reason ?? ''
    if (!isValidCloseCode(code)) {
      result(`closeSocket:fail The code must be either 1000, or between 3000 and 4999. ${code} is neither.`, o.fail, o.complete)
      return
    }
    if (utf8ByteLength(reason) > MAX_CLOSE_REASON_BYTES) {
      result(`closeSocket:fail The message must not be greater than ${MAX_CLOSE_REASON_BYTES} bytes.`, o.fail, o.complete)
      return
    }
    if (this.closed) {
      result('closeSocket:fail WebSocket is not connected', o.fail, o.complete)
      return
    }
    this.requestedClose = { code, reason }
    result('closeSocket:ok', o.success, o.complete)
    if (this.silent) {
      this.finish({ code, reason }, undefined)
      return
    }
    const ws = this.ws
    if (!ws) {
      this.finish({ code, reason }, undefined)
    } else if (ws.readyState === WebSocket.CONNECTING) {
      // ws throws on close() before the handshake; WeChat just abandons the attempt.
      this.silent = true
      ws.terminate()
      this.finish({ code, reason }, undefined)
    } else {
      ws.close(code, reason)
    }
  }

  /** Abnormal loss of the link (network gone): the peer sees no close frame. */
  drop(): void {
    if (this.closed) return
    this.ws?.terminate()
  }

  /** WeChat's background cut-off. */
  cutOff(silently: boolean): void {
    if (this.closed) return
    if (silently) {
      this.silent = true
      this.gone(this)
      this.ws?.terminate()
      return
    }
    this.silent = true
    this.ws?.terminate()
    this.finish({ code: 1000, reason: 'interrupted' }, undefined)
  }

  onOpen(listener: (event: SocketOpenEvent) => void): void {
    this.openListeners.add(listener)
  }
  onClose(listener: (event: SocketCloseEvent) => void): void {
    this.closeListeners.add(listener)
  }
  onError(listener: (event: PlatformResult) => void): void {
    this.errorListeners.add(listener)
  }
  onMessage(listener: (event: SocketMessageEvent) => void): void {
    this.messageListeners.add(listener)
  }
}
