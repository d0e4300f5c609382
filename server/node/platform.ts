import { createKeyValueStorage, MAX_CONCURRENT_SOCKETS, type NetworkStatus, type NetworkType, type Platform, type RequestOptions, type RequestTask } from 'miniprogram-live-store/platform'
import { fileBackend } from './fileStorage'
import { Listeners, result } from './listeners'
import { nodeRequest, type RequestState } from './request'
import { NodeTask, type NodeSocketTask } from './socketTask'

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

export type { NodeSocketTask } from './socketTask'

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
  const alive = new Set<NodeTask>()
  const all: NodeTask[] = []
  const networkListeners = new Listeners<NetworkStatus>()
  const showListeners = new Listeners<void>()
  const hideListeners = new Listeners<void>()
  const storage = createKeyValueStorage(options.storageFile ? fileBackend(options.storageFile) : undefined)

  const requests: Array<{ method: string; url: string }> = []
  const requestState: RequestState = { open: 0, peak: 0, inFlight: new Set(), online: () => network.isConnected }

  const platform: NodePlatform = {
    /**
     * `wx.request` over Node's HTTP client (`http` / `https`: it runs where `fetch` is not, as in
     * jsdom page tests), with WeChat's limits: 10 at once, 60 s each, `errMsg` strings.
     */
    request(o) {
      requests.push({ method: o.method, url: o.url })
      return nodeRequest(o, requestState)
    },
    connectSocket(o) {
      const task = new NodeTask(o.url, (gone) => alive.delete(gone))
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
      return requestState.open
    },
    get peakRequests() {
      return requestState.peak
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
      for (const req of [...requestState.inFlight]) req.destroy()
      networkListeners.clear()
      showListeners.clear()
      hideListeners.clear()
    },
  }
  return platform
}
