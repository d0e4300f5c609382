/**
 * @jest-environment jsdom
 * @jest-environment-options {"customExportConditions":["node","node-addons"]}
 */
// How much setData the real room page does against the reference server: counts and bytes
// (never durations). The 1,000 comments/s budget runs in virtual time: setdata.virtual.test.ts.
import simulate, { type RootComponent } from 'miniprogram-simulate'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { createServer, type LiveServer } from '../../server/server'
import { signToken } from '../../server/token'
import { createLiveClient, type LiveClient } from '../../src/connection/client'
import { provideLiveClient } from '../../src/bindings/injection'
import { createNodePlatform, type NodePlatform } from '../../server/node/platform'
import { createNodeWx } from '../../server/node/nodeWx'
import { SteppedScheduler } from '../helpers/virtualClock'
import { laySampleWxs } from '../helpers/sampleApp'
import { until } from '../helpers/wait'
import { utf8ByteLength } from '../../src/protocol/utf8'

const SECRET = 'setdata-secret'
const root = path.join(__dirname, '..', '..', 'miniprogram')
const viewerToken = signToken({ uid: 'viewer-1', name: 'Vic', role: 'viewer', exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET)

interface Call {
  bytes: number
  keys: string[]
}

// miniprogram-simulate types render() of a path id as a plain Component; it is a RootComponent.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Page = RootComponent<any, any, any> & { triggerPageLifeTime(name: string, ...args: unknown[]): void }
const render = (id: string, properties: Record<string, unknown>): Page => simulate.render(id, properties) as unknown as Page

/** Renders the room page and records every setData it makes. */
function renderRecorded(id: string, roomId: string): { page: Page; calls: Call[] } {
  const page = render(id, { room_id: roomId })
  const calls: Call[] = []
  const instance = page.instance as unknown as { setData: (d: Record<string, unknown>) => void }
  const original = instance.setData.bind(instance)
  instance.setData = (data) => {
    calls.push({ bytes: utf8ByteLength(JSON.stringify(data)), keys: Object.keys(data) })
    original(data)
  }
  page.attach(document.createElement('parent-wrapper'))
  return { page, calls }
}

const text = (page: Page, selector: string): string => (page.querySelector(selector)?.dom?.textContent ?? '').trim()

describe('room page setData budget', () => {
  let server: LiveServer
  let platform: NodePlatform
  let client: LiveClient
  let pageId: string
  /** The client's and the page's time: flushes, budgets and heartbeats happen only when the test advances it. */
  let time: SteppedScheduler

  beforeAll(() => {
    laySampleWxs()
    pageId = simulate.load(path.join(root, 'pages/room/room'), { rootPath: root })
  })

  beforeEach(async () => {
    server = await createServer({ port: 0, secret: SECRET, dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'setdata-')), likeWindowMs: 100, heartbeatMs: 600000 })
    // (No heartbeat in these tests: page time jumps a second at a time, a pong comes in real time.)
    platform = createNodePlatform()
    Object.assign((global as unknown as { wx: object }).wx, createNodeWx(platform))
    time = new SteppedScheduler()
    client = createLiveClient({ url: server.url, token: viewerToken, outbox: { storageKey: false }, lingerMs: 10, scheduler: time })
    provideLiveClient(client)
  })

  afterEach(async () => {
    // One socket all along: no heartbeat or deadline fired while page time jumped.
    expect(client.stats.reconnects).toBe(0)
    client.close()
    platform.destroy()
    await server.close()
  })

  const publish = (roomId: string, i: number): Promise<unknown> =>
    server.engine.apply(roomId, { type: 'message', msgId: `m${i}`, user: { uid: `u${i % 97}`, name: `viewer ${i % 97}` }, content: `comment number ${i}, a typical length` })

  /** Lets the page's stores and bindings run one full second: every window, flush and budget round. */
  const settle = (): void => {
    for (let i = 0; i < 20; i++) time.advance(50)
  }

  it('costs the same bytes to append one comment to a full list as to a 10-item list', async () => {
    const appendCost = async (roomId: string, before: number): Promise<{ bytes: number; rendered: number }> => {
      for (let i = 0; i < before; i++) await publish(roomId, i)
      const { page, calls } = renderRecorded(pageId, roomId)
      const events: string[] = []
      const sub = client.room(roomId).subscribe((u) => {
        if (u.type === 'event' && u.event.msg_type === 'message') events.push(u.event.msg_id ?? '')
      })
      await until(() => client.state.status === 'open', 'connected')
      await until(() => {
        settle()
        return page.querySelectorAll('.comment').length === Math.min(before, 50)
      }, 'snapshot rendered')
      // Grow the list to `before` comments through live events, one second of page time each, so none is thinned.
      let i = before
      while (page.querySelectorAll('.comment').length < before) {
        const id = `m${i}`
        await publish(roomId, i++)
        await until(() => events.includes(id), 'the comment reached the client')
        settle()
      }
      settle()
      const mark = calls.length
      await publish(roomId, 100000)
      await until(() => events.includes('m100000'), 'the last comment reached the client')
      expect(calls.length).toBe(mark)
      settle()
      const appended = calls.slice(mark)
      expect(appended).toHaveLength(1)
      expect(appended[0].keys).toEqual([expect.stringMatching(/^comments\[\d+\]$/)])
      const rendered = page.querySelectorAll('.comment').length
      sub.unsubscribe()
      page.detach()
      return { bytes: appended[0].bytes, rendered }
    }
    const small = await appendCost('small', 10)
    const full = await appendCost('full', 200)
    // The whole-list way (mobx-miniprogram-bindings' toJS of the field) for comparison.
    const wholeList = utf8ByteLength(
      JSON.stringify({
        comments: Array.from({ length: 200 }, (_, i) => ({ id: `x${i}`, name: `viewer ${i % 97}`, content: `comment number ${i}, a typical length`, status: 'sent', own: false, k: i })),
      }),
    )
    console.log(`[setData] one append: ${small.bytes} B at ${small.rendered} items, ${full.bytes} B at ${full.rendered} items (whole-list setData would be ${wholeList} B)`)
    expect(small.rendered).toBe(11)
    expect(full.rendered).toBe(200)
    expect(full.bytes).toBeLessThanOrEqual(2 * small.bytes)
  }, 60000)

  it('sends no setData while the page is hidden, and one catch-up setData when shown', async () => {
    const { page, calls } = renderRecorded(pageId, 'hidden')
    let likes = 0
    let comments = 0
    const sub = client.room('hidden').subscribe((u) => {
      if (u.type === 'event' && u.event.msg_type === 'message') comments++
      if (u.type === 'event' && u.event.msg_type === 'like') likes = u.event.like_num
    })
    await until(() => {
      settle()
      return text(page, '.online') === '1'
    }, 'joined')
    settle()
    page.triggerPageLifeTime('hide')
    const hiddenAt = calls.length
    for (let i = 0; i < 30; i++) {
      await publish('hidden', i)
      await server.engine.apply('hidden', { type: 'like', delta: 1 })
      // A page-time second between events: the page would have flushed each, had it been shown.
      await until(() => comments === i + 1 && likes === i + 1, 'the events reached the client')
      settle()
    }
    expect(calls.length).toBe(hiddenAt)
    page.triggerPageLifeTime('show')
    settle()
    expect(calls.length).toBe(hiddenAt + 1)
    expect(page.querySelectorAll('.comment').length).toBe(30)
    expect(text(page, '.likes')).toBe('30')
    sub.unsubscribe()
    page.detach()
  })
})
