// Failures reach the page (issue 10, problem 8) and restored own comments show as pending (problem 6).
import { TestScheduler } from 'rxjs/testing'
import { createLiveClient } from '../../src/connection/client'
import { createLiveRoom } from '../../src/stores/liveRoom'
import type { ClientFrame } from '../../src/protocol/frames'
import { FakePlatform, type FakeTask } from '../../src/testing'

const microtasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** A server that refuses buys and follows, as the reference server does for goods off the shelf. */
const refusing = (frame: ClientFrame, task: FakeTask): boolean => {
  if (frame.msg_type === 'buy') task.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: false, code: 4004, reason: 'goods not on the shelf' })
  else if (frame.msg_type === 'subscribe') task.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: false, code: 4029, reason: 'too many follows' })
  else return false
  return true
}

describe('store fields for failed commands', () => {
  it('records a refused buy per goods and rolls a refused follow back, with the reasons', async () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    const platform = new FakePlatform()
    platform.scripts = [{ reply: refusing }]
    const buying: unknown[] = []
    let client: ReturnType<typeof createLiveClient> | undefined
    let room: ReturnType<typeof createLiveRoom> | undefined
    scheduler.run(() => {
      client = createLiveClient({ url: 'ws://fake/ws', platform, token: 't', scheduler, outbox: { storageKey: false } })
      room = createLiveRoom(client, 'r1', { scheduler })
      const r = room
      scheduler.schedule(() => {
        r.shelfStore.buy('g1').catch(() => undefined)
        buying.push(r.shelfStore.buys.g1)
        r.roomStore.subscribe().catch(() => undefined)
        buying.push(r.roomStore.subscribed)
      }, 10)
      scheduler.schedule(() => r.dispose(), 1000)
      scheduler.flush()
    })
    await microtasks()
    if (room === undefined || client === undefined) throw new Error('not set up')
    // Optimistic first: pending, following.
    expect(buying).toEqual([{ status: 'pending' }, true])
    expect(room.shelfStore.buys.g1).toEqual({ status: 'failed', reason: 'goods not on the shelf' })
    expect(room.roomStore.subscribed).toBe(false)
    expect(room.roomStore.subscribeError).toBe('too many follows')
    client.close()
  })

  it("shows comments an earlier run left unacknowledged as this user's pending comments, then confirms them", async () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    const platform = new FakePlatform()
    const key = 'live-outbox:fake:u1'
    platform.setStorageSync(key, [{ command: { msg_type: 'message', msg_id: 'old-1', room_id: 'r1', content: 'sent before the restart' }, createdAt: 0 }])
    // The server acks the resent comment only later.
    let ackLater: (() => void) | undefined
    platform.scripts = [
      {
        reply: (frame, task) => {
          if (frame.msg_type !== 'message') return false
          ackLater = () => task.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: true, seq: 7 })
          return true
        },
      },
    ]
    let pending: unknown
    let client: ReturnType<typeof createLiveClient> | undefined
    let room: ReturnType<typeof createLiveRoom> | undefined
    scheduler.run(() => {
      client = createLiveClient({ url: 'ws://fake/ws', platform, token: 't', scheduler })
      room = createLiveRoom(client, 'r1', { scheduler })
      const r = room
      scheduler.schedule(() => (pending = r.commentStore.byId('old-1')), 100)
      scheduler.schedule(() => ackLater?.(), 200)
      scheduler.schedule(() => r.dispose(), 1000)
      scheduler.flush()
    })
    await microtasks()
    if (room === undefined || client === undefined) throw new Error('not set up')
    expect(pending).toMatchObject({ id: 'old-1', content: 'sent before the restart', status: 'pending', own: true, uid: 'u1' })
    expect(room.commentStore.byId('old-1')).toMatchObject({ status: 'sent', seq: 7 })
    expect(platform.getStorageSync(key)).toBeUndefined()
    client.close()
  })
})
