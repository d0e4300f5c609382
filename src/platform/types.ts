/**
 * What the library needs from its host. In a mini-program this is `wx`
 * (`createWxPlatform`); under Node it is `createNodePlatform` from
 * `miniprogram-live-store/node`. Shapes follow WeChat's documented API so that
 * the Node implementation can be held to WeChat's behaviour.
 */

/** `{ errMsg }` as WeChat passes it to `success`, `fail` and `onError` callbacks. */
export interface PlatformResult {
  errMsg: string
}

export interface SocketSendOptions {
  data: string | ArrayBuffer
  success?: (res: PlatformResult) => void
  fail?: (res: PlatformResult) => void
  complete?: (res: PlatformResult) => void
}

export interface SocketCloseOptions {
  /** 1000, or 3000..4999. */
  code?: number
  /** At most 123 UTF-8 bytes. */
  reason?: string
  success?: (res: PlatformResult) => void
  fail?: (res: PlatformResult) => void
  complete?: (res: PlatformResult) => void
}

export interface SocketCloseEvent {
  code: number
  reason: string
}

export interface SocketOpenEvent {
  header?: Record<string, string>
}

export interface SocketMessageEvent {
  data: string | ArrayBuffer
}

/** WeChat's `SocketTask`: one WebSocket, with listeners on the task itself. */
export interface SocketTask {
  send(options: SocketSendOptions): void
  close(options?: SocketCloseOptions): void
  onOpen(listener: (event: SocketOpenEvent) => void): void
  onClose(listener: (event: SocketCloseEvent) => void): void
  onError(listener: (event: PlatformResult) => void): void
  onMessage(listener: (event: SocketMessageEvent) => void): void
}

export interface ConnectSocketOptions {
  url: string
  header?: Record<string, string>
  protocols?: string[]
  tcpNoDelay?: boolean
  /** Offer permessage-deflate (WeChat base library 2.8.0+). */
  perMessageDeflate?: boolean
  /** Handshake timeout in milliseconds. */
  timeout?: number
  success?: (res: PlatformResult) => void
  fail?: (res: PlatformResult) => void
  complete?: (res: PlatformResult) => void
}

/** `wx.request`'s options, as the library uses them: text in, text out (it parses and checks the JSON itself). */
export interface RequestOptions {
  url: string
  method: 'GET' | 'POST'
  header?: Record<string, string>
  /** The body (POST). */
  data?: string
  /** Milliseconds; WeChat's limit is 60000. */
  timeout?: number
  /** Not 'json': WeChat then hands the body over as text. */
  dataType: 'text'
  responseType: 'text'
  success?: (res: RequestSuccess) => void
  fail?: (res: PlatformResult) => void
  complete?: (res: PlatformResult) => void
}

export interface RequestSuccess {
  statusCode: number
  data: string
  header: Record<string, string>
}

/** WeChat's `RequestTask`. */
export interface RequestTask {
  abort(): void
}

export type NetworkType = 'wifi' | '2g' | '3g' | '4g' | '5g' | 'unknown' | 'none'

export interface NetworkStatus {
  isConnected: boolean
  networkType: NetworkType
}

/** Removes a listener. */
export type Unsubscribe = () => void

export interface Platform {
  connectSocket(options: ConnectSocketOptions): SocketTask
  /**
   * HTTP requests (`wx.request`), for the HTTP fallback. A platform without it has no fallback:
   * the client stays on the socket.
   */
  request?(options: RequestOptions): RequestTask
  getNetworkType(): Promise<NetworkStatus>
  onNetworkStatusChange(listener: (status: NetworkStatus) => void): Unsubscribe
  onAppShow(listener: () => void): Unsubscribe
  onAppHide(listener: () => void): Unsubscribe
  getStorageSync(key: string): unknown
  /** Throws when WeChat's storage limits would be exceeded (1 MB a key, 10 MB in all). */
  setStorageSync(key: string, value: unknown): void
  removeStorageSync(key: string): void
  /** Wall clock, milliseconds since the epoch. */
  now(): number
}

/** WeChat's close-code rule for `SocketTask.close` (the same as the browser's). */
export function isValidCloseCode(code: number): boolean {
  return code === 1000 || (Number.isInteger(code) && code >= 3000 && code <= 4999)
}

/** `SocketTask.close({ reason })`: at most 123 bytes of UTF-8 (WebSocket's limit; WeChat fails the call past it). */
export const MAX_CLOSE_REASON_BYTES = 123

/** `reason` cut to fit `MAX_CLOSE_REASON_BYTES`, never inside a character. */
export function fitCloseReason(reason: string): string {
  let bytes = 0
  let end = 0
  for (const char of reason) {
    const point = char.codePointAt(0) ?? 0
    const size = point < 0x80 ? 1 : point < 0x800 ? 2 : point < 0x10000 ? 3 : 4
    if (bytes + size > MAX_CLOSE_REASON_BYTES) break
    bytes += size
    end += char.length
  }
  return reason.slice(0, end)
}

/** WeChat's storage limits. */
export const STORAGE_KEY_LIMIT_BYTES = 1024 * 1024
export const STORAGE_TOTAL_LIMIT_BYTES = 10 * 1024 * 1024

/** `wx.request`: at most 10 requests at once, each at most 60 s. */
export const MAX_CONCURRENT_REQUESTS = 10
export const MAX_REQUEST_TIMEOUT_MS = 60000

/** Maximum number of SocketTasks open at once in one mini-program (base library >= 1.7.0). */
export const MAX_CONCURRENT_SOCKETS = 5
