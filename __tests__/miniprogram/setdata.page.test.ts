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
import { sleep, until } from '../helpers/wait'
import { utf8ByteLength } from '../../src/protocol/utf8'

const SECRET = 'setdata-secret'
const root = path.join(__dirname, '..', '..', 'miniprogram')
const viewerToken = signToken({ uid: 'viewer-1', name: 'Vic', role: 'viewer', exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET)


interface Call {
  at: number
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
    calls.push({ at: Date.now(), bytes: utf8ByteLength(JSON.stringify(data)), keys: Object.keys(data) })
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

  beforeAll(() => {
    pageId = simulate.load(path.join(root, 'pages/room/room'), { rootPath: root })
  })

  beforeEach(async () => {
    server = await createServer({ port: 0, secret: SECRET, dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'setdata-')), likeWindowMs: 100 })
    platform = createNodePlatform()
    Object.assign((global as unknown as { wx: object }).wx, createNodeWx(platform))
    client = createLiveClient({ url: server.url, token: viewerToken, outbox: { storageKey: false }, lingerMs: 10 })
    provideLiveClient(client)
  })

  afterEach(async () => {
    client.close()
    platform.destroy()
    await server.close()
  })

  const publish = (roomId: string, i: number): Promise<unknown> =>
    server.engine.apply(roomId, { type: 'message', msgId: `m${i}`, user: { uid: `u${i % 97}`, name: `viewer ${i % 97}` }, content: `comment number ${i}, a typical length` })

  it('costs the same bytes to append one comment to a full list as to a 10-item list', async () => {
    const appendCost = async (roomId: string, before: number): Promise<{ bytes: number; rendered: number }> => {
      for (let i = 0; i < before; i++) await publish(roomId, i)
      const { page, calls } = renderRecorded(pageId, roomId)
      await until(() => page.querySelectorAll('.comment').length === Math.min(before, 50), 'snapshot rendered')
      // Grow the list to `before` comments through live events, slowly enough not to be thinned.
      let i = before
      while (page.querySelectorAll('.comment').length < before) {
        await publish(roomId, i++)
        await sleep(60)
      }
      await sleep(200)
      const mark = calls.length
      await publish(roomId, 100000)
      await until(() => calls.length > mark, 'append setData')
      await sleep(100)
      const appended = calls.slice(mark)
      expect(appended).toHaveLength(1)
      expect(appended[0].keys).toEqual([expect.stringMatching(/^comments\[\d+\]$/)])
      const rendered = page.querySelectorAll('.comment').length
      page.detach()
      return { bytes: appended[0].bytes, rendered }
    }
    const small = await appendCost('small', 10)
    const full = await appendCost('full', 200)
    // The whole-list way (mobx-miniprogram-bindings' toJS of the field) for comparison.
    const wholeList = utf8ByteLength(
      JSON.stringify({ comments: Array.from({ length: 200 }, (_, i) => ({ id: `x${i}`, name: `viewer ${i % 97}`, content: `comment number ${i}, a typical length`, status: 'sent', own: false, k: i })) }),
    )
    console.log(`[setData] one append: ${small.bytes} B at ${small.rendered} items, ${full.bytes} B at ${full.rendered} items (whole-list setData would be ${wholeList} B)`)
    expect(small.rendered).toBe(11)
    expect(full.rendered).toBe(200)
    expect(full.bytes).toBeLessThanOrEqual(2 * small.bytes)
  }, 60000)

  it('sends no setData while the page is hidden, and one catch-up setData when shown', async () => {
    const { page, calls } = renderRecorded(pageId, 'hidden')
    await until(() => text(page, '.online') === '1', 'joined')
    await sleep(100)
    page.triggerPageLifeTime('hide')
    const hiddenAt = calls.length
    for (let i = 0; i < 30; i++) {
      await publish('hidden', i)
      await server.engine.like('hidden', 1)
      await sleep(20)
    }
    await sleep(200)
    expect(calls.length).toBe(hiddenAt)
    page.triggerPageLifeTime('show')
    await sleep(200)
    expect(calls.length).toBe(hiddenAt + 1)
    expect(page.querySelectorAll('.comment').length).toBe(30)
    expect(text(page, '.likes')).toBe('30')
    page.detach()
  })
})
