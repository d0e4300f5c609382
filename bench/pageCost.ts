/**
 * Page update cost: one event stream (comments at `rate`/s plus joins, likes and shelf
 * changes) into three versions of a room page rendered in miniprogram-simulate:
 * (a) hand-written, one setData per message carrying the whole comment array;
 * (b) a plain observable store bound with mobx-miniprogram-bindings, as its README shows;
 * (c) ours: the sample room page with liveRoomBehavior, fed through a client.
 * Import '../demo/env' first (a DOM for miniprogram-simulate).
 */
import * as path from 'path'
import { action, observable } from 'mobx-miniprogram'
import { createLiveClient } from '../src/connection/client'
import { provideLiveClient } from '../src/bindings/injection'
import { utf8ByteLength } from '../src/protocol/utf8'
import { FakePlatform } from '../src/testing'
import { maxInWindow } from '../__tests__/helpers/slidingWindow'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const simulate = require('miniprogram-simulate') as typeof import('miniprogram-simulate')

export interface PageCostResult {
  name: string
  events: number
  calls: number
  bytes: number
  largest: number
  cpuUsPerEvent: number
  p99LatencyMs: number
  /** setData bytes in each second of the run. */
  bytesPerSecond: number[]
  /** The most setData calls in any sliding second. */
  maxCallsPerSlidingSecond: number
}

type Frame = Record<string, unknown> & { msg_type: string }

/** The same generated stream for every version: [offset ms, frame]. */
export function eventStream(seconds: number, rate: number): Array<[number, Frame]> {
  const frames: Array<[number, Frame]> = []
  let seq = 0
  let seed = 42
  const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
  for (let ms = 0; ms < seconds * 1000; ms++) {
    const base = { room_id: 'bench', ts: 0 }
    const comments = Math.floor(((ms + 1) * rate) / 1000) - Math.floor((ms * rate) / 1000)
    for (let i = 0; i < comments; i++) {
      const n = ++seq
      frames.push([
        ms,
        { ...base, msg_type: 'message', seq: n, msg_id: `m${n}`, from_uid: `u${Math.floor(rand() * 500)}`, from_name: `viewer ${n % 500}`, content: `comment ${n}: this tea smells great` },
      ])
    }
    if (ms % 100 === 0) frames.push([ms, { ...base, msg_type: 'join', seq: ++seq, user: { uid: `j${ms}`, name: 'J' }, online_num: 1000 + ms / 100 }])
    if (ms % 50 === 0) frames.push([ms, { ...base, msg_type: 'like', seq: ++seq, like_num: ms, delta: 3 }])
    if (ms % 2000 === 0) {
      frames.push([ms, { ...base, msg_type: 'on_off_shelf', seq: ++seq, goods_id: `g${ms}`, goods_name: 'Tea', goods_price: 12800, default_image: 'https://i/t.png', status: 'on' }])
    }
  }
  return frames
}

interface Recorder {
  calls: number
  bytes: number
  largest: number
  latencies: number[]
  /** When each call was made. */
  callTimes: number[]
  pendingSince: number[]
  perSecond: number[]
  start: number
}

function wrap(instance: { setData(d: Record<string, unknown>): void }, rec: Recorder): void {
  const original = instance.setData.bind(instance)
  instance.setData = (data) => {
    const now = Date.now()
    const bytes = utf8ByteLength(JSON.stringify(data))
    rec.calls++
    rec.callTimes.push(now)
    rec.bytes += bytes
    rec.largest = Math.max(rec.largest, bytes)
    const second = Math.floor((now - rec.start) / 1000)
    rec.perSecond[second] = (rec.perSecond[second] ?? 0) + bytes
    for (const t of rec.pendingSince) rec.latencies.push(now - t)
    rec.pendingSince = []
    original(data)
  }
}

const TEMPLATE = `<view class="counts">{{onlineNum}} {{likeNum}}</view>
<view wx:for="{{comments}}" wx:key="id" class="comment">{{item.name}}: {{item.content}}</view>
<view wx:for="{{goods}}" wx:key="goods_id">{{item.goods_name}}</view>`

type Handler = (frame: Frame) => void

async function drive(name: string, frames: Array<[number, Frame]>, rec: Recorder, handle: Handler, seconds: number): Promise<PageCostResult> {
  const cpuStart = process.cpuUsage()
  rec.start = Date.now()
  let next = 0
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = Date.now() - rec.start
      while (next < frames.length && frames[next][0] <= elapsed) {
        rec.pendingSince.push(Date.now())
        handle(frames[next][1])
        next++
      }
      if (next >= frames.length) {
        clearInterval(tick)
        resolve()
      }
    }, 5)
  })
  await new Promise((r) => setTimeout(r, 300))
  const cpu = process.cpuUsage(cpuStart)
  const sorted = [...rec.latencies].sort((a, b) => a - b)
  return {
    name,
    events: frames.length,
    calls: rec.calls,
    bytes: rec.bytes,
    largest: rec.largest,
    cpuUsPerEvent: (cpu.user + cpu.system) / frames.length,
    p99LatencyMs: sorted.length ? sorted[Math.floor(sorted.length * 0.99)] : 0,
    bytesPerSecond: Array.from({ length: seconds }, (_, i) => rec.perSecond[i] ?? 0),
    maxCallsPerSlidingSecond: maxInWindow(rec.callTimes, 1000),
  }
}

const newRecorder = (): Recorder => ({ calls: 0, bytes: 0, largest: 0, latencies: [], callTimes: [], pendingSince: [], perSecond: [], start: Date.now() })

interface Item {
  id: string
  name: string
  content: string
}
const toItem = (f: Frame): Item => ({ id: String(f.msg_id), name: String(f.from_name), content: String(f.content) })

/** (a) The way tutorials show it: one setData per message with the whole array. */
export async function handWritten(seconds: number, rate: number): Promise<PageCostResult> {
  const id = simulate.load({ template: TEMPLATE, data: { comments: [], onlineNum: 0, likeNum: 0, goods: [] } })
  const page = simulate.render(id) as unknown as { instance: { data: Record<string, unknown>; setData(d: Record<string, unknown>): void }; attach(p: unknown): void; detach(): void }
  page.attach(document.createElement('parent-wrapper'))
  const rec = newRecorder()
  wrap(page.instance, rec)
  const self = page.instance
  const result = await drive(
    '(a) hand-written setData per message',
    eventStream(seconds, rate),
    rec,
    (f) => {
      if (f.msg_type === 'message') self.setData({ comments: (self.data.comments as Item[]).concat(toItem(f)).slice(-200) })
      else if (f.msg_type === 'join') self.setData({ onlineNum: f.online_num })
      else if (f.msg_type === 'like') self.setData({ likeNum: f.like_num })
      else if (f.msg_type === 'on_off_shelf') self.setData({ goods: (self.data.goods as unknown[]).concat({ goods_id: f.goods_id, goods_name: f.goods_name }) })
    },
    seconds,
  )
  page.detach()
  return result
}

/** (b) A plain observable store bound with mobx-miniprogram-bindings, arrays replaced as its README shows. */
export async function plainBindings(seconds: number, rate: number): Promise<PageCostResult> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { storeBindingsBehavior } = require('mobx-miniprogram-bindings') as { storeBindingsBehavior: string }
  const store = observable({ comments: [] as Item[], onlineNum: 0, likeNum: 0, goods: [] as Array<{ goods_id: unknown; goods_name: unknown }> })
  const apply = action((f: Frame) => {
    if (f.msg_type === 'message') store.comments = [...store.comments, toItem(f)].slice(-200)
    else if (f.msg_type === 'join') store.onlineNum = f.online_num as number
    else if (f.msg_type === 'like') store.likeNum = f.like_num as number
    else if (f.msg_type === 'on_off_shelf') store.goods = [...store.goods, { goods_id: f.goods_id, goods_name: f.goods_name }]
  })
  const id = simulate.load({
    template: TEMPLATE,
    behaviors: [storeBindingsBehavior],
    storeBindings: { store, fields: ['comments', 'onlineNum', 'likeNum', 'goods'] },
  } as unknown as Parameters<typeof simulate.load>[0])
  const page = simulate.render(id) as unknown as { instance: { setData(d: Record<string, unknown>): void }; attach(p: unknown): void; detach(): void }
  const rec = newRecorder()
  wrap(page.instance, rec)
  page.attach(document.createElement('parent-wrapper'))
  const result = await drive('(b) observable store + mobx-miniprogram-bindings', eventStream(seconds, rate), rec, apply, seconds)
  page.detach()
  return result
}

type SimPage = { instance: { setData(d: Record<string, unknown>): void }; attach(p: unknown): void; detach(): void; querySelector(s: string): SimPage | undefined }

/** The sample room page on a fake platform, connected and joined (snapshot at seq 0). */
async function openRoomPage(roomId: string): Promise<{ page: SimPage; platform: FakePlatform; close: () => void }> {
  const platform = new FakePlatform()
  platform.scripts = [{ init: { msg_type: 'init', client_id: 'c', epoch: 'e1', heartbeat_ms: 600000, user: { uid: 'me', name: 'Me', role: 'viewer' } } }]
  const client = createLiveClient({ url: 'ws://bench/ws', platform, outbox: { storageKey: false } })
  provideLiveClient(client)
  const root = path.join(__dirname, '..', 'miniprogram')
  // The page's WXML imports the library's fmt.wxs from miniprogram_npm/, where Build npm puts it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  ;(require('../scripts/wxs.js') as { layWxs(npmDir: string): void }).layWxs(path.join(root, 'miniprogram_npm'))
  const id = simulate.load(path.join(root, 'pages/room/room'), { rootPath: root })
  const page = simulate.render(id, { room_id: roomId }) as unknown as SimPage
  return {
    page,
    platform,
    close: () => {
      page.detach()
      client.close()
    },
  }
}

/**
 * Heap after a forced GC while `total` comments go through the sample room page (200-comment
 * cap): after the first 10% (the baseline) and at the end. Needs node --expose-gc.
 */
export async function heapOverComments(total: number): Promise<{ comments: number; baselineBytes: number; endBytes: number; growthBytes: number }> {
  const gc = (globalThis as { gc?: () => void }).gc
  const { page, platform, close } = await openRoomPage('heap')
  page.attach(document.createElement('parent-wrapper'))
  await new Promise((r) => setTimeout(r, 200))
  const heap = async (): Promise<number> => {
    await new Promise((r) => setTimeout(r, 100))
    gc?.()
    gc?.()
    return process.memoryUsage().heapUsed
  }
  let baselineBytes = 0
  for (let n = 1; n <= total; n++) {
    platform.last.deliver(
      `{"msg_type":"message","room_id":"heap","seq":${n},"ts":0,"msg_id":"m${n}","from_uid":"u${n % 500}","from_name":"viewer ${n % 500}","content":"comment ${n}: this tea smells great"}`,
    )
    // Let the stores flush and the page update between chunks, as time passes in a real room.
    if (n % 1000 === 0) await new Promise((r) => setTimeout(r, 1))
    if (n === Math.floor(total / 10)) baselineBytes = await heap()
  }
  const endBytes = await heap()
  close()
  return { comments: total, baselineBytes, endBytes, growthBytes: endBytes - baselineBytes }
}

/** (c) Ours: the sample room page and its like-button, its stores fed through a client (frames parsed and validated). */
export async function ours(seconds: number, rate: number): Promise<PageCostResult> {
  const { page, platform, close } = await openRoomPage('bench')
  page.attach(document.createElement('parent-wrapper'))
  await new Promise((r) => setTimeout(r, 200)) // connected, joined, snapshot at seq 0
  const rec = newRecorder()
  // Page plus children: every setData of the page and of its like-button counts.
  wrap(page.instance, rec)
  const child = page.querySelector('.like-btn')
  if (child === undefined) throw new Error('the room page has no like-button')
  wrap(child.instance, rec)
  const result = await drive('(c) miniprogram-live-store: page + like-button', eventStream(seconds, rate), rec, (f) => platform.last.deliver(JSON.stringify(f)), seconds)
  close()
  return result
}
