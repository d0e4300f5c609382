/**
 * @jest-environment jsdom
 * @jest-environment-options {"customExportConditions":["node","node-addons"]}
 */
// The room page's setData budget over a generated stream in virtual time: 10 s of 1,000
// comments a second (plus joins, likes, a shelf change) through the real client, page and
// bindings, on the test kit's platform. Counts and bytes only: the machine's speed cannot
// change a figure (the wall-clock version failed on a loaded machine: 9,815 of 9,900 sent).
import simulate, { type RootComponent } from 'miniprogram-simulate'
import * as fs from 'fs'
import * as path from 'path'
import { TestScheduler } from 'rxjs/testing'
import { createLiveClient } from '../../src/connection/client'
import { provideLiveClient } from '../../src/bindings/injection'
import { utf8ByteLength } from '../../src/protocol/utf8'
import { FakePlatform } from '../../src/testing'
import { maxInWindow } from '../helpers/slidingWindow'
import { FMT_WXS, laySampleWxs } from '../helpers/sampleApp'
import { until } from '../helpers/wait'

const root = path.join(__dirname, '..', '..', 'miniprogram')
/** The library's WXS module (CommonJS-shaped), run here as the view layer would. */
const wxs = ((): { newest: (list: unknown[]) => string } => {
  const module = { exports: {} as { newest: (list: unknown[]) => string } }
  new Function('module', fs.readFileSync(FMT_WXS, 'utf8'))(module)
  return module.exports
})()
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

/** The sample room page, loaded once for the file (miniprogram-simulate registers it by path). */
let pageId = ''
beforeAll(() => {
  laySampleWxs()
  pageId = simulate.load(path.join(root, 'pages/room/room'), { rootPath: root })
})

describe('room page setData budget (virtual time)', () => {
  it('page plus child components: at most 20 setData calls in any sliding 1 s window, bytes within 1.5x the comments shown, the newest comment on screen', () => {
    const frames = stream(10, 1000)
    const lastComment = frames.filter(([, f]) => f.msg_type === 'message').pop()?.[1] as { content: string }
    const calls: Array<{ at: number; bytes: number; who: string; data: Record<string, unknown> }> = []
    let page: Page | undefined
    let texts: string[] = []
    let online = ''
    let likes = ''
    let stats: { calls: number; bytes: number; own: { calls: number } } | undefined
    let scrollTarget = ''
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    scheduler.run(() => {
      scheduler.maxFrames = 20000
      const platform = new FakePlatform()
      const client = createLiveClient({ url: 'ws://fake/ws', platform, token: 't', scheduler, outbox: { storageKey: false } })
      provideLiveClient(client, 'virtual')
      page = simulate.render(pageId, { room_id: 'r1', liveScope: 'virtual' }) as unknown as Page
      // Every bound component of the page: the page and its like-button.
      const record = (who: string, instance: { setData: (d: Record<string, unknown>) => void }): void => {
        const original = instance.setData.bind(instance)
        instance.setData = (data) => {
          calls.push({ at: scheduler.now(), bytes: utf8ByteLength(JSON.stringify(data)), who, data })
          original(data)
        }
      }
      record('page', page.instance as unknown as { setData: (d: Record<string, unknown>) => void })
      const child = page.querySelector('.like-btn')
      expect(child).toBeDefined()
      record('like-button', (child as unknown as Page).instance as unknown as { setData: (d: Record<string, unknown>) => void })
      page.attach(document.createElement('parent-wrapper'))
      const START = 100
      for (const [ms, frame] of frames) scheduler.schedule(() => platform.last.deliver(frame), START + ms)
      scheduler.schedule(() => {
        const p = page as Page
        texts = p.querySelectorAll('.comment .content').map((c) => (c.dom?.textContent ?? '').trim())
        online = (p.querySelector('.online')?.dom?.textContent ?? '').trim()
        likes = (p.querySelector('.like-btn >>> .like-count')?.dom?.textContent ?? '').trim()
        stats = (p.instance as unknown as { liveSetDataStats: () => typeof stats }).liveSetDataStats()
        // scroll-into-view="{{commentsFollow ? fmt.newest(comments) : ''}}" (miniprogram-simulate's
        // scroll-view does not scroll): the page's WXS, on the page's data.
        const data = (p.instance as unknown as { data: { commentsFollow: boolean; comments: Array<{ k: number; content: string }> } }).data
        const target = data.commentsFollow ? wxs.newest(data.comments) : ''
        scrollTarget = data.comments.find((c) => `c${c.k}` === target)?.content ?? ''
        p.detach()
        client.close()
      }, START + 10500)
      scheduler.flush()
    })
    const during = calls.filter((c) => c.at >= 100)
    const maxPerWindow = maxInWindow(
      during.map((c) => c.at),
      1000,
    )
    const largest = Math.max(...during.map((c) => c.bytes))
    const total = calls.reduce((sum, c) => sum + c.bytes, 0)
    // What the viewer was shown: every comment sent to the page, as {id, name, content}.
    const shown = new Map<string, string>()
    for (const c of calls) {
      for (const [key, value] of Object.entries(c.data)) {
        const items = key === 'comments' ? (value as Array<Record<string, unknown>>) : /^comments\[\d+\]$/.test(key) ? [value as Record<string, unknown>] : []
        for (const item of items) {
          const n = /comment number (\d+),/.exec(String(item.content))?.[1]
          if (n !== undefined) shown.set(n, JSON.stringify({ id: `m${n}`, name: item.name, content: item.content }))
        }
      }
    }
    const shownBytes = [...shown.values()].reduce((sum, json) => sum + utf8ByteLength(json), 0)
    const childCalls = calls.filter((c) => c.who === 'like-button').length
    console.log(
      `[setData, virtual time] ${frames.length} frames in 10 s: page + like-button ${calls.length} calls (like-button ${childCalls}), at most ${maxPerWindow} in any sliding 1 s window, ` +
        `largest ${largest} B, ${total} B in all for ${shown.size} comments shown (${shownBytes} B as {id, name, content}: ${(total / shownBytes).toFixed(2)}x)`,
    )
    expect(during.length).toBeGreaterThan(10)
    expect(maxPerWindow).toBeLessThanOrEqual(20)
    expect(largest).toBeLessThanOrEqual(32 * 1024)
    expect(total).toBeLessThanOrEqual(1.5 * shownBytes)
    // The page's stats are the page total: the page and its bound child.
    expect(stats?.calls).toBe(calls.length)
    expect(stats?.bytes).toBe(total)
    expect(texts.length).toBeGreaterThan(0)
    expect(texts.length).toBeLessThanOrEqual(200)
    // The newest comment received is on screen, and the list follows it.
    expect(texts).toContain(lastComment.content)
    expect(scrollTarget).toBe(lastComment.content)
    // The counts on screen are the stream's last, in the page and in its child.
    expect(online).toBe(String(2 + 9900 / 100))
    expect(likes).toBe(String(3 * (9950 / 50 + 1)))
  })
})

describe('room page auto-scroll (virtual time)', () => {
  it('follows the newest comment, stops when the viewer scrolls up, shows the pill for new comments, and follows again from the pill or the bottom', () => {
    const seen: Array<{ follow: unknown; unseen: unknown; pill: boolean; target: string }> = []
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    scheduler.run(() => {
      const platform = new FakePlatform()
      const client = createLiveClient({ url: 'ws://fake/ws', platform, token: 't', scheduler, outbox: { storageKey: false } })
      provideLiveClient(client, 'scroll')
      const page = simulate.render(pageId, { room_id: 'r1', liveScope: 'scroll' }) as unknown as Page
      page.attach(document.createElement('parent-wrapper'))
      const instance = page.instance as unknown as {
        data: { commentsFollow: boolean; commentsUnseen: boolean; comments: Array<{ k: number; content: string }> }
        commentsScrolled(e: unknown): void
        commentsAtBottom(): void
      }
      let seq = 0
      const comment = (text: string): void => platform.last.deliver({ msg_type: 'message', room_id: 'r1', seq: ++seq, ts: 0, msg_id: `m${seq}`, from_uid: 'u9', from_name: 'Nine', content: text })
      const look = (): void => {
        const { commentsFollow, commentsUnseen, comments } = instance.data
        const target = commentsFollow ? wxs.newest(comments) : ''
        seen.push({ follow: commentsFollow, unseen: commentsUnseen, pill: page.querySelector('.new-comments') !== undefined, target: comments.find((c) => `c${c.k}` === target)?.content ?? '' })
      }
      scheduler.schedule(() => comment('first'), 100)
      scheduler.schedule(look, 300)
      // The viewer scrolls down a little (following), then up: following stops.
      scheduler.schedule(() => instance.commentsScrolled({ detail: { scrollTop: 500 } }), 400)
      scheduler.schedule(() => instance.commentsScrolled({ detail: { scrollTop: 200 } }), 450)
      scheduler.schedule(look, 600)
      scheduler.schedule(() => comment('while reading'), 700)
      scheduler.schedule(look, 900)
      // The pill brings them back to the newest (its tap, through the WXML, is the next test's).
      scheduler.schedule(() => (instance as unknown as { followComments(): void }).followComments(), 1000)
      scheduler.schedule(look, 1200)
      // Up again, then back down to the bottom by hand: following again, no pill.
      scheduler.schedule(() => instance.commentsScrolled({ detail: { scrollTop: 100 } }), 1300)
      scheduler.schedule(() => comment('third'), 1350)
      scheduler.schedule(() => instance.commentsAtBottom(), 1500)
      scheduler.schedule(() => comment('fourth'), 1600)
      scheduler.schedule(look, 1800)
      scheduler.schedule(() => {
        page.detach()
        client.close()
      }, 2000)
    })
    expect(seen).toEqual([
      { follow: true, unseen: false, pill: false, target: 'first' },
      { follow: false, unseen: false, pill: false, target: '' },
      { follow: false, unseen: true, pill: true, target: '' },
      { follow: true, unseen: false, pill: false, target: 'while reading' },
      { follow: true, unseen: false, pill: false, target: 'fourth' },
    ])
  })
})

describe('room page "new comments" pill (real timers)', () => {
  it('is wired in the WXML: its tap follows the newest comment again', async () => {
    const platform = new FakePlatform()
    const client = createLiveClient({ url: 'ws://fake/ws', platform, token: 't', outbox: { storageKey: false } })
    provideLiveClient(client, 'pill')
    const page = simulate.render(pageId, { room_id: 'r1', liveScope: 'pill' }) as unknown as Page
    page.attach(document.createElement('parent-wrapper'))
    const instance = page.instance as unknown as { data: { commentsFollow: boolean; joined: boolean }; commentsScrolled(e: unknown): void }
    await until(() => instance.data.joined === true, 'joined')
    let seq = 0
    const comment = (text: string): void => platform.last.deliver({ msg_type: 'message', room_id: 'r1', seq: ++seq, ts: 0, msg_id: `m${seq}`, from_uid: 'u9', from_name: 'Nine', content: text })
    comment('one')
    instance.commentsScrolled({ detail: { scrollTop: 400 } })
    instance.commentsScrolled({ detail: { scrollTop: 100 } })
    comment('two')
    await until(() => page.querySelector('.new-comments') !== undefined, 'the pill shows')
    page.querySelector('.new-comments')?.dispatchEvent('tap')
    await until(() => instance.data.commentsFollow === true && page.querySelector('.new-comments') === undefined, 'following again, pill gone')
    page.detach()
    client.close()
  })
})
