/**
 * @jest-environment jsdom
 * @jest-environment-options {"customExportConditions":["node","node-addons"]}
 */
// The mini-program build (what DevTools' Build npm would lay into miniprogram_npm/):
// built here, then used as a page would use it, against the reference server.
import simulate from 'miniprogram-simulate'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { createServer } from '../../server/server'
import { signToken } from '../../server/token'
import { createNodePlatform } from '../../server/node/platform'
import { createNodeWx } from '../../server/node/nodeWx'

import { execFileSync } from 'child_process'
import * as zlib from 'zlib'

/** Runs the build script (esbuild needs a plain Node environment, not jsdom). */
function buildBundle(outDir: string): { outfile: string; raw: number; gzip: number; output: string } {
  const output = execFileSync(process.execPath, [path.join(__dirname, '..', '..', 'scripts', 'build-miniprogram.js'), '--out', outDir, '--no-lay'], { encoding: 'utf8' })
  const outfile = path.join(outDir, 'index.js')
  const code = fs.readFileSync(outfile)
  return { outfile, raw: code.length, gzip: zlib.gzipSync(code, { level: 9 }).length, output }
}

describe('miniprogram_dist bundle', () => {
  it('bundles rxjs tree-shaken, leaves the mobx peers external, and runs a room', async () => {
    // Inside the repository, so the bundle resolves its peers from node_modules as in miniprogram_npm/.
    const outDir = path.join(__dirname, '..', '..', 'node_modules', '.cache', 'mp-dist-test')
    fs.rmSync(outDir, { recursive: true, force: true })
    const bundle = buildBundle(outDir)
    expect(bundle.output).toMatch(/bytes raw, \d+ bytes gzip/)
    const code = fs.readFileSync(bundle.outfile, 'utf8')
    const required = [...new Set([...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]))].sort()
    expect(required).toEqual(['mobx-miniprogram', 'mobx-miniprogram-bindings'])
    // Only the parts of rxjs in use: far less than the package's ~378 KB the npm build would copy.
    expect(bundle.raw).toBeLessThan(150 * 1024)
    console.log(`[bundle] ${bundle.raw} B raw, ${bundle.gzip} B gzip`)

    void simulate.sleep(0) // miniprogram-simulate is loaded: Behavior and Component exist, as in WeChat
    const platform = createNodePlatform()
    Object.assign((global as unknown as { wx: object }).wx, createNodeWx(platform))
    const server = await createServer({ port: 0, secret: 's', dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'mp-dist-')) })
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const lib = require(bundle.outfile) as typeof import('../../src/index')
      expect(typeof lib.liveRoomBehavior).toBe('function')
      const client = lib.createLiveClient({
        url: server.url,
        token: signToken({ uid: 'b', name: 'B', role: 'viewer', exp: Math.floor(Date.now() / 1000) + 60 }, 's'),
        outbox: { storageKey: false },
      })
      const room = lib.createLiveRoom(client, 'r1')
      const started = Date.now()
      while (room.roomStore.onlineNum !== 1 && Date.now() - started < 10000) await simulate.sleep(10)
      expect(room.roomStore.onlineNum).toBe(1)
      expect(typeof lib.liveRoomBehavior()).toBe('string')
      room.dispose()
      client.close()
    } finally {
      platform.destroy()
      await server.close()
    }
  })
})
