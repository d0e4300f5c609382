import * as fs from 'fs'
import * as http from 'http'
import * as https from 'https'
import * as path from 'path'
import WebSocket from 'ws'
import {
  createKeyValueStorage,
  type StorageBackend,
  utf8ByteLength,
  type ConnectSocketOptions,
  isValidCloseCode,
  MAX_CONCURRENT_REQUESTS,
  MAX_CONCURRENT_SOCKETS,
  MAX_REQUEST_TIMEOUT_MS,
  type NetworkStatus,
  type NetworkType,
  type Platform,
  type RequestOptions,
  type RequestTask,
  type PlatformResult,
  type SocketCloseEvent,
  type SocketCloseOptions,
  type SocketMessageEvent,
  type SocketOpenEvent,
  type SocketSendOptions,
  type SocketTask,
  type Unsubscribe,
} from 'miniprogram-live-store/platform'

export interface NodePlatformOptions {
  /** Start offline. Default: online over wifi. */
  online?: boolean
  networkType?: NetworkType
  /** How long after `hideApp()` open sockets are cut off, as WeChat does (about 5 s). Default 5000. */
  backgroundDropMs?: number
  /**
   * Drop sockets in the background without any `onClose`, as seen on iOS: the task
   * looks open, sends vanish, nothing arrives. Default false (report `1000 "interrupted"`).
   */
  silentBackgroundDrop?: boolean
  /** Back storage with this JSON file, so a new platform on it sees what the last one wrote. */
  storageFile?: string
  /** Concurrent socket limit. Default 5, as WeChat. */
  maxSockets?: number
  /**
   * The device's clock: the background cut-off timer and `now()`. Default Node's timers and
   * `Date.now`; tests pass a manual clock and advance it instead of sleeping.
   */
  clock?: NodeClock
}

/** A clock the platform's own timing runs on. */
export interface NodeClock {
  now(): number
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

const systemClock: NodeClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}

/** The Node platform, with the controls tests and the demo use to play the device. */
export interface NodePlatform extends Platform {
  /** `wx.request` as WeChat documents it (always present here). */
  request(options: RequestOptions): RequestTask
  /** Network on or off. Going offline drops open sockets abnormally (1006) and makes connects fail. */
  setOnline(isConnected: boolean, networkType?: NetworkType): void
  /** The app goes to the background: `onAppHide` listeners run, sockets are cut off after `backgroundDropMs`. */
  hideApp(): void
  /** The app comes back: `onAppShow` listeners run; a pending cut-off is cancelled. */
  showApp(): void
  /** Sockets connecting or open right now. */
  readonly openSockets: number
  /** The most sockets that were connecting or open at the same time. */
  readonly peakSockets: number
  /** Listeners registered for network status and app show/hide (a leak check for tests). */
  readonly listenerCount: number
  /** Every socket task created so far, oldest first (for tests and the demo). */
  readonly sockets: readonly NodeSocketTask[]
  /** Requests in flight right now, and the most at once so far (WeChat allows 10). */
  readonly openRequests: number
  readonly peakRequests: number
  /** Every request made so far: method and URL (for tests: no token may be in a URL). */
  readonly requests: ReadonlyArray<{ method: string; url: string }>
  /** Cancels timers and closes every socket (code 1000): call when done. */
  destroy(): void
}

export interface NodeSocketTask extends SocketTask {
  readonly readyState: number
  readonly url: string
  /** Drops the link abnormally, as a network loss would (close 1006). For tests and chaos. */
  drop(): void
}

class Listeners<T> {
  private list: Array<(value: T) => void> = []
  add(listener: (value: T) => void): Unsubscribe {
    this.list.push(listener)
    return () => {
      this.list = this.list.filter((l) => l !== listener)
    }
  }
  emit(value: T): void {
    for (const listener of this.list.slice()) listener(value)
  }
  clear(): void {
    this.list = []
  }
  get size(): number {
    return this.list.length
  }
}

const CLOSE_REASONS: Record<number, string> = { 1000: 'normal closure', 1006: 'abnormal closure' }

function result(errMsg: string, ...callbacks: Array<((res: PlatformResult) => void) | undefined>): void {
  for (const cb of callbacks) cb?.({ errMsg })
}

function fileBackend(file: string): StorageBackend {
  return {
    load() {
      try {
        const parsed: unknown = JSON.parse(fs.readFileSync(file, 'utf8'))
        return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, string>) : {}
      } catch {
        return {}
      }
    },
    save(entries) {
      fs.mkdirSync(path.dirname(file), { recursive: true })
      const tmp = `${file}.${process.pid}.tmp`
      fs.writeFileSync(tmp, JSON.stringify(entries))
      fs.renameSync(tmp, file)
    },
  }
}

/**
 * The library's platform over the `ws` package, behaving as WeChat documents and as
 * devices are seen to behave: `errMsg` strings, the 5-socket limit, close-code rules,
 * background cut-off, storage limits. Runs the library in tests, benchmarks and the demo.
 *
 * @example
 * import { createNodePlatform } from 'miniprogram-live-store-server/node'
 * const platform = createNodePlatform({ backgroundDropMs: 200 })
 * const client = createLiveClient({ url, platform, token })
 * platform.setOnline(false) // the client goes 'offline'
 */
export function createNodePlatform(options: NodePlatformOptions = {}): NodePlatform {
  const maxSockets = options.maxSockets ?? MAX_CONCURRENT_SOCKETS
  const backgroundDropMs = options.backgroundDropMs ?? 5000
  const clock = options.clock ?? systemClock
  let network: NetworkStatus = {
    isConnected: options.online ?? true,
    networkType: options.online === false ? 'none' : (options.networkType ?? 'wifi'),
  }
  let hidden = false
  let cutOff = false
  let dropTimer: unknown
  let peak = 0
  const alive = new Set<TaskImpl>()
  const all: TaskImpl[] = []
  const networkListeners = new Listeners<NetworkStatus>()
  const showListeners = new Listeners<void>()
  const hideListeners = new Listeners<void>()
  const storage = createKeyValueStorage(options.storageFile ? fileBackend(options.storageFile) : undefined)

  class TaskImpl implements NodeSocketTask {
    private readonly openListeners = new Listeners<SocketOpenEvent>()
    private readonly closeListeners = new Listeners<SocketCloseEvent>()
    private readonly errorListeners = new Listeners<PlatformResult>()
    private readonly messageListeners = new Listeners<SocketMessageEvent>()
    private ws: WebSocket | undefined
    /** Set when the link died silently: the task still looks open to its user. */
    private silent = false
    private closed = false
    private requestedClose: SocketCloseEvent | undefined

    constructor(readonly url: string) {}

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
      alive.delete(this)
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
      if (utf8ByteLength(reason) > 123) {
        result('closeSocket:fail The message must not be greater than 123 bytes.', o.fail, o.complete)
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
        alive.delete(this)
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

  let openRequests = 0
  let peakRequests = 0
  const requests: Array<{ method: string; url: string }> = []
  const inFlight = new Set<http.ClientRequest>()

  const platform: NodePlatform = {
    /**
     * `wx.request` over Node's HTTP client (`http` / `https`: it runs where `fetch` is not, as in
     * jsdom page tests), with WeChat's limits: 10 at once, 60 s each, `errMsg` strings.
     */
    request(o) {
      requests.push({ method: o.method, url: o.url })
      const fail = (errMsg: string): void => result(errMsg, o.fail, o.complete)
      const refuse = (errMsg: string): RequestTask => {
        // Listeners are the caller's own callbacks: report on the next turn, as WeChat does.
        setTimeout(() => fail(errMsg), 0)
        return { abort: () => undefined }
      }
      if (openRequests >= MAX_CONCURRENT_REQUESTS) return refuse('request:fail exceed max concurrent count')
      if (!/^https?:\/\//.test(o.url)) return refuse(`request:fail invalid url "${o.url}"`)
      if (!network.isConnected) return refuse('request:fail network is down')
      openRequests++
      peakRequests = Math.max(peakRequests, openRequests)
      let settled = false
      const finish = (then: () => void): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        inFlight.delete(req)
        openRequests--
        then()
      }
      const body = o.method === 'POST' ? Buffer.from(o.data ?? '', 'utf8') : undefined
      const req = (o.url.startsWith('https:') ? https : http).request(
        o.url,
        { method: o.method, headers: { ...o.header, ...(body !== undefined ? { 'content-length': String(body.length) } : {}) } },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () =>
            finish(() => {
              const header: Record<string, string> = {}
              for (const [key, value] of Object.entries(res.headers)) if (value !== undefined) header[key] = Array.isArray(value) ? value.join(', ') : value
              o.success?.({ statusCode: res.statusCode ?? 0, data: Buffer.concat(chunks).toString('utf8'), header })
              o.complete?.({ errMsg: 'request:ok' })
            }),
          )
          res.on('error', (error: Error) => finish(() => fail(`request:fail ${error.message}`)))
        },
      )
      const timeoutMs = Math.min(o.timeout ?? MAX_REQUEST_TIMEOUT_MS, MAX_REQUEST_TIMEOUT_MS)
      const timer = setTimeout(() => {
        finish(() => fail('request:fail timeout'))
        req.destroy()
      }, timeoutMs)
      req.on('error', (error: Error) => finish(() => fail(`request:fail ${error.message}`)))
      inFlight.add(req)
      req.end(body)
      return {
        abort: () => {
          finish(() => fail('request:fail abort'))
          req.destroy()
        },
      }
    },
    connectSocket(o) {
      const task = new TaskImpl(o.url)
      all.push(task)
      if (alive.size >= maxSockets) {
        const errMsg = 'connectSocket:fail exceed max concurrent count'
        result(errMsg, o.fail, o.complete)
        task.reject(errMsg)
        return task
      }
      if (!/^wss?:\/\//.test(o.url)) {
        const errMsg = `connectSocket:fail invalid url "${o.url}"`
        result(errMsg, o.fail, o.complete)
        task.reject(errMsg)
        return task
      }
      result('connectSocket:ok', o.success, o.complete)
      alive.add(task)
      peak = Math.max(peak, alive.size)
      const refuse = !network.isConnected ? 'connectSocket:fail network is down' : cutOff ? 'connectSocket:fail the app is in the background' : undefined
      task.start(o, refuse)
      return task
    },
    getNetworkType: () => Promise.resolve({ ...network }),
    onNetworkStatusChange: (listener) => networkListeners.add(listener),
    onAppShow: (listener) => showListeners.add(listener),
    onAppHide: (listener) => hideListeners.add(listener),
    getStorageSync: (key) => storage.get(key),
    setStorageSync: (key, value) => storage.set(key, value),
    removeStorageSync: (key) => storage.remove(key),
    now: () => clock.now(),

    setOnline(isConnected, networkType) {
      const next: NetworkStatus = {
        isConnected,
        networkType: isConnected ? (networkType ?? (network.networkType === 'none' ? 'wifi' : network.networkType)) : 'none',
      }
      if (next.isConnected === network.isConnected && next.networkType === network.networkType) return
      network = next
      if (!isConnected) for (const task of [...alive]) task.drop()
      networkListeners.emit({ ...network })
    },
    hideApp() {
      if (hidden) return
      hidden = true
      hideListeners.emit()
      dropTimer = clock.setTimeout(() => {
        dropTimer = undefined
        cutOff = true
        for (const task of [...alive]) task.cutOff(options.silentBackgroundDrop ?? false)
      }, backgroundDropMs)
    },
    showApp() {
      if (!hidden) return
      hidden = false
      cutOff = false
      if (dropTimer !== undefined) clock.clearTimeout(dropTimer)
      dropTimer = undefined
      showListeners.emit()
    },
    get openSockets() {
      return alive.size
    },
    get openRequests() {
      return openRequests
    },
    get peakRequests() {
      return peakRequests
    },
    get requests() {
      return requests
    },
    get peakSockets() {
      return peak
    },
    get sockets() {
      return all
    },
    get listenerCount() {
      return networkListeners.size + showListeners.size + hideListeners.size
    },
    destroy() {
      if (dropTimer !== undefined) clock.clearTimeout(dropTimer)
      for (const task of [...alive]) task.close({ code: 1000, reason: 'platform destroyed' })
      for (const req of [...inFlight]) req.destroy()
      networkListeners.clear()
      showListeners.clear()
      hideListeners.clear()
    },
  }
  return platform
}
