/**
 * @jest-environment jsdom
 * @jest-environment-options {"customExportConditions":["node","node-addons"]}
 */
// The room page's setData budget over a generated stream in virtual time: 10 s of 1,000
// comments a second (plus joins, likes, a shelf change) through the real client, page and
// bindings, on the test kit's platform. Counts and bytes only: the machine's speed cannot
// change a figure (the wall-clock version failed on a loaded machine: 9,815 of 9,900 sent).
import simulate, { type RootComponent } from 'miniprogram-simulate'
import * as path from 'path'
import { TestScheduler } from 'rxjs/testing'
import { createLiveClient } from '../../src/connection/client'
import { provideLiveClient } from '../../src/bindings/injection'
import { utf8ByteLength } from '../../src/protocol/utf8'
import { FakePlatform } from '../../src/testing'

const root = path.join(__dirname, '..', '..', 'miniprogram')
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Page = RootComponent<any, any, any>

/** [virtual ms, frame]: 1,000 comments a second, a join every 100 ms, likes every 50 ms, goods every 2 s. */
function stream(seconds: number, rate: number): Array<[number, Record<string, unknown>]> {
  const frames: Array<[number, Record<string, unknown>]> = []
  let seq = 0
  for (let ms = 0; ms < seconds * 1000; ms++) {
    const base = { room_id: 'r1', ts: ms }
    const comments = Math.floor(((ms + 1) * rate) / 1000) - Math.floor((ms * rate) / 1000)
    for (let i = 0; i < comments; i++) {
      const n = ++seq
      frames.push([ms, { ...base, msg_type: 'message', seq: n, msg_id: `m${n}`, from_uid: `u${n % 97}`, from_name: `viewer ${n % 97}`, content: `comment number ${n}, a typical length` }])
    }
    if (ms % 100 === 0) frames.push([ms, { ...base, msg_type: 'join', seq: ++seq, user: { uid: `j${ms}`, name: 'J' }, online_num: 2 + ms / 100 }])
    if (ms % 50 === 0) frames.push([ms, { ...base, msg_type: 'like', seq: ++seq, like_num: 3 * (ms / 50 + 1), delta: 3 }])
    if (ms % 2000 === 0) frames.push([ms, { ...base, msg_type: 'on_off_shelf', seq: ++seq, goods_id: `g${ms}`, goods_name: 'Tea', goods_price: 100, default_image: 'https://i/t.png', status: 'on' }])
  }
  return frames
}

/** The most calls in any window of `windowMs` (sliding, not whole-second buckets). */
function maxInWindow(times: number[], windowMs: number): number {
  let best = 0
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i] - times[j] >= windowMs) j++
    best = Math.max(best, i - j + 1)
  }
  return best
}

describe('room page setData budget (virtual time)', () => {
  let pageId: string
  beforeAll(() => {
    pageId = simulate.load(path.join(root, 'pages/room/room'), { rootPath: root })
  })

  it('makes at most 20 setData calls in any 1 s window, each at most 32 KB, at 1,000 comments a second for 10 s', () => {
    const frames = stream(10, 1000)
    const calls: Array<{ at: number; bytes: number }> = []
    let page: Page | undefined
    let shown = 0
    let online = ''
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    scheduler.run(() => {
      scheduler.maxFrames = 20000
      const platform = new FakePlatform()
      const client = createLiveClient({ url: 'ws://fake/ws', platform, token: 't', scheduler, outbox: { storageKey: false } })
      provideLiveClient(client, 'virtual')
      page = simulate.render(pageId, { room_id: 'r1', liveScope: 'virtual' }) as unknown as Page
      const instance = page.instance as unknown as { setData: (d: Record<string, unknown>) => void }
      const original = instance.setData.bind(instance)
      instance.setData = (data) => {
        calls.push({ at: scheduler.now(), bytes: utf8ByteLength(JSON.stringify(data)) })
        original(data)
      }
      page.attach(document.createElement('parent-wrapper'))
      const START = 100
      for (const [ms, frame] of frames) scheduler.schedule(() => platform.last.deliver(frame), START + ms)
      scheduler.schedule(() => {
        const p = page as Page
        shown = p.querySelectorAll('.comment').length
        online = (p.querySelector('.online')?.dom?.textContent ?? '').trim()
        p.detach()
        client.close()
      }, START + 10500)
      scheduler.flush()
    })
    const during = calls.filter((c) => c.at >= 100)
    const maxPerWindow = maxInWindow(during.map((c) => c.at), 1000)
    const largest = Math.max(...during.map((c) => c.bytes))
    const total = during.reduce((sum, c) => sum + c.bytes, 0)
    console.log(`[setData, virtual time] ${frames.length} frames in 10 s: ${during.length} calls, at most ${maxPerWindow} in any 1 s window, largest ${largest} B, ${total} B in all; comments shown ${shown}`)
    expect(during.length).toBeGreaterThan(10)
    expect(maxPerWindow).toBeLessThanOrEqual(20)
    expect(largest).toBeLessThanOrEqual(32 * 1024)
    expect(shown).toBeGreaterThan(0)
    expect(shown).toBeLessThanOrEqual(200)
    // The counts on screen are the stream's last.
    expect(online).toBe(String(2 + 9900 / 100))
  })
})
