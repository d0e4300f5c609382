// Moderation as the stores see it: played by the test kit's fake server in virtual time.
import { TestScheduler } from 'rxjs/testing'
import { createLiveClient } from '../../src/connection/client'
import type { ClientFrame } from '../../src/protocol/frames'
import { createLiveRoom } from '../../src/stores/liveRoom'
import { FakePlatform, type FakeServerScript, kickedEvent, messageDeletedEvent, messageEvent, mutedEvent, refusal } from '../../src/testing'

const END_MS = 200000
const ME = { uid: 'u1', name: 'U' }
const BO = { uid: 'bo', name: 'Bo' }

function setup(scheduler: TestScheduler, script: FakeServerScript = {}) {
  scheduler.maxFrames = END_MS
  const platform = new FakePlatform()
  platform.scripts = [script]
  const client = createLiveClient({ url: 'ws://fake/ws', platform, token: 'tok', scheduler, random: () => 1, heartbeatMs: 50000, outbox: { storageKey: false } })
  const room = createLiveRoom(client, 'r1', { scheduler })
  scheduler.schedule(() => {
    room.dispose()
    client.close()
  }, END_MS - 1)
  return { platform, client, room }
}

const microtasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
const newScheduler = (): TestScheduler => new TestScheduler((a, e) => expect(a).toEqual(e))

describe('moderation in the stores', () => {
  it("takes the server's masked text for an own comment from its echo, also when the ack came first", () => {
    const scheduler = newScheduler()
    scheduler.run(() => {
      const { room } = setup(scheduler, {
        reply: (frame, task) => {
          if (frame.msg_type !== 'message') return false
          // Ack first (with the seq), then the broadcast with the word masked.
          task.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: true, room_id: 'r1', seq: 1 })
          scheduler.schedule(() => task.deliver(messageEvent({ roomId: 'r1', seq: 1, msgId: frame.msg_id, from: ME, content: frame.content.replace('darn', '****') })), 5)
          return true
        },
      })
      scheduler.schedule(() => room.commentStore.send('oh darn it'), 60)
      scheduler.schedule(() => {
        expect(room.commentStore.comments).toEqual([expect.objectContaining({ content: 'oh **** it', status: 'sent', seq: 1, own: true })])
        expect(room.commentStore.stats.shown).toBe(0)
      }, 300)
    })
  })

  it('removes a deleted comment from commentStore (once; an unknown id changes nothing)', () => {
    const scheduler = newScheduler()
    scheduler.run(() => {
      const { platform, room } = setup(scheduler)
      scheduler.schedule(() => {
        platform.last.deliver(messageEvent({ roomId: 'r1', seq: 1, msgId: 'm1', from: BO, content: 'spam' }))
        platform.last.deliver(messageEvent({ roomId: 'r1', seq: 2, msgId: 'm2', from: BO, content: 'fine' }))
      }, 60)
      scheduler.schedule(() => {
        expect(room.commentStore.comments.map((c) => c.id)).toEqual(['m1', 'm2'])
        platform.last.deliver(messageDeletedEvent({ roomId: 'r1', seq: 3, targetMsgId: 'm1' }))
        platform.last.deliver(messageDeletedEvent({ roomId: 'r1', seq: 4, targetMsgId: 'never-seen' }))
      }, 200)
      scheduler.schedule(() => {
        expect(room.commentStore.comments.map((c) => c.id)).toEqual(['m2'])
        expect(room.commentStore.byId('m1')).toBeUndefined()
        expect(room.commentStore.stats).toEqual({ received: 2, shown: 2, dropped: 0, deleted: 1 })
        expect(room.roomStore.seq).toBe(4)
      }, 400)
    })
  })

  it('knows when this user is muted (event or 4030 refusal), marks the refused comment with why, and lifts the mute when its time passes', () => {
    const scheduler = newScheduler()
    scheduler.run(() => {
      const { platform, room } = setup(scheduler, {
        reply: (frame, task) => {
          if (frame.msg_type !== 'message') return false
          task.deliver(refusal(frame, 4030, { reason: 'you are muted in this room', until: 90000 }))
          return true
        },
      })
      const seen: number[] = []
      scheduler.schedule(() => platform.last.deliver(mutedEvent({ roomId: 'r1', seq: 1, user: BO, until: 50000 })), 60)
      scheduler.schedule(() => seen.push(room.roomStore.mutedUntil), 200)
      scheduler.schedule(() => platform.last.deliver(mutedEvent({ roomId: 'r1', seq: 2, user: ME, until: 50000 })), 300)
      scheduler.schedule(() => seen.push(room.roomStore.mutedUntil), 400)
      // A longer mute, learnt from a refusal: the comment says why.
      scheduler.schedule(() => room.commentStore.send('hello?'), 1000)
      scheduler.schedule(() => {
        seen.push(room.roomStore.mutedUntil)
        expect(room.commentStore.comments).toEqual([expect.objectContaining({ status: 'failed', reason: 'you are muted in this room' })])
      }, 1200)
      scheduler.schedule(() => seen.push(room.roomStore.mutedUntil), 89999)
      scheduler.schedule(() => seen.push(room.roomStore.mutedUntil), 90001)
      // Lifted by the anchor: 0 at once.
      scheduler.schedule(() => platform.last.deliver(mutedEvent({ roomId: 'r1', seq: 3, user: ME, until: 150000 })), 100000)
      scheduler.schedule(() => seen.push(room.roomStore.mutedUntil), 100100)
      scheduler.schedule(() => platform.last.deliver(mutedEvent({ roomId: 'r1', seq: 4, user: ME, until: 0 })), 100200)
      scheduler.schedule(() => seen.push(room.roomStore.mutedUntil), 100300)
      scheduler.flush()
      expect(seen).toEqual([0, 50000, 90000, 90000, 0, 150000, 0])
    })
  })

  it('knows when this user was kicked: out of the room, joins refused until then (4031), no longer kicked when the time passes', () => {
    const scheduler = newScheduler()
    scheduler.run(() => {
      let refuseJoins = false
      const { platform, room } = setup(scheduler, {
        reply: (frame, task) => {
          if (frame.msg_type !== 'join' || !refuseJoins) return false
          task.deliver(refusal(frame, 4031, { reason: 'you were put out of this room', until: 80000 }))
          return true
        },
      })
      scheduler.schedule(() => expect(room.roomStore.joined).toBe(true), 100)
      scheduler.schedule(() => platform.last.deliver(kickedEvent({ roomId: 'r1', seq: 1, user: BO, until: 70000 })), 150)
      scheduler.schedule(() => {
        expect(room.roomStore.joined).toBe(true)
        expect(room.roomStore.kickedUntil).toBe(0)
        platform.last.deliver(kickedEvent({ roomId: 'r1', seq: 2, user: ME, until: 70000 }))
      }, 300)
      scheduler.schedule(() => {
        expect(room.roomStore.joined).toBe(false)
        expect(room.roomStore.kickedUntil).toBe(70000)
        // The link comes back: the rejoin is refused with the server's until.
        refuseJoins = true
        platform.last.serverClose(1006, 'lost')
      }, 500)
      scheduler.schedule(() => {
        expect(room.roomStore.error).toEqual({ code: 4031, reason: 'you were put out of this room' })
        expect(room.roomStore.kickedUntil).toBe(80000)
      }, 5000)
      scheduler.schedule(() => expect(room.roomStore.kickedUntil).toBe(80000), 79999)
      scheduler.schedule(() => expect(room.roomStore.kickedUntil).toBe(0), 80001)
    })
  })

  it("sends delete_message, mute and kick from moderationStore and keeps each one's course by target; a refusal says why", async () => {
    const scheduler = newScheduler()
    const sent: ClientFrame[] = []
    const pending: unknown[] = []
    let room: ReturnType<typeof createLiveRoom> | undefined
    scheduler.run(() => {
      const set = setup(scheduler, {
        reply: (frame, task) => {
          if (frame.msg_type !== 'delete_message' && frame.msg_type !== 'mute' && frame.msg_type !== 'kick') return false
          sent.push(frame)
          if (frame.msg_type === 'kick') task.deliver(refusal(frame, 4003, { reason: 'only the anchor of this room or an admin may do that' }))
          else task.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: true, room_id: 'r1', seq: sent.length })
          return true
        },
      })
      room = set.room
      const mod = set.room.moderationStore
      scheduler.schedule(() => set.platform.last.deliver(messageEvent({ roomId: 'r1', seq: 1, msgId: 'm1', from: BO, content: 'spam' })), 60)
      scheduler.schedule(() => {
        mod.deleteComment('m1').catch(() => undefined)
        mod.mute('bo', 600).catch(() => undefined)
        mod.kick('bo', 3600).catch(() => undefined)
        pending.push(mod.deletes, mod.mutes, mod.kicks)
      }, 200)
      scheduler.flush()
    })
    await microtasks()
    if (room === undefined) throw new Error('not set up')
    const mod = room.moderationStore
    expect(pending).toEqual([{ m1: { status: 'pending' } }, { bo: { status: 'pending' } }, { bo: { status: 'pending' } }])
    expect(mod.deletes).toEqual({ m1: { status: 'done' } })
    expect(mod.mutes).toEqual({ bo: { status: 'done' } })
    expect(mod.kicks).toEqual({ bo: { status: 'failed', reason: 'only the anchor of this room or an admin may do that' } })
    expect(mod.error).toBe('only the anchor of this room or an admin may do that')
    expect(sent.map((f) => ({ ...f, msg_id: undefined }))).toEqual([
      { msg_type: 'delete_message', msg_id: undefined, room_id: 'r1', target_msg_id: 'm1' },
      { msg_type: 'mute', msg_id: undefined, room_id: 'r1', uid: 'bo', duration_s: 600 },
      { msg_type: 'kick', msg_id: undefined, room_id: 'r1', uid: 'bo', duration_s: 3600 },
    ])
    // The next action clears the banner while it is under way.
    mod.unmute('bo').catch(() => undefined)
    expect(mod.mutes).toEqual({ bo: { status: 'pending' } })
    expect(mod.error).toBe('')
  })

  it('refuses what the server could never take, before sending it', () => {
    const scheduler = newScheduler()
    scheduler.run(() => {
      const { room, platform } = setup(scheduler)
      const mod = room.moderationStore
      scheduler.schedule(() => {
        expect(() => mod.deleteComment('seq:3:bo:3')).toThrow(/seq:3:bo:3 is not a comment on the server/)
        expect(() => mod.deleteComment('')).toThrow(TypeError)
        expect(() => mod.mute('bo', 0)).toThrow(/seconds from 1 to 2592000/)
        expect(() => mod.mute('bo', 1.5)).toThrow(TypeError)
        expect(() => mod.kick('bo', 2_592_001)).toThrow(/seconds from 1 to 2592000/)
        expect(() => mod.kick('', 60)).toThrow(/kick: uid must be a non-empty string/)
        // A pending own comment has no place on the server yet.
        const own = room.commentStore.send('mine')
        expect(() => mod.deleteComment(own.ok ? own.id : '')).toThrow(/is not a comment on the server/)
      }, 100)
      scheduler.schedule(() => {
        const commands = platform.last.sent.filter((f) => f.msg_type === 'delete_message' || f.msg_type === 'mute' || f.msg_type === 'kick')
        expect(commands).toEqual([])
      }, 200)
    })
  })
})
