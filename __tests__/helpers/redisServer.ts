/**
 * A redis-server of the test's own, on a free port of 127.0.0.1, keeping nothing on disk.
 * Started from the system's binary; a missing binary is an error that says how to get one.
 */
import { type ChildProcess, spawn } from 'child_process'
import * as fs from 'fs'
import * as net from 'net'
import * as path from 'path'

export interface TestRedis {
  readonly url: string
  readonly port: number
  /** The server process (to stop it: an outage). */
  readonly process: ChildProcess
  /** Stops it (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>
}

const INSTALL_HINT =
  'redis-server was not found. The Redis engine tests start their own Redis from the system binary: ' +
  'install it with `sudo apt-get install -y redis-server` (Debian/Ubuntu; `brew install redis` on macOS), ' +
  'or point REDIS_SERVER at a redis-server binary.'

/** The redis-server binary: $REDIS_SERVER, then PATH, then the usual Debian places. */
export function findRedisServer(): string {
  const fromEnv = process.env.REDIS_SERVER
  if (fromEnv) {
    if (fs.existsSync(fromEnv)) return fromEnv
    throw new Error(`REDIS_SERVER=${fromEnv} does not exist. ${INSTALL_HINT}`)
  }
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin']
  for (const dir of dirs) {
    const candidate = path.join(dir, 'redis-server')
    if (dir && fs.existsSync(candidate)) return candidate
  }
  throw new Error(INSTALL_HINT)
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Starts redis-server; `port` to restart one on the port it had. */
export async function startRedis(port?: number): Promise<TestRedis> {
  const binary = findRedisServer()
  const chosen = port ?? (await freePort())
  const child = spawn(binary, ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'warning'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  const deadline = Date.now() + 10000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${output}`)
    if (await answers(chosen)) break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`redis-server did not answer on port ${chosen} within 10 s: ${output}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return {
    url: `redis://127.0.0.1:${chosen}`,
    port: chosen,
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

/** PING over a plain socket: +PONG means ready. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')))
  })
}

/**
 * A redis-server of this test file's own, started before its tests and stopped after them.
 * Read `.url` inside tests (it exists once `beforeAll` ran).
 */
export function redisForThisFile(): { readonly url: string } {
  let redis: TestRedis | undefined
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })
  return {
    get url() {
      if (redis === undefined) throw new Error('redisForThisFile: read url inside a test')
      return redis.url
    },
  }
}
