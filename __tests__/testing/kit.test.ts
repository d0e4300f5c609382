// The README's test-kit example, as a user writes it: by package name.
import { TestScheduler } from 'rxjs/testing'
import { createLiveClient, createLiveRoom } from 'miniprogram-live-store'
import { FakePlatform, messageDeletedEvent, messageEvent, mutedEvent, refusal } from 'miniprogram-live-store/testing'

describe('miniprogram-live-store/testing', () => {
  it('counts a viewer who joins (the README example)', () => {
    const seen: number[] = []
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    scheduler.run(() => {
      const platform = new FakePlatform()
      const client = createLiveClient({ url: 'ws://test/ws', platform, token: 't', scheduler, outbox: { storageKey: false } })
      const room = createLiveRoom(client, 'r1', { scheduler })
      scheduler.schedule(() => platform.last.deliver({ msg_type: 'join', room_id: 'r1', seq: 1, user: { uid: 'u2', name: 'Bo' }, online_num: 2 }), 100)
      scheduler.schedule(() => seen.push(room.roomStore.onlineNum), 200)
      scheduler.schedule(() => client.close(), 300)
      scheduler.flush()
      expect(platform.tasks).toHaveLength(1)
    })
    expect(seen).toEqual([2])
  })

  it('plays moderation: a comment deleted, this user muted, a comment refused with 4030 (the kit example)', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    const seen: unknown[] = []
    scheduler.run(() => {
      const platform = new FakePlatform()
      platform.scripts = [{ reply: (frame, task) => frame.msg_type === 'message' && (task.deliver(refusal(frame, 4030, { reason: 'you are muted', until: 60000 })), true) }]
      const client = createLiveClient({ url: 'ws://test/ws', platform, token: 't', scheduler, outbox: { storageKey: false } })
      const room = createLiveRoom(client, 'r1', { scheduler })
      scheduler.schedule(() => platform.last.deliver(messageEvent({ roomId: 'r1', seq: 1, msgId: 'm1', from: { uid: 'bo', name: 'Bo' }, content: 'spam' })), 100)
      scheduler.schedule(() => seen.push(room.commentStore.comments.map((c) => c.id)), 200)
      scheduler.schedule(() => platform.last.deliver(messageDeletedEvent({ roomId: 'r1', seq: 2, targetMsgId: 'm1' })), 300)
      scheduler.schedule(() => platform.last.deliver(mutedEvent({ roomId: 'r1', seq: 3, user: { uid: 'u1', name: 'U' }, until: 60000 })), 300)
      scheduler.schedule(() => room.commentStore.send('still here?'), 400)
      scheduler.schedule(() => {
        seen.push(room.commentStore.comments.map((c) => [c.content, c.status, c.reason]))
        seen.push(room.roomStore.mutedUntil)
      }, 500)
      scheduler.schedule(() => seen.push(room.roomStore.mutedUntil), 60001)
      scheduler.schedule(() => client.close(), 60002)
      scheduler.flush()
    })
    expect(seen).toEqual([['m1'], [['still here?', 'failed', 'you are muted']], 60000, 0])
  })
})
