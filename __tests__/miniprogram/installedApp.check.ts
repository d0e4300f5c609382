/**
 * @jest-environment jsdom
 * @jest-environment-options {"customExportConditions":["node","node-addons"]}
 */
// Run by `npm run check:toolchain` (jest.toolchain.config.ts), not by `npm test`: the sample app
// as a user gets it — the packed client installed, Build npm run by miniprogram-ci, the TypeScript
// compiled — loaded from LIVE_STORE_APP_DIR. Its app.js and room page require the library from
// miniprogram_npm/, never from src/.
import simulate, { type RootComponent } from 'miniprogram-simulate'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { createServer, type LiveServer } from '../../server/server'
import { signToken } from '../../server/token'
import { createNodePlatform, type NodePlatform } from '../../server/node/platform'
import { createNodeWx } from '../../server/node/nodeWx'
import { until } from '../helpers/wait'
import { RawClient } from '../helpers/rawClient'

const app = process.env.LIVE_STORE_APP_DIR ?? ''
const SECRET = 'toolchain-secret'
const exp = (): number => Math.floor(Date.now() / 1000) + 3600

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Page = RootComponent<any, any, any>
const text = (page: Page, selector: string): string => (page.querySelector(selector)?.dom?.textContent ?? '').trim()

describe('the sample app built by the official toolchain', () => {
  let server: LiveServer
  let platform: NodePlatform

  beforeAll(async () => {
    expect(fs.existsSync(path.join(app, 'miniprogram_npm', 'miniprogram-live-store', 'index.js'))).toBe(true)
    server = await createServer({ port: 0, secret: SECRET, dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'toolchain-')) })
    platform = createNodePlatform()
    Object.assign((global as unknown as { wx: object }).wx, createNodeWx(platform))
  })

  afterAll(async () => {
    platform.destroy()
    await server.close()
  })

  it('renders the room page from miniprogram_npm/ and shows a comment sent through a real server', async () => {
    // What a developer does in config.ts: the server's URL and a token from their backend.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { config } = require(path.join(app, 'config')) as { config: { url: string; token: string } }
    config.url = server.url
    config.token = signToken({ uid: 'v1', name: 'Vic', role: 'viewer', exp: exp() }, SECRET)
    ;(global as unknown as { App: (o: object) => void }).App = () => undefined
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(path.join(app, 'app'))
    // miniprogram-api-typings redeclares require without resolve (STACK.md #5).
    expect((require as unknown as { resolve(id: string): string }).resolve('miniprogram-live-store')).toBe(path.join(app, 'miniprogram_npm', 'miniprogram-live-store', 'index.js'))

    const id = simulate.load(path.join(app, 'pages/room/room'), { rootPath: app })
    const page = simulate.render(id, { room_id: 'r1' }) as unknown as Page
    page.attach(document.createElement('parent-wrapper'))
    await until(() => text(page, '.online') === '1', 'own join counted')
    const other = await RawClient.connect(server.url, { token: signToken({ uid: 'u2', name: 'Bo', role: 'viewer', exp: exp() }, SECRET) })
    await other.command({ msg_type: 'join', msg_id: 'j', room_id: 'r1' })
    await other.command({ msg_type: 'message', msg_id: 'm1', room_id: 'r1', content: 'hello from the build' })
    await until(() => page.querySelectorAll('.comment').length === 1, 'comment rendered')
    expect(text(page, '.comment .name')).toBe('Bo')
    expect(text(page, '.comment .content')).toBe('hello from the build')
    console.log(`[toolchain] room page from miniprogram_npm/: online ${text(page, '.online')}, comment "${text(page, '.comment .content')}"`)
    other.close()
    page.detach()
    await until(() => server.connectionCount === 0, 'socket closed after the page left', 5000)
  })
})
