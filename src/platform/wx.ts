import type { ConnectSocketOptions, NetworkStatus, NetworkType, Platform, RequestOptions, RequestTask, SocketTask } from './types'

type Listener<T> = (value: T) => void

/**
 * The part of the global `wx` object the library uses. Declared structurally so that
 * the library's public types do not depend on miniprogram-api-typings' globals.
 */
export interface WxLike {
  connectSocket(options: ConnectSocketOptions): SocketTask
  request?(options: RequestOptions): RequestTask
  /** The base library's version (`SDKVersion`), from `wx.getAppBaseInfo` (2.25.3+) or `wx.getSystemInfoSync`. */
  getAppBaseInfo?(): { SDKVersion?: string }
  getSystemInfoSync?(): { SDKVersion?: string }
  getNetworkType(options: { success?: (res: { networkType: string }) => void; fail?: (res: { errMsg: string }) => void }): void
  onNetworkStatusChange(listener: Listener<{ isConnected: boolean; networkType: string }>): void
  offNetworkStatusChange?(listener: Listener<{ isConnected: boolean; networkType: string }>): void
  onAppShow(listener: Listener<unknown>): void
  offAppShow?(listener: Listener<unknown>): void
  onAppHide(listener: Listener<unknown>): void
  offAppHide?(listener: Listener<unknown>): void
  getStorageSync(key: string): unknown
  setStorageSync(key: string, value: unknown): void
  removeStorageSync(key: string): void
}

/** The base library version from which `wx.connectSocket` takes each option (WeChat's docs). */
export const SOCKET_OPTION_VERSIONS: Readonly<Record<'protocols' | 'tcpNoDelay' | 'perMessageDeflate' | 'timeout', string>> = {
  protocols: '1.4.0',
  tcpNoDelay: '2.4.0',
  perMessageDeflate: '2.8.0',
  timeout: '2.10.0',
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((n) => parseInt(n, 10) || 0)
  const pb = b.split('.').map((n) => parseInt(n, 10) || 0)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

/**
 * `connectSocket` options without those the base library `sdkVersion` does not know (an old
 * base library is not handed options it may reject). An unknown version keeps them all.
 *
 * @example
 * socketOptionsFor({ url, protocols: ['live.v1'], perMessageDeflate: true }, '2.7.0') // no perMessageDeflate
 */
export function socketOptionsFor(options: ConnectSocketOptions, sdkVersion: string | undefined): ConnectSocketOptions {
  if (sdkVersion === undefined || !/^\d+(\.\d+)*$/.test(sdkVersion)) return options
  const kept: ConnectSocketOptions = { ...options }
  for (const [name, since] of Object.entries(SOCKET_OPTION_VERSIONS) as Array<[keyof typeof SOCKET_OPTION_VERSIONS, string]>) {
    if (kept[name] !== undefined && compareVersions(sdkVersion, since) < 0) delete kept[name]
  }
  return kept
}

function sdkVersionOf(wx: WxLike): string | undefined {
  try {
    return wx.getAppBaseInfo?.().SDKVersion ?? wx.getSystemInfoSync?.().SDKVersion
  } catch {
    return undefined
  }
}

const NETWORK_TYPES: readonly NetworkType[] = ['wifi', '2g', '3g', '4g', '5g', 'unknown', 'none']

function toNetworkType(value: string): NetworkType {
  return (NETWORK_TYPES as readonly string[]).includes(value) ? (value as NetworkType) : 'unknown'
}

/**
 * The real mini-program platform. Sockets are driven only through `SocketTask`
 * methods, never the global `wx.onSocket*` listeners: those follow whichever socket
 * was opened last, which breaks as soon as two sockets exist.
 *
 * @example
 * // app.ts
 * const client = createLiveClient({ url: 'wss://live.example.com/ws', platform: createWxPlatform(wx), token })
 */
export function createWxPlatform(wx: WxLike): Platform {
  let sdkVersion: string | undefined | null = null
  return {
    connectSocket: (options) => {
      if (sdkVersion === null) sdkVersion = sdkVersionOf(wx)
      return wx.connectSocket(socketOptionsFor(options, sdkVersion))
    },
    ...(typeof wx.request === 'function' ? { request: (options: RequestOptions) => (wx.request as (o: RequestOptions) => RequestTask)(options) } : {}),
    getNetworkType: () =>
      new Promise<NetworkStatus>((resolve) => {
        wx.getNetworkType({
          success: (res) => {
            const networkType = toNetworkType(res.networkType)
            resolve({ isConnected: networkType !== 'none', networkType })
          },
          // Not knowing is not the same as being offline: let the connection try.
          fail: () => resolve({ isConnected: true, networkType: 'unknown' }),
        })
      }),
    onNetworkStatusChange: (listener) => {
      const wrapped = (res: { isConnected: boolean; networkType: string }): void => listener({ isConnected: res.isConnected, networkType: toNetworkType(res.networkType) })
      wx.onNetworkStatusChange(wrapped)
      return () => wx.offNetworkStatusChange?.(wrapped)
    },
    onAppShow: (listener) => {
      const wrapped = (): void => listener()
      wx.onAppShow(wrapped)
      return () => wx.offAppShow?.(wrapped)
    },
    onAppHide: (listener) => {
      const wrapped = (): void => listener()
      wx.onAppHide(wrapped)
      return () => wx.offAppHide?.(wrapped)
    },
    getStorageSync: (key) => {
      const value = wx.getStorageSync(key)
      // WeChat returns '' for a missing key.
      return value === '' ? undefined : value
    },
    setStorageSync: (key, value) => wx.setStorageSync(key, value),
    removeStorageSync: (key) => wx.removeStorageSync(key),
    now: () => Date.now(),
  }
}
