/**
 * `miniprogram-live-store/testing`: the test kit. `FakePlatform` is a scripted platform whose
 * sockets live on RxJS's clock, so a `TestScheduler.run()` drives connects, frames, acks and
 * closes in virtual time: marble-test your own pages and stores without a server or real timers.
 *
 * @example
 * const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
 * scheduler.run(() => {
 *   const platform = new FakePlatform()
 *   const client = createLiveClient({ url: 'ws://fake/ws', platform, token: 't', scheduler, outbox: { storageKey: false } })
 *   const room = createLiveRoom(client, 'r1', { scheduler })
 *   scheduler.schedule(() => platform.last.deliver({ msg_type: 'join', room_id: 'r1', seq: 1, user: { uid: 'u2', name: 'Bo' }, online_num: 2 }), 10)
 *   scheduler.flush()
 *   expect(room.roomStore.onlineNum).toBe(2)
 * })
 *
 * @example
 * // Moderation played by the fake server: a comment deleted, this user muted, a comment refused.
 * platform.last.deliver(messageDeletedEvent({ roomId: 'r1', seq: 2, targetMsgId: 'm1' }))
 * platform.last.deliver(mutedEvent({ roomId: 'r1', seq: 3, user: { uid: 'u1', name: 'U' }, until: 60000 }))
 * platform.scripts = [{ reply: (frame, task) => frame.msg_type === 'message' && (task.deliver(refusal(frame, 4030, { until: 60000 })), true) }]
 */
export { FakePlatform, FakeTask } from './fakePlatform'
export type { FakeServerScript } from './fakePlatform'
export { kickedEvent, messageDeletedEvent, messageEvent, mutedEvent, refusal } from './roomEvents'
