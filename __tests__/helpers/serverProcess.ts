/** The reference server as a process of its own (the CLI), for tests that kill processes. */
import { type ChildProcess, spawn } from 'child_process'
import * as path from 'path'

export interface ServerProcess {
  readonly url: string
  readonly port: number
  readonly process: ChildProcess
  /** What the process printed so far (stdout and stderr). */
  readonly output: () => string
  kill(signal: NodeJS.Signals): Promise<void>
}

const ROOT = path.resolve(__dirname, '../..')

/** `env`: variables to set for the process, or (undefined) to remove from it. */
export async function startServerProcess(args: string[], env: Record<string, string | undefined> = {}): Promise<ServerProcess> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json') }
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[name]
    else childEnv[name] = value
  }
  const child = spawn(process.execPath, ['-r', path.join(ROOT, 'scripts/dev-source.js'), path.join(ROOT, 'server/cli.ts'), '--port', '0', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: childEnv,
  })
  let output = ''
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server process did not start within 20 s:\n${output}`)), 20000)
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      const match = /listening on (ws:\/\/\S+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(match[1])
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`server process exited with ${code}:\n${output}`))
    })
  })
  return {
    url,
    port: Number(new URL(url).port),
    process: child,
    output: () => output,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      await exited
    },
  }
}
