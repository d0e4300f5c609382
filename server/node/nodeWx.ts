import type { WxLike } from 'miniprogram-live-store/platform'
import type { NodePlatform } from './platform'

/** A `wx` object over the Node platform, as much of it as the library and simulated pages use. */
export interface NodeWx extends WxLike {
  nextTick(callback: () => void): void
}

/**
 * Lets code written for `wx` (pages, `createWxPlatform(wx)`) run under Node on the Node
 * platform: merge it into miniprogram-simulate's `global.wx` and pages use real sockets.
 *
 * @example
 * Object.assign(global.wx, createNodeWx(createNodePlatform()))
 */
export function createNodeWx(platform: NodePlatform): NodeWx {
  const listeners = new Map<unknown, () => void>()
  const on = (register: (l: () => void) => () => void) => (listener: (value: never) => void) => {
    listeners.set(
      listener,
      register(() => listener(undefined as never)),
    )
  }
  const off = (listener: unknown): void => {
    listeners.get(listener)?.()
    listeners.delete(listener)
  }
  return {
    connectSocket: (options) => platform.connectSocket(options),
    request: (options) => platform.request(options),
    getNetworkType: ({ success }) => {
      void platform.getNetworkType().then((s) => success?.({ networkType: s.networkType }))
    },
    onNetworkStatusChange: (listener) => {
      listeners.set(
        listener,
        platform.onNetworkStatusChange((s) => listener(s)),
      )
    },
    offNetworkStatusChange: off,
    onAppShow: on((l) => platform.onAppShow(l)),
    offAppShow: off,
    onAppHide: on((l) => platform.onAppHide(l)),
    offAppHide: off,
    getStorageSync: (key) => platform.getStorageSync(key) ?? '',
    setStorageSync: (key, value) => platform.setStorageSync(key, value),
    removeStorageSync: (key) => platform.removeStorageSync(key),
    nextTick: (callback) => {
      setTimeout(callback, 0)
    },
  }
}
