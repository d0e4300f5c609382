import { createWxPlatform, type WxLike } from '../../src/platform/wx'
import type { ConnectSocketOptions, SocketTask } from '../../src/platform/types'

/** A recording stand-in for the `wx` global: the platform seam, nothing more. */
function recordingWx() {
  const calls: string[] = []
  const listeners: Record<string, Array<(v: unknown) => void>> = {}

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  type AnyListener = (v: any) => void
  const on = (name: string) => (l: AnyListener) => {
    calls.push(name)
    ;(listeners[name] ??= []).push(l)
  }
  const off = (name: string) => (l: AnyListener) => {
    calls.push(`off:${name}`)
    listeners[name] = (listeners[name] ?? []).filter((x) => x !== l)
  }
  const task = {} as SocketTask
  const store = new Map<string, unknown>()
  const wx: WxLike & Record<string, unknown> = {
    connectSocket: (o: ConnectSocketOptions) => {
      calls.push(`connectSocket:${o.url}`)
      return task
    },
    getNetworkType: ({ success }) => success?.({ networkType: '4g' }),
    onNetworkStatusChange: on('network'),
    offNetworkStatusChange: off('network'),
    onAppShow: on('show'),
    offAppShow: off('show'),
    onAppHide: on('hide'),
    offAppHide: off('hide'),
    getStorageSync: (k: string) => (store.has(k) ? store.get(k) : ''),
    setStorageSync: (k: string, v: unknown) => void store.set(k, v),
    removeStorageSync: (k: string) => void store.delete(k),
    // The global socket listeners must never be used: they follow the last socket opened.
    onSocketMessage: () => calls.push('onSocketMessage'),
    onSocketOpen: () => calls.push('onSocketOpen'),
  }
  return { wx, calls, listeners, task }
}

describe('createWxPlatform', () => {
  it('returns the SocketTask of wx.connectSocket and never touches the global wx.onSocket* listeners', () => {
    const { wx, calls, task } = recordingWx()
    const platform = createWxPlatform(wx)
    expect(platform.connectSocket({ url: 'wss://x/ws' })).toBe(task)
    expect(calls).toEqual(['connectSocket:wss://x/ws'])
  })

  it('reports network status and lets listeners go', async () => {
    const { wx, listeners, calls } = recordingWx()
    const platform = createWxPlatform(wx)
    expect(await platform.getNetworkType()).toEqual({ isConnected: true, networkType: '4g' })
    const seen: unknown[] = []
    const stop = platform.onNetworkStatusChange((s) => seen.push(s))
    listeners.network[0]({ isConnected: false, networkType: 'none' })
    listeners.network[0]({ isConnected: true, networkType: 'satellite' })
    expect(seen).toEqual([
      { isConnected: false, networkType: 'none' },
      { isConnected: true, networkType: 'unknown' },
    ])
    stop()
    expect(calls).toContain('off:network')
    expect(listeners.network).toHaveLength(0)
  })

  it('maps WeChat storage\'s empty string for a missing key to undefined', () => {
    const { wx } = recordingWx()
    const platform = createWxPlatform(wx)
    expect(platform.getStorageSync('nope')).toBeUndefined()
    platform.setStorageSync('k', { a: 1 })
    expect(platform.getStorageSync('k')).toEqual({ a: 1 })
  })
})
