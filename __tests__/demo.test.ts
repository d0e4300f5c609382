import { spawnSync } from 'child_process'
import * as path from 'path'

const root = path.join(__dirname, '..')

describe('npm start (the demo)', () => {
  it.each([[[] as string[]], [['--chaos']]])(
    'runs the real room page against the server and ends with 0 gaps and 0 duplicates %p',
    (extra) => {
      const result = spawnSync(process.execPath, ['-r', './scripts/dev-source.js', 'demo/index.ts', '--duration', '9', '--viewers', '8', '--rate', '15', ...extra], {
        cwd: root,
        encoding: 'utf8',
        timeout: 60000,
      })
      expect(result.stderr).toBe('')
      expect(result.status).toBe(0)
      const out = result.stdout
      expect(out).toMatch(/summary/)
      expect(out).toMatch(/gaps: 0, duplicates: 0/)
      const rendered = Number(/\((\d+) comments rendered\)/.exec(out)?.[1] ?? 0)
      expect(rendered).toBeGreaterThan(10)
      // The live view shows what the page rendered: a name and a comment, not a blank "  : ".
      const [, onScreen, lastName, lastContent] = /comments on screen: (\d+); the last: ([^:\n]+): (.+)/.exec(out) ?? []
      expect(Number(onScreen)).toBeGreaterThan(0)
      expect(lastName?.trim()).toMatch(/\S/)
      expect(lastContent?.trim()).toMatch(/\S{2,}/)
      const [, calls] = /setData: (\d+) calls/.exec(out) ?? []
      expect(Number(calls)).toBeGreaterThan(0)
      // The anchor console page put goods on the shelf and showed the audience's purchases
      // (with --chaos the in-memory server restarts and forgets its shelf, as it should).
      const [, onShelf, purchases] = /anchor console: (\d+) goods on the shelf, (\d+) purchases shown/.exec(out) ?? []
      expect(onShelf).toBeDefined()
      if (!extra.includes('--chaos')) {
        expect(Number(onShelf)).toBeGreaterThan(0)
        expect(Number(purchases)).toBeGreaterThan(0)
      }
      if (extra.includes('--chaos')) expect(Number(/reconnects: (\d+)/.exec(out)?.[1] ?? 0)).toBeGreaterThanOrEqual(2)
    },
    90000,
  )
})
