import * as fs from 'fs'
import * as path from 'path'
import { builtinModules } from 'module'

const root = path.join(__dirname, '..')

/** Every module reachable from `entry` through relative imports, plus the bare imports they make. */
function importGraph(entry: string): { files: string[]; bare: Set<string> } {
  const seen = new Set<string>()
  const bare = new Set<string>()
  const visit = (file: string): void => {
    if (seen.has(file)) return
    seen.add(file)
    const source = fs.readFileSync(file, 'utf8')
    for (const m of source.matchAll(/(?:from|import|require\()\s*['"]([^'"]+)['"]/g)) {
      const spec = m[1]
      if (spec.startsWith('.')) {
        const base = path.resolve(path.dirname(file), spec)
        const candidates = [`${base}.ts`, path.join(base, 'index.ts')]
        const found = candidates.find((c) => fs.existsSync(c))
        if (found) visit(found)
      } else bare.add(spec)
    }
  }
  visit(entry)
  return { files: [...seen], bare }
}

describe('package entries', () => {
  it('keeps the client entry mini-program safe: no ws, no Node built-ins anywhere in its import graph', () => {
    const { files, bare } = importGraph(path.join(root, 'src/index.ts'))
    expect(files.length).toBeGreaterThan(5)
    const forbidden = [...bare].filter((m) => m === 'ws' || builtinModules.includes(m) || m.startsWith('node:'))
    expect(forbidden).toEqual([])
    expect(files.map((f) => path.relative(root, f)).filter((f) => !f.startsWith('src/'))).toEqual([])
  })

  it('keeps Node-only code in the server package, which shares the protocol by the client package name', () => {
    const { bare } = importGraph(path.join(root, 'server/index.ts'))
    // The server reads the protocol through the client package's entry, never a copy or a relative path into src/.
    expect([...bare]).toContain('miniprogram-live-store/protocol')
    const nodeEntry = importGraph(path.join(root, 'server/node/index.ts'))
    expect(nodeEntry.files.every((f) => path.relative(root, f).startsWith('server/node/'))).toBe(true)
    expect([...nodeEntry.bare]).toEqual(expect.arrayContaining(['ws', 'miniprogram-live-store/platform']))
  })

  it('touches wx only inside src/platform', () => {
    const offenders: string[] = []
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name)
        if (entry.isDirectory()) walk(full)
        else if (full.endsWith('.ts') && !full.includes(`${path.sep}platform${path.sep}`)) {
          if (/\bwx\./.test(fs.readFileSync(full, 'utf8'))) offenders.push(path.relative(root, full))
        }
      }
    }
    walk(path.join(root, 'src'))
    expect(offenders).toEqual([])
  })

  it('exports the names other tests rely on', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const client = require('../src/index') as Record<string, unknown>
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const node = require('../server/node') as Record<string, unknown>
    expect(typeof client.createLiveClient).toBe('function')
    expect(typeof client.createWxPlatform).toBe('function')
    // The parsers are the protocol entry's (issue 23: the root entry exports what the README documents).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const protocol = require('../src/protocol') as Record<string, unknown>
    expect(typeof protocol.parseServerFrame).toBe('function')
    expect(typeof protocol.parseClientFrame).toBe('function')
    for (const internal of ['parseServerFrame', 'decodeFrame', 'SOCKET_IS_BACK', 'outboxKeyFor', 'transition', 'SetDataBatcher', 'ListBinding', 'PlainDecoder']) {
      expect([internal, typeof client[internal]]).toEqual([internal, 'undefined'])
    }
    expect(typeof node.createNodePlatform).toBe('function')
    type Manifest = {
      name: string
      exports: Record<string, unknown>
      dependencies?: Record<string, string>
      peerDependencies?: Record<string, string>
      peerDependenciesMeta?: Record<string, { optional?: boolean }>
      bin?: Record<string, string>
      miniprogram?: string
      files?: string[]
    }
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as Manifest
    expect(pkg.name).toBe('miniprogram-live-store')
    expect(Object.keys(pkg.exports).sort()).toEqual(['.', './package.json', './platform', './protocol', './testing'])
    // What a mini-program installs runs inside a mini-program: no run-time dependency at all
    // (rxjs is bundled into miniprogram_dist/; the Node build takes it, and the MobX pair, as peers).
    expect(pkg.dependencies ?? {}).toEqual({})
    expect(Object.keys(pkg.peerDependencies ?? {}).sort()).toEqual(['miniprogram-api-typings', 'mobx-miniprogram', 'mobx-miniprogram-bindings', 'rxjs'])
    // WeChat's typings type the behavior for TypeScript pages: optional, never installed for you.
    expect(pkg.peerDependenciesMeta).toEqual({ 'miniprogram-api-typings': { optional: true } })
    expect(pkg.bin).toBeUndefined()
    expect(pkg.files).toEqual(expect.arrayContaining([pkg.miniprogram, 'dist']))
    const server = JSON.parse(fs.readFileSync(path.join(root, 'server', 'package.json'), 'utf8')) as Manifest
    expect(Object.keys(server.dependencies ?? {}).sort()).toEqual(['ioredis', 'jose', 'miniprogram-live-store', 'prom-client', 'ws'])
    expect(Object.keys(server.exports).sort()).toEqual(['.', './node', './package.json'])
    expect(server.bin).toEqual({ 'live-store-server': 'bin/live-store-server.js' })
  })

  it('cites only sections of docs/protocol.md that exist', () => {
    const headings = new Set([...fs.readFileSync(path.join(root, 'docs', 'protocol.md'), 'utf8').matchAll(/^## (.+)$/gm)].map((m) => m[1]))
    const cited: string[] = []
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name)
        if (entry.isDirectory()) {
          if (entry.name !== 'dist' && entry.name !== 'node_modules') walk(full)
        } else if (full.endsWith('.ts')) {
          const text = fs.readFileSync(full, 'utf8')
          for (const m of text.matchAll(/docs\/protocol\.md, "([^"]+)"/g)) cited.push(m[1])
          // A citation of the protocol names its section: never a bare "protocol.md".
          expect(text.match(/(?<!docs\/)protocol\.md/g) ?? []).toEqual([])
        }
      }
    }
    walk(path.join(root, 'src'))
    walk(path.join(root, 'server'))
    expect(cited.length).toBeGreaterThan(10)
    expect(cited.filter((section) => !headings.has(section))).toEqual([])
  })
})
