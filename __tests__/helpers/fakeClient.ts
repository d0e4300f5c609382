import type { TestScheduler } from 'rxjs/testing'
import { createLiveClient, type LiveClient, type LiveClientOptions } from '../../src/connection/client'
import { FakePlatform } from '../../src/testing'

/**
 * A client on the fake platform in virtual time: fixed jitter (`random` 1), backoff 100..800 ms,
 * memory-only outbox, closed at `endMs - 1` so heartbeats and retries stop (nothing runs past
 * `endMs`). `options` add to or replace these.
 */
export function fakeClient(scheduler: TestScheduler, endMs: number, options: Partial<LiveClientOptions> = {}, platform = new FakePlatform()): { platform: FakePlatform; client: LiveClient } {
  scheduler.maxFrames = endMs
  const client = createLiveClient({
    url: 'ws://fake/ws',
    platform,
    token: () => 'tok',
    scheduler,
    random: () => 1,
    backoff: { minMs: 100, maxMs: 800 },
    outbox: { storageKey: false },
    ...options,
  })
  scheduler.schedule(() => client.close(), endMs - 1)
  return { platform, client }
}
