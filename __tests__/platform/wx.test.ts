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

  it("maps WeChat storage's empty string for a missing key to undefined", () => {
    const { wx } = recordingWx()
    const platform = createWxPlatform(wx)
    expect(platform.getStorageSync('nope')).toBeUndefined()
    platform.setStorageSync('k', { a: 1 })
    expect(platform.getStorageSync('k')).toEqual({ a: 1 })
  })
})

describe('connectSocket options and the base library version', () => {
  const options: ConnectSocketOptions = { url: 'wss://x/ws', protocols: ['live.v1'], tcpNoDelay: true, perMessageDeflate: true, timeout: 5000 }
  const passed = (sdk: string | undefined, via: 'getAppBaseInfo' | 'getSystemInfoSync' = 'getAppBaseInfo'): string[] => {
    let seen: ConnectSocketOptions | undefined
    const { wx } = recordingWx()
    wx.connectSocket = (o: ConnectSocketOptions) => {
      seen = o
      return {} as SocketTask
    }
    if (sdk !== undefined) wx[via] = () => ({ SDKVersion: sdk })
    createWxPlatform(wx).connectSocket(options)
    return Object.keys(seen ?? {})
      .filter((k) => k !== 'url')
      .sort()
  }

  it('hands each option only to a base library that knows it (protocols 1.4.0, tcpNoDelay 2.4.0, perMessageDeflate 2.8.0, timeout 2.10.0)', () => {
    expect(passed('1.3.9')).toEqual([])
    expect(passed('2.3.0')).toEqual(['protocols'])
    expect(passed('2.7.9', 'getSystemInfoSync')).toEqual(['protocols', 'tcpNoDelay'])
    expect(passed('2.9.0')).toEqual(['perMessageDeflate', 'protocols', 'tcpNoDelay'])
    expect(passed('2.10.0')).toEqual(['perMessageDeflate', 'protocols', 'tcpNoDelay', 'timeout'])
    expect(passed('3.4.1')).toEqual(['perMessageDeflate', 'protocols', 'tcpNoDelay', 'timeout'])
    // Not knowing the version: everything, as before.
    expect(passed(undefined)).toEqual(['perMessageDeflate', 'protocols', 'tcpNoDelay', 'timeout'])
  })

  it('passes wx.request through when wx has it, and has no request (no HTTP fallback) when it does not', () => {
    const { wx } = recordingWx()
    expect(createWxPlatform(wx).request).toBeUndefined()
    const urls: string[] = []
    wx.request = (o: { url: string }) => {
      urls.push(o.url)
      return { abort: () => undefined }
    }
    createWxPlatform(wx).request?.({ url: 'https://x/api/commands', method: 'POST', data: '{}', dataType: 'text', responseType: 'text' })
    expect(urls).toEqual(['https://x/api/commands'])
  })
})
