import { type ChildProcessWithoutNullStreams, spawn } from 'child_process'
import * as path from 'path'
import { parseArgs } from '../../server/cli'
import { verifyToken } from '../../server/token'
import { RawClient } from '../helpers/rawClient'
import { freePort } from '../helpers/redisServer'

const root = path.join(__dirname, '..', '..')

function startCli(args: string[], env: NodeJS.ProcessEnv = process.env): { child: ChildProcessWithoutNullStreams; output: () => string; line: (re: RegExp) => Promise<RegExpMatchArray> } {
  const child = spawn(process.execPath, ['-r', './scripts/dev-source.js', 'server/cli.ts', ...args], {
    cwd: root,
    env: { ...env, TS_NODE_PROJECT: 'tsconfig.json' },
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const line = (re: RegExp): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${re} in output: ${out}`)), 15000)
      const check = (): void => {
        const m = out.match(re)
        if (m) {
          clearTimeout(timer)
          child.stdout.off('data', check)
          resolve(m)
        }
      }
      child.stdout.on('data', check)
      check()
    })
  return { child, output: () => out, line }
}

describe('live-store-server CLI', () => {
  it('parses every documented flag', () => {
    expect(
      parseArgs(['--port', '0', '--host=0.0.0.0', '--secret', 's', '--heartbeat-ms', '1000', '--history', '2000', '--max-frame-bytes', '8192', '--data-dir', '/tmp/x', '--rooms', 'r.json', '--dev']),
    ).toEqual({ port: 0, host: '0.0.0.0', secret: 's', heartbeatMs: 1000, history: 2000, maxFrameBytes: 8192, dataDir: '/tmp/x', roomsFile: 'r.json', dev: true, help: false })
    expect(parseArgs(['--room-creation', 'anchors', '--idle-room-ms', '60000', '--max-connections-per-user', '4', '--max-rooms-per-user', '3'])).toMatchObject({
      roomCreation: 'anchors',
      idleRoomMs: 60000,
      maxConnectionsPerUser: 4,
      maxRoomsPerUser: 3,
    })
    expect(parseArgs(['--batch-ms', '0', '--no-compression'])).toMatchObject({ batchMs: 0, compression: false })
    expect(parseArgs(['--no-http', '--refuse-upgrades'])).toMatchObject({ http: false, refuseUpgrades: true })
    expect(parseArgs(['--jwt-public-key', 'live.pub', '--jwks', 'jwks.json', '--jwt-issuer', 'https://auth', '--jwt-audience', 'live'])).toMatchObject({
      jwtPublicKeyFile: 'live.pub',
      jwksFile: 'jwks.json',
      jwtIssuer: 'https://auth',
      jwtAudience: 'live',
    })
    expect(parseArgs(['--batch-ms', '40', '--compression-threshold', '512'])).toMatchObject({ batchMs: 40, compression: { threshold: 512 } })
    expect(() => parseArgs(['--batch-ms', '5000'])).toThrow(/--batch-ms must be a whole number from 0 to 1000/)
    expect(parseArgs(['--redis', 'redis://127.0.0.1:6390', '--redis-prefix', 'p1', '--lease-ms', '2000', '--rate-limit', '50:100', '--message-rate-limit', '7'])).toMatchObject({
      redis: 'redis://127.0.0.1:6390',
      redisPrefix: 'p1',
      leaseMs: 2000,
      rateLimit: { perSecond: 50, burst: 100 },
      messageRateLimit: { perSecond: 7, burst: 7 },
    })
    expect(() => parseArgs(['--rate-limit', 'fast'])).toThrow(/whole number/)
    expect(() => parseArgs(['--port', 'abc'])).toThrow(/whole number/)
    expect(() => parseArgs(['--bogus'])).toThrow(/unknown flag/)
  })

  it('refuses values no client could use, each with what it takes (issue 11, point 7)', () => {
    expect(() => parseArgs(['--heartbeat-ms', '0'])).toThrow('--heartbeat-ms must be a whole number from 1000 to 600000 (got "0")')
    expect(() => parseArgs(['--max-frame-bytes', '1'])).toThrow('--max-frame-bytes must be a whole number from 8192 to 16777216 (got "1")')
    expect(() => parseArgs(['--rate-limit', '5:'])).toThrow('--rate-limit must be N or N:B, whole numbers from 1 (got "5:")')
    expect(() => parseArgs(['--rate-limit', '0:10'])).toThrow(/--rate-limit must be a whole number from 1/)
    expect(() => parseArgs(['--message-rate-limit', '5:0'])).toThrow(/from 1 to 10000000/)
    expect(() => parseArgs(['--port', '70000'])).toThrow(/from 0 to 65535/)
    expect(() => parseArgs(['--history', '-1'])).toThrow(/--history must be a whole number/)
    expect(() => parseArgs(['--secret'])).toThrow('--secret needs a value')
    expect(() => parseArgs(['--room-creation', 'everyone'])).toThrow(/anyone, anchors or fixed/)
  })

  it('takes a Redis Cluster by some of its nodes, and says what a node list needs (issue 24)', async () => {
    expect(parseArgs(['--redis-cluster', '127.0.0.1:7000, 10.0.0.2:7001,[::1]:7002'])).toMatchObject({ redisCluster: ['127.0.0.1:7000', '10.0.0.2:7001', '[::1]:7002'] })
    expect(() => parseArgs(['--redis-cluster', '127.0.0.1'])).toThrow('a Redis Cluster node is host:port, not "127.0.0.1"')
    expect(() => parseArgs(['--redis-cluster', ','])).toThrow('a Redis Cluster needs at least one node, host:port')
    const both = startCli(['--port', '0', '--secret', 's', '--redis', 'redis://127.0.0.1:1', '--redis-cluster', '127.0.0.1:1'])
    expect(await new Promise<number | null>((resolve) => both.child.once('exit', (c) => resolve(c)))).toBe(2)
    expect(both.output()).toContain('give --redis (LIVE_REDIS_URL) or --redis-cluster (LIVE_REDIS_CLUSTER), not both')
    // Nothing answers at a port that was free a moment ago.
    const port = await freePort()
    const gone = startCli(['--port', '0', '--secret', 's', '--redis-cluster', `127.0.0.1:${port}`])
    expect(await new Promise<number | null>((resolve) => gone.child.once('exit', (c) => resolve(c)))).toBe(2)
    expect(gone.output()).toContain(`cannot use Redis Cluster at 127.0.0.1:${port}`)
  })

  it('exits 2 with the message when a value is refused', async () => {
    const { child, output } = startCli(['--heartbeat-ms', '0'])
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
    expect(code).toBe(2)
    expect(output()).toContain('live-store-server: --heartbeat-ms must be a whole number from 1000 to 600000 (got "0")')
  })

  it('exits 2 with a clear message when the Redis given with --redis cannot be reached', async () => {
    // A port that was free a moment ago: nothing answers there.
    const port = await freePort()
    const { child, output } = startCli(['--port', '0', '--secret', 's', '--redis', `redis://127.0.0.1:${port}`])
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
    expect(code).toBe(2)
    expect(output()).toMatch(new RegExp(`cannot use Redis at redis://127.0.0.1:${port}`))
  })

  it('prints its URL and dev tokens, serves /healthz and /metrics, and on SIGTERM closes sockets with 1001 and exits 0', async () => {
    const { child, line, output } = startCli(['--port', '0', '--dev', '--secret', 'cli-secret', '--data-dir', path.join(root, 'data', 'cli-test')])
    try {
      const [, url, port] = await line(/(ws:\/\/127\.0\.0\.1:(\d+)\/ws)/)
      const [, viewer] = await line(/viewer token: (\S+)/)
      const [, anchor] = await line(/anchor token: (\S+)/)
      expect(verifyToken(viewer, 'cli-secret', Date.now())).toMatchObject({ ok: true, payload: { role: 'viewer' } })
      expect(verifyToken(anchor, 'cli-secret', Date.now())).toMatchObject({ ok: true, payload: { role: 'anchor', rooms: ['demo'] } })
      const health = await fetch(`http://127.0.0.1:${port}/healthz`)
      expect(health.status).toBe(200)
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toMatch(/# TYPE live_connections gauge/)
      const client = await RawClient.connect(url, { token: viewer })
      expect((await client.type('init')).user).toMatchObject({ uid: 'viewer-1' })
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
      child.kill('SIGTERM')
      expect((await client.closed).code).toBe(1001)
      expect(await exited).toBe(0)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
    expect(output()).toMatch(/SIGTERM/)
  })

  it('says so when it generates a secret', async () => {
    const env = { ...process.env }
    delete env.LIVE_SECRET
    const { child, line } = startCli(['--port', '0'], env)
    try {
      await line(/generated a random secret/)
      await line(/listening on ws:/)
    } finally {
      child.kill('SIGINT')
      await new Promise((resolve) => child.once('exit', resolve))
    }
  })
})
