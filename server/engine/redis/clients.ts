import Redis, { type RedisOptions } from 'ioredis'
import { EngineUnavailableError } from '../types'

/**
 * The engine's two connections: `cmd` for commands and scripts, `sub` for its subscriptions.
 * `cmd` fails fast while Redis is away (no offline queue, one retry, `commandTimeoutMs`): the
 * socket layer refuses, the client retries. `sub` may queue its SUBSCRIBEs until it is
 * connected, and has no command timeout (SUBSCRIBE waits for its connection by design).
 */
export function createClients(target: string | RedisOptions, commandTimeoutMs: number): { cmd: Redis; sub: Redis } {
  const base: RedisOptions = {
    enableOfflineQueue: false,
    commandTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    lazyConnect: true,
  }
  const subscriber: RedisOptions = { ...base, enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined }
  const make = (options: RedisOptions): Redis => (typeof target === 'string' ? new Redis(target, options) : new Redis({ ...target, ...options }))
  return { cmd: make(base), sub: make(subscriber) }
}

/** `target` as a log line names it. */
export const describeTarget = (target: string | RedisOptions): string => (typeof target === 'string' ? target : `${target.host ?? '127.0.0.1'}:${target.port ?? 6379}`)

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error instanceof Error ? error : new Error(String(error)))
      },
    )
  })
}

/** Turns connection failures into `EngineUnavailableError` (counted by `onStoreError`); script errors stay what they are. */
export async function guarded<T>(call: Promise<T>, onStoreError: () => void): Promise<T> {
  try {
    return await call
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    if (/ERR |WRONGTYPE|NOSCRIPT|unknown op/.test(message)) throw error
    onStoreError()
    throw new EngineUnavailableError(`Redis unreachable (${message})`)
  }
}
