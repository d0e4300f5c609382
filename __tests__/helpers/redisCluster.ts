import { type ChildProcess, execFile, spawn } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { findRedisServer, freePort } from './redisServer'

/** A Redis Cluster of this test's own: 3 masters and 3 replicas, on free ports, no persistence. */
export interface TestRedisCluster {
  /** Seed nodes, `127.0.0.1:port` (the masters as created). */
  readonly seeds: string[]
  readonly ports: number[]
  /** Kills one node with SIGKILL (a failover test's crash). */
  kill(port: number): void
  /** Stops a node with SIGSTOP (a replica that falls behind: its master's writes wait in its buffer), and lets it go on. */
  pause(port: number): void
  resume(port: number): void
  stop(): Promise<void>
}

const run = (file: string, args: string[]): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 30000 }, (error, stdout, stderr) => (error ? reject(new Error(`${file} ${args.join(' ')}: ${error.message}\n${stdout}${stderr}`)) : resolve(stdout)))
  })

/** The redis-cli next to redis-server (the cluster is created with `redis-cli --cluster create`). */
function findRedisCli(): string {
  const cli = path.join(path.dirname(findRedisServer()), 'redis-cli')
  if (!fs.existsSync(cli)) throw new Error(`redis-cli was not found beside ${findRedisServer()}: it creates the test cluster`)
  return cli
}

/**
 * Starts 6 `redis-server --cluster-enabled yes` processes and joins them with
 * `redis-cli --cluster create ... --cluster-replicas 1`, then waits until every node says
 * `cluster_state:ok`. `nodeTimeoutMs`: how long a master may be silent before a replica takes over.
 */
export async function startRedisCluster(nodeTimeoutMs = 1500): Promise<TestRedisCluster> {
  const server = findRedisServer()
  const cli = findRedisCli()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-cluster-'))
  const ports: number[] = []
  const children = new Map<number, ChildProcess>()
  for (let i = 0; i < 6; i++) {
    let port = await freePort()
    // Its cluster bus is port + 10000: both must be free.
    while (ports.includes(port) || port + 10000 > 65535) port = await freePort()
    ports.push(port)
    const child = spawn(
      server,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'no',
        '--loglevel',
        'warning',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        path.join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        String(nodeTimeoutMs),
        '--dir',
        dir,
        // A replica's first sync starts at once (Redis waits 5 s by default to gather replicas):
        // a replica that never synced cannot take over from its master.
        '--repl-diskless-sync-delay',
        '0',
      ],
      { stdio: 'ignore' },
    )
    children.set(port, child)
  }
  const stop = async (): Promise<void> => {
    await Promise.all(
      [...children.values()].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve()
            child.once('close', () => resolve())
            child.kill('SIGKILL')
          }),
      ),
    )
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (const port of ports) await waitFor(async () => (await run(cli, ['-p', String(port), 'PING'])).trim() === 'PONG', `node ${port} to answer`)
    await run(cli, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'])
    for (const port of ports) await waitFor(async () => (await run(cli, ['-p', String(port), 'CLUSTER', 'INFO'])).includes('cluster_state:ok'), `node ${port} to see the cluster ok`)
    // Every node sees 3 masters and 3 replicas, and every replica has synced with its master: a
    // failover test may kill a master right away.
    for (const port of ports) {
      await waitFor(async () => {
        const flags = (await run(cli, ['-p', String(port), 'CLUSTER', 'NODES']))
          .trim()
          .split('\n')
          .map((line) => line.split(' ')[2] ?? '')
        const replicas = flags.filter((f) => f.split(',').includes('slave')).length
        const masters = flags.filter((f) => f.split(',').includes('master')).length
        if (replicas !== 3 || masters !== 3) return false
        const info = await run(cli, ['-p', String(port), 'INFO', 'replication'])
        return info.includes('role:master') || info.includes('master_link_status:up')
      }, `node ${port} to see 3 masters and 3 synced replicas`)
    }
  } catch (error) {
    await stop()
    throw error
  }
  return {
    seeds: ports.slice(0, 3).map((p) => `127.0.0.1:${p}`),
    ports,
    kill(port) {
      children.get(port)?.kill('SIGKILL')
    },
    pause(port) {
      children.get(port)?.kill('SIGSTOP')
    },
    resume(port) {
      children.get(port)?.kill('SIGCONT')
    },
    stop,
  }
}

async function waitFor(ok: () => Promise<boolean>, what: string, ms = 20000): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      if (await ok()) return
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** A Redis Cluster for the test file: started before its tests, stopped after. */
export function clusterForThisFile(): { readonly seeds: string[]; readonly cluster: TestRedisCluster } {
  let cluster: TestRedisCluster | undefined
  beforeAll(async () => {
    cluster = await startRedisCluster()
  }, 60000)
  afterAll(async () => {
    await cluster?.stop()
  })
  const started = (): TestRedisCluster => {
    if (cluster === undefined) throw new Error('clusterForThisFile: read it inside a test')
    return cluster
  }
  return {
    get seeds() {
      return started().seeds
    },
    get cluster() {
      return started()
    },
  }
}
