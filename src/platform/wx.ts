import type { ConnectSocketOptions, NetworkStatus, NetworkType, Platform, SocketTask } from './types'

type Listener<T> = (value: T) => void

/**
 * The part of the global `wx` object the library uses. Declared structurally so that
 * the library's public types do not depend on miniprogram-api-typings' globals.
 */
export interface WxLike {
  connectSocket(options: ConnectSocketOptions): SocketTask
  getNetworkType(options: {
    success?: (res: { networkType: string }) => void
    fail?: (res: { errMsg: string }) => void
  }): void
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
  return {
    connectSocket: (options) => wx.connectSocket(options),
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
      const wrapped = (res: { isConnected: boolean; networkType: string }): void =>
        listener({ isConnected: res.isConnected, networkType: toNetworkType(res.networkType) })
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
