/**
 * @jest-environment jsdom
 * @jest-environment-options {"customExportConditions":["node","node-addons"]}
 */
// The real sample pages (miniprogram/), WXML compiled by the official compiler that
// miniprogram-simulate ships, running on the Node platform against the reference server.
import simulate, { type RootComponent } from 'miniprogram-simulate'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { createServer, type LiveServer } from '../../server/server'
import { signToken } from '../../server/token'
import { createLiveClient, type LiveClient } from '../../src/connection/client'
import { heldLiveRooms, provideLiveClient } from '../../src/bindings/injection'
import { createLiveRoom } from '../../src/stores/liveRoom'
import { createNodePlatform, type NodePlatform } from '../../server/node/platform'
import { createNodeWx } from '../../server/node/nodeWx'
import { laySampleWxs } from '../helpers/sampleApp'
import { until } from '../helpers/wait'
import { RawClient } from '../helpers/rawClient'

const SECRET = 'page-secret'
const root = path.join(__dirname, '..', '..', 'miniprogram')
const exp = (): number => Math.floor(Date.now() / 1000) + 3600
const viewerToken = signToken({ uid: 'viewer-1', name: 'Vic', role: 'viewer', exp: exp() }, SECRET)
const anchorToken = signToken({ uid: 'anchor-1', name: 'Ann', role: 'anchor', rooms: ['r1'], exp: exp() }, SECRET)

// miniprogram-simulate types render() of a path id as a plain Component; it is a RootComponent.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Page = RootComponent<any, any, any> & { triggerPageLifeTime(name: string, ...args: unknown[]): void }
const render = (id: string, properties: Record<string, unknown>): Page => simulate.render(id, properties) as unknown as Page
const text = (page: Page, selector: string): string => (page.querySelector(selector)?.dom?.textContent ?? '').trim()

describe('sample mini-program pages', () => {
  let server: LiveServer
  let platform: NodePlatform
  let client: LiveClient
  let roomPageId: string
  let anchorPageId: string

  beforeAll(() => {
    // Each page file is loaded once per test file (miniprogram-simulate quirk).
    laySampleWxs()
    roomPageId = simulate.load(path.join(root, 'pages/room/room'), { rootPath: root })
    anchorPageId = simulate.load(path.join(root, 'pages/anchor/anchor'), { rootPath: root })
  })

  beforeEach(async () => {
    server = await createServer({ port: 0, secret: SECRET, dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'pages-')), likeWindowMs: 20 })
    platform = createNodePlatform()
    Object.assign((global as unknown as { wx: object }).wx, createNodeWx(platform))
  })

  afterEach(async () => {
    client?.close()
    platform.destroy()
    await server.close()
  })

  /** What app.ts does, with this test's server and token. */
  function provide(token: string): LiveClient {
    client = createLiveClient({ url: server.url, token, outbox: { storageKey: false }, lingerMs: 10 })
    provideLiveClient(client)
    return client
  }

  it('renders the room and follows server events', async () => {
    provide(viewerToken)
    const page = render(roomPageId, { room_id: 'r1' })
    page.attach(document.createElement('parent-wrapper'))
    await until(() => text(page, '.online') === '1', 'own join counted')
    const other = await RawClient.connect(server.url, { token: signToken({ uid: 'u2', name: 'Bo', role: 'viewer', exp: exp() }, SECRET) })
    await other.command({ msg_type: 'join', msg_id: 'j', room_id: 'r1' })
    await other.command({ msg_type: 'message', msg_id: 'm1', room_id: 'r1', content: 'hello from Bo' })
    await until(() => text(page, '.online') === '2', 'second viewer counted')
    await until(() => page.querySelectorAll('.comment').length === 1, 'comment rendered')
    expect(text(page, '.comment .name')).toBe('Bo')
    expect(text(page, '.comment .content')).toBe('hello from Bo')
    await until(() => text(page, '.notice').includes('Bo'), 'notice banner')
    other.close()
    await until(() => text(page, '.online') === '1', 'leave counted')
    page.detach()
    await until(() => server.connectionCount === 0, 'socket closed after the page left', 3000)
    expect(heldLiveRooms()).toEqual({})
  })

  it('keeps the page working over the HTTP fallback while upgrades are refused, says so, and moves back', async () => {
    server.refuseUpgrades(true)
    // What app.ts does, with a quick socket probe for the test (wx.request comes from the Node platform).
    client = createLiveClient({ url: server.url, token: viewerToken, outbox: { storageKey: false }, lingerMs: 10, backoff: { minMs: 5, maxMs: 20 }, httpFallback: { probeDelayMs: () => 100 } })
    provideLiveClient(client)
    const page = render(roomPageId, { room_id: 'r1' })
    page.attach(document.createElement('parent-wrapper'))
    await until(() => text(page, '.banner') === 'open (over HTTP)', 'the banner says HTTP', 10000)
    await until(() => text(page, '.online') === '1', 'counted over HTTP')
    await server.engine.apply('r1', { type: 'message', msgId: 'h1', user: { uid: 'u2', name: 'Bo' }, content: 'over http' })
    await until(() => page.querySelectorAll('.comment').length === 1, 'a comment over HTTP')
    expect(text(page, '.comment .content')).toBe('over http')
    expect(platform.sockets.length).toBeGreaterThanOrEqual(3)
    server.refuseUpgrades(false)
    await until(() => client.state.status === 'open' && client.state.transport === 'socket', 'back on the socket', 10000)
    await until(() => page.querySelector('.banner') === undefined || text(page, '.banner') === '', 'no banner once on the socket')
    await server.engine.apply('r1', { type: 'message', msgId: 'h2', user: { uid: 'u2', name: 'Bo' }, content: 'over the socket' })
    await until(() => page.querySelectorAll('.comment').length === 2, 'a comment over the socket')
    expect(client.stats.duplicatesDropped).toBe(0)
    expect(client.stats.gapsDetected).toBe(0)
    expect(text(page, '.online')).toBe('1')
    page.triggerPageLifeTime('unload')
  })

  it('sends taps on like, follow, buy and send to the server', async () => {
    provide(viewerToken)
    const anchorClient = createLiveClient({ url: server.url, token: anchorToken, platform: createNodePlatform(), outbox: { storageKey: false } })
    const anchor = createLiveRoom(anchorClient, 'r1')
    await until(() => anchor.roomStore.joined, 'anchor joined')
    const page = render(roomPageId, { room_id: 'r1' })
    page.attach(document.createElement('parent-wrapper'))
    await until(() => text(page, '.online') === '2', 'joined')
    await anchor.shelfStore.putOn({ goods_id: 'g1', goods_name: 'Tea', goods_price: 1999, default_image: 'https://img.example.com/t.png' })
    await until(() => text(page, '.current-name') === 'Tea', "the anchor's goods on the viewer page")
    expect(text(page, '.current-price')).toBe('¥19.99')

    // The like button is a component of its own, sharing the page's room stores.
    const likeButton = page.querySelector('.like-btn')
    expect(likeButton).toBeTruthy()
    likeButton?.querySelector('.like')?.dispatchEvent('tap')
    likeButton?.querySelector('.like')?.dispatchEvent('tap')
    await until(() => text(page, '.likes') === '2', 'likes counted by the server')
    expect((likeButton?.querySelector('.like-count')?.dom?.textContent ?? '').trim()).toBe('2')
    // Page and component share one store and one join.
    expect(heldLiveRooms()).toEqual({ r1: 2 })
    expect(anchor.roomStore.onlineNum).toBe(2)

    page.querySelector('.follow')?.dispatchEvent('tap')
    await until(() => text(page, '.follows') === '1', 'follow counted')
    expect(text(page, '.follow')).toBe('Following')

    page.querySelector('.buy-current')?.dispatchEvent('tap')
    await until(() => anchor.roomStore.notices.some((n) => n.kind === 'buy' && n.user.uid === 'viewer-1'), 'purchase reached the anchor')

    page.querySelector('.composer')?.dispatchEvent('submit', { detail: { value: { content: '  nice tea  ' } } })
    await until(() => page.querySelectorAll('.comment').length === 1, 'own comment shown')
    await until(() => anchor.commentStore.comments.some((c) => c.content === 'nice tea' && c.uid === 'viewer-1'), 'comment reached the server')
    await until(() => page.querySelector('.comment .status') === undefined || page.querySelector('.comment .status') === null, 'comment confirmed')

    page.querySelector('.composer')?.dispatchEvent('submit', { detail: { value: { content: '   ' } } })
    await until(() => text(page, '.error') === 'content is empty', 'validation shown')

    page.querySelector('.shelf-toggle')?.dispatchEvent('tap')
    await until(() => page.querySelectorAll('.goods').length === 1, 'drawer opened')
    anchor.dispose()
    anchorClient.close()
    page.detach()
  })

  it('lets the anchor console put goods on and take them off, shown on the viewer side', async () => {
    provide(anchorToken)
    const viewerClient = createLiveClient({ url: server.url, token: viewerToken, platform: createNodePlatform(), outbox: { storageKey: false } })
    const viewer = createLiveRoom(viewerClient, 'r1')
    const page = render(anchorPageId, { room_id: 'r1' })
    page.attach(document.createElement('parent-wrapper'))
    await until(() => page.querySelectorAll('.put-on').length === 3, 'catalogue rendered')
    await until(() => viewer.roomStore.joined && client.state.status === 'open', 'both joined')
    page.querySelectorAll('.put-on')[1].dispatchEvent('tap')
    await until(() => viewer.shelfStore.goods.some((g) => g.goods_id === 'cup-02'), 'viewer sees the goods')
    await until(() => page.querySelectorAll('.take-off').length === 1, 'console shows it on the shelf')
    await viewer.shelfStore.buy('cup-02')
    await until(() => text(page, '.purchase').includes('bought Celadon tea cup'), 'purchase on the console')
    page.querySelector('.take-off')?.dispatchEvent('tap')
    await until(() => viewer.shelfStore.goods.length === 0, 'viewer sees it gone')
    viewer.dispose()
    viewerClient.close()
    page.detach()
  })

  it("lets the anchor console delete a comment (long-press), mute and kick its author; the viewer's page drops the comment with one small setData path and says why it cannot comment", async () => {
    provide(anchorToken)
    const viewerClient = createLiveClient({ url: server.url, token: viewerToken, outbox: { storageKey: false }, lingerMs: 10 })
    provideLiveClient(viewerClient, 'viewer')
    const console = render(anchorPageId, { room_id: 'r1' })
    console.attach(document.createElement('parent-wrapper'))
    const viewer = render(roomPageId, { room_id: 'r1', liveScope: 'viewer' })
    const calls: Array<Record<string, unknown>> = []
    const instance = viewer.instance as unknown as { setData: (d: Record<string, unknown>) => void }
    const setData = instance.setData.bind(instance)
    instance.setData = (data) => {
      calls.push(data)
      setData(data)
    }
    viewer.attach(document.createElement('parent-wrapper'))
    await until(() => text(viewer, '.online') === '2', 'both in the room')
    const send = (content: string): void => viewer.querySelector('.composer')?.dispatchEvent('submit', { detail: { value: { content } } })
    send('first, fine')
    send('second, spam')
    send('third, fine')
    await until(() => console.querySelectorAll('.comment').length === 3, 'the console shows the three comments')
    await until(() => viewer.querySelectorAll('.comment .status').length === 0, 'all three confirmed on the viewer page')

    // Long-press the spam on the console: gone from both pages.
    const mark = calls.length
    console.querySelectorAll('.comment')[1].dispatchEvent('longpress')
    await until(() => viewer.querySelectorAll('.comment').length === 2, 'the viewer page dropped it')
    await until(() => console.querySelectorAll('.comment').length === 2, 'the console dropped it')
    expect(viewer.querySelectorAll('.comment .content').map((c) => (c.dom?.textContent ?? '').trim())).toEqual(['first, fine', 'third, fine'])
    const deletion = calls.slice(mark).filter((d) => Object.keys(d).some((k) => k.startsWith('comments')))
    expect(deletion).toEqual([{ 'comments[1].deleted': true }])
    expect(JSON.stringify(deletion[0]).length).toBeLessThan(40)

    // Mute the author (the viewer) from the console: the viewer page says so, and a comment fails with why.
    console.querySelectorAll('.mute')[0].dispatchEvent('tap')
    await until(() => text(viewer, '.restricted').startsWith('You are muted until'), 'the viewer page says it is muted')
    send('am I muted?')
    await until(() => text(viewer, '.comment.failed .status') === 'you are muted in this room', 'the refused comment says why')

    // Kick: out of the room at once, counted out, and the page says until when.
    console.querySelectorAll('.kick')[0].dispatchEvent('tap')
    await until(() => text(viewer, '.restricted').startsWith('You were removed from this room until'), 'the viewer page says it was removed')
    await until(() => text(console, '.online') === '1', 'counted out on the console')
    expect(text(console, '.error')).toBe('')
    viewer.detach()
    console.detach()
    viewerClient.close()
  })
})
