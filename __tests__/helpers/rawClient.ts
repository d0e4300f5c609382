/**
 * A raw WebSocket client for conformance tests: no library code between the test and
 * the wire, so the server is held to the protocol text rather than to our own client.
 */
import WebSocket from 'ws'

export type Frame = Record<string, unknown> & { msg_type: string }

export class RawClient {
  readonly frames: Frame[] = []
  private readonly waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }> = []
  private cursor = 0
  readonly closed: Promise<{ code: number; reason: string }>
  readonly opened: Promise<void>
  protocol = ''

  constructor(readonly ws: WebSocket) {
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => {
        this.protocol = ws.protocol
        resolve()
      })
      ws.once('error', reject)
    })
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame
      this.frames.push(frame)
      for (const w of this.waiters.slice()) {
        if (w.match(frame)) {
          this.waiters.splice(this.waiters.indexOf(w), 1)
          w.resolve(frame)
        }
      }
    })
  }

  static async connect(url: string, options: { token?: string; protocols?: string[]; deflate?: boolean } = {}): Promise<RawClient> {
    const ws = new WebSocket(url, options.protocols ?? ['live.v1'], {
      headers: options.token ? { Authorization: `Bearer ${options.token}` } : {},
      perMessageDeflate: options.deflate === true,
    })
    const client = new RawClient(ws)
    await client.opened
    return client
  }

  send(frame: Record<string, unknown> | string): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /** The next frame (after the last one taken) that matches, waiting for it if needed. */
  next(match: (f: Frame) => boolean = () => true, timeoutMs = 10000): Promise<Frame> {
    for (let i = this.cursor; i < this.frames.length; i++) {
      if (match(this.frames[i])) {
        this.cursor = i + 1
        return Promise.resolve(this.frames[i])
      }
    }
    this.cursor = this.frames.length
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; saw ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs)
      this.waiters.push({
        match,
        resolve: (f) => {
          clearTimeout(timer)
          this.cursor = this.frames.indexOf(f) + 1
          resolve(f)
        },
      })
    })
  }

  type(msgType: string, timeoutMs?: number): Promise<Frame> {
    return this.next((f) => f.msg_type === msgType, timeoutMs)
  }

  /** Sends a command and waits for its ack. */
  async command(frame: Record<string, unknown>, timeoutMs?: number): Promise<Frame> {
    this.send(frame)
    return this.next((f) => f.msg_type === 'ack' && f.msg_id === frame.msg_id, timeoutMs)
  }

  /**
   * A ping answered: every frame sent before it has been read by the server, and every frame
   * the server wrote before the pong has arrived (one socket keeps its order both ways).
   */
  async roundTrip(): Promise<void> {
    const t = ++pings
    this.send({ msg_type: 'ping', t })
    await this.next((f) => f.msg_type === 'pong' && f.t === t)
  }

  /** Every frame received so far of these types (for counting). */
  all(msgType: string): Frame[] {
    return this.frames.filter((f) => f.msg_type === msgType)
  }

  close(): void {
    this.ws.close()
  }
}

let counter = 0
let pings = 0
export const mid = (prefix = 'm'): string => `${prefix}${++counter}`
