// The README's test-kit example, as a user writes it: by package name.
import { TestScheduler } from 'rxjs/testing'
import { createLiveClient, createLiveRoom } from 'miniprogram-live-store'
import { FakePlatform } from 'miniprogram-live-store/testing'

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
})
