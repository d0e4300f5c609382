import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { type AddressInfo } from 'net'
import { WebSocketServer, type WebSocket } from 'ws'
import { createNodePlatform, type NodeClock, type NodePlatform } from '../../server/node/platform'
import { until } from '../helpers/wait'
import type { PlatformResult, SocketCloseEvent, SocketTask } from '../../src/platform/types'

/** An echo server on a free port that remembers how its sockets were closed. */
async function echoServer(): Promise<{ url: string; closes: Array<{ code: number; reason: string }>; sockets: Set<WebSocket>; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  const closes: Array<{ code: number; reason: string }> = []
  const sockets = new Set<WebSocket>()
  wss.on('connection', (ws) => {
    sockets.add(ws)
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }))
    ws.on('close', (code, reason) => {
      sockets.delete(ws)
      closes.push({ code, reason: reason.toString() })
    })
  })
  const { port } = wss.address() as AddressInfo
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    closes,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate()
        wss.close(() => resolve())
      }),
  }
}

function opened(task: SocketTask): Promise<void> {
  return new Promise((resolve, reject) => {
    task.onOpen(() => resolve())
    task.onError((e) => reject(new Error(e.errMsg)))
  })
}

function closedEvent(task: SocketTask): Promise<SocketCloseEvent> {
  return new Promise((resolve) => task.onClose(resolve))
}

function sendResult(task: SocketTask, data: string): Promise<{ ok: boolean; errMsg: string }> {
  return new Promise((resolve) => task.send({ data, success: (r) => resolve({ ok: true, errMsg: r.errMsg }), fail: (r) => resolve({ ok: false, errMsg: r.errMsg }) }))
}

function callResult(call: (cb: { success: (r: PlatformResult) => void; fail: (r: PlatformResult) => void }) => void): Promise<{ ok: boolean; errMsg: string }> {
  return new Promise((resolve) => call({ success: (r) => resolve({ ok: true, errMsg: r.errMsg }), fail: (r) => resolve({ ok: false, errMsg: r.errMsg }) }))
}

/** A clock the platform's background timer runs on: advanced by the test, never slept on. */
function manualClock(): NodeClock & { advance(ms: number): void } {
  let now = 0
  let timers: Array<{ at: number; callback: () => void; handle: number }> = []
  let next = 0
  return {
    now: () => now,
    setTimeout(callback, ms) {
      const handle = ++next
      timers.push({ at: now + ms, callback, handle })
      return handle
    },
    clearTimeout(handle) {
      timers = timers.filter((t) => t.handle !== handle)
    },
    advance(ms) {
      now += ms
      const due = timers.filter((t) => t.at <= now)
      timers = timers.filter((t) => t.at > now)
      for (const t of due) t.callback()
    },
  }
}

describe('Node platform: WeChat SocketTask behaviour', () => {
  let server: Awaited<ReturnType<typeof echoServer>>
  let platform: NodePlatform
  let clock: ReturnType<typeof manualClock>

  beforeEach(async () => {
    server = await echoServer()
    clock = manualClock()
    platform = createNodePlatform({ backgroundDropMs: 50, clock })
  })
  afterEach(async () => {
    platform.destroy()
    await server.close()
  })

  it('fails send before open with a sendSocketMessage:fail errMsg, and succeeds with sendSocketMessage:ok once open', async () => {
    const task = platform.connectSocket({ url: server.url })
    const early = await sendResult(task, 'x')
    expect(early).toEqual({ ok: false, errMsg: expect.stringMatching(/^sendSocketMessage:fail /) })
    await opened(task)
    const messages: unknown[] = []
    task.onMessage((m) => messages.push(m.data))
    expect(await sendResult(task, 'hello')).toEqual({ ok: true, errMsg: 'sendSocketMessage:ok' })
    await until(() => messages.length > 0, 'the echo')
    expect(messages).toEqual(['hello'])
  })

  it('fails send after close', async () => {
    const task = platform.connectSocket({ url: server.url })
    await opened(task)
    const closed = closedEvent(task)
    task.close({ code: 1000, reason: 'bye' })
    await closed
    expect(await sendResult(task, 'late')).toEqual({ ok: false, errMsg: expect.stringMatching(/^sendSocketMessage:fail /) })
  })

  it('allows 5 sockets at once: the 6th connect calls fail and onError with "exceed max concurrent count"', async () => {
    const tasks = Array.from({ length: 5 }, () => platform.connectSocket({ url: server.url }))
    await Promise.all(tasks.map(opened))
    expect(platform.openSockets).toBe(5)
    let failMsg = ''
    const sixth = platform.connectSocket({ url: server.url, fail: (r) => (failMsg = r.errMsg) })
    const onError = await new Promise<string>((resolve) => sixth.onError((e) => resolve(e.errMsg)))
    expect(failMsg).toBe('connectSocket:fail exceed max concurrent count')
    expect(onError).toBe('connectSocket:fail exceed max concurrent count')
    expect(platform.openSockets).toBe(5)
    // One closes: a new connect is allowed again.
    const closed = closedEvent(tasks[0])
    tasks[0].close({})
    await closed
    const again = platform.connectSocket({ url: server.url })
    await opened(again)
    expect(platform.openSockets).toBe(5)
  })

  it('accepts close codes 1000 and 3000..4999 only, and reasons of at most 123 UTF-8 bytes', async () => {
    const task = platform.connectSocket({ url: server.url })
    await opened(task)
    for (const code of [1001, 1006, 2999, 5000]) {
      const r = await callResult((cb) => task.close({ code, ...cb }))
      expect(r.ok).toBe(false)
      expect(r.errMsg).toMatch(/^closeSocket:fail /)
    }
    // 42 three-byte characters = 126 bytes: too long, although only 42 characters.
    const longReason = await callResult((cb) => task.close({ code: 4000, reason: '字'.repeat(42), ...cb }))
    expect(longReason).toEqual({ ok: false, errMsg: expect.stringMatching(/^closeSocket:fail .*123 bytes/) })
    const closed = closedEvent(task)
    const ok = await callResult((cb) => task.close({ code: 4321, reason: '字'.repeat(41), ...cb }))
    expect(ok).toEqual({ ok: true, errMsg: 'closeSocket:ok' })
    expect(await closed).toEqual({ code: 4321, reason: '字'.repeat(41) })
    await until(() => server.closes.length > 0, 'the server saw the close')
    expect(server.closes).toEqual([{ code: 4321, reason: '字'.repeat(41) }])
  })

  it('reports the server close code and reason through onClose', async () => {
    const task = platform.connectSocket({ url: server.url })
    await opened(task)
    const closed = closedEvent(task)
    for (const ws of server.sockets) ws.close(4008, 'heartbeat timeout')
    expect(await closed).toEqual({ code: 4008, reason: 'heartbeat timeout' })
  })

  it('gives onError then onClose 1006 for a refused connection', async () => {
    const dead = await echoServer()
    await dead.close()
    const events: string[] = []
    const task = platform.connectSocket({ url: dead.url })
    task.onError((e) => events.push(`error:${e.errMsg.split(' ')[0]}`))
    const closed = closedEvent(task)
    expect(await closed).toMatchObject({ code: 1006 })
    expect(events).toEqual(['error:connectSocket:fail'])
    expect(platform.openSockets).toBe(0)
  })

  it('going offline drops open sockets abnormally, refuses new connects and tells listeners', async () => {
    const statuses: string[] = []
    platform.onNetworkStatusChange((s) => statuses.push(`${s.isConnected}/${s.networkType}`))
    const task = platform.connectSocket({ url: server.url })
    await opened(task)
    const closed = closedEvent(task)
    platform.setOnline(false)
    expect(await closed).toMatchObject({ code: 1006 })
    const refused = platform.connectSocket({ url: server.url })
    const errors: string[] = []
    refused.onError((e) => errors.push(e.errMsg))
    expect(await closedEvent(refused)).toMatchObject({ code: 1006 })
    expect(errors[0]).toMatch(/^connectSocket:fail /)
    platform.setOnline(true, '4g')
    expect(statuses).toEqual(['false/none', 'true/4g'])
    expect(await platform.getNetworkType()).toEqual({ isConnected: true, networkType: '4g' })
    await opened(platform.connectSocket({ url: server.url }))
  })

  it('drops open sockets backgroundDropMs after hideApp, reported as 1000 "interrupted"', async () => {
    const lifecycle: string[] = []
    platform.onAppHide(() => lifecycle.push('hide'))
    platform.onAppShow(() => lifecycle.push('show'))
    const task = platform.connectSocket({ url: server.url })
    await opened(task)
    const closed = closedEvent(task)
    platform.hideApp()
    expect(lifecycle).toEqual(['hide'])
    clock.advance(49)
    expect(platform.openSockets).toBe(1)
    clock.advance(1)
    expect(await closed).toEqual({ code: 1000, reason: 'interrupted' })
    expect(platform.openSockets).toBe(0)
    // In the background after the cut-off, connects fail.
    const refused = platform.connectSocket({ url: server.url })
    expect(await closedEvent(refused)).toMatchObject({ code: 1006 })
    platform.showApp()
    expect(lifecycle).toEqual(['hide', 'show'])
    await opened(platform.connectSocket({ url: server.url }))
  })

  it('keeps sockets when the app is shown again before the cut-off', async () => {
    const task = platform.connectSocket({ url: server.url })
    await opened(task)
    let closed = false
    task.onClose(() => (closed = true))
    platform.hideApp()
    clock.advance(20)
    platform.showApp()
    clock.advance(80)
    expect(closed).toBe(false)
    expect(platform.openSockets).toBe(1)
    expect(await sendResult(task, 'still here')).toEqual({ ok: true, errMsg: 'sendSocketMessage:ok' })
  })

  it('can drop background sockets without any onClose, as iOS does: sends vanish, nothing arrives', async () => {
    const silentClock = manualClock()
    const silent = createNodePlatform({ backgroundDropMs: 30, silentBackgroundDrop: true, clock: silentClock })
    try {
      const task = silent.connectSocket({ url: server.url })
      await opened(task)
      const events: string[] = []
      task.onClose(() => events.push('close'))
      task.onMessage(() => events.push('message'))
      silent.hideApp()
      silentClock.advance(30)
      silent.showApp()
      expect(await sendResult(task, 'into the void')).toEqual({ ok: true, errMsg: 'sendSocketMessage:ok' })
      await until(() => server.closes.length === 1, 'the server saw the link go')
      // An echo would have come back by now had the send gone anywhere: the link is gone.
      expect(await sendResult(task, 'still nothing')).toEqual({ ok: true, errMsg: 'sendSocketMessage:ok' })
      expect(events).toEqual([])
    } finally {
      silent.destroy()
    }
  })
})

describe('Node platform: storage with WeChat limits', () => {
  it('returns copies of what was stored and undefined for missing keys', () => {
    const platform = createNodePlatform()
    const value = { a: [1, 2], b: 'x' }
    platform.setStorageSync('k', value)
    const read = platform.getStorageSync('k') as typeof value
    expect(read).toEqual(value)
    read.a.push(3)
    expect(platform.getStorageSync('k')).toEqual(value)
    expect(platform.getStorageSync('missing')).toBeUndefined()
    platform.removeStorageSync('k')
    expect(platform.getStorageSync('k')).toBeUndefined()
  })

  it('refuses a value over 1 MB for one key, and keeps the old value', () => {
    const platform = createNodePlatform()
    platform.setStorageSync('big', 'small')
    expect(() => platform.setStorageSync('big', 'x'.repeat(1024 * 1024))).toThrow(/setStorageSync:fail entry size limit/)
    expect(platform.getStorageSync('big')).toBe('small')
  })

  it('refuses writes past 10 MB in all', () => {
    const platform = createNodePlatform()
    const chunk = 'x'.repeat(1000 * 1000)
    for (let i = 0; i < 10; i++) platform.setStorageSync(`k${i}`, chunk)
    expect(() => platform.setStorageSync('k10', chunk)).toThrow(/setStorageSync:fail exceed storage max size 10MB/)
    expect(platform.getStorageSync('k10')).toBeUndefined()
    // Replacing a key counts its old size out.
    platform.setStorageSync('k0', 'tiny')
    platform.setStorageSync('k10', chunk)
    expect(platform.getStorageSync('k10')).toBe(chunk)
  })

  it('sees what the last platform wrote to the same storage file (an app restart)', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'live-store-')), 'storage.json')
    const first = createNodePlatform({ storageFile: file })
    first.setStorageSync('outbox', [{ msg_id: 'a' }])
    first.setStorageSync('gone', 1)
    first.removeStorageSync('gone')
    const second = createNodePlatform({ storageFile: file })
    expect(second.getStorageSync('outbox')).toEqual([{ msg_id: 'a' }])
    expect(second.getStorageSync('gone')).toBeUndefined()
  })
})
