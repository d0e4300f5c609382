import fc from 'fast-check'
import { reaction } from 'mobx-miniprogram'
import { TestScheduler } from 'rxjs/testing'
import { createLiveClient } from '../../src/connection/client'
import type { RoomEvent } from '../../src/protocol/frames'
import { createLiveRoom } from '../../src/stores/liveRoom'
import { FakePlatform, type FakeTask } from '../../src/testing'

const END_MS = 20000

function setup(scheduler: TestScheduler, roomOptions: Parameters<typeof createLiveRoom>[2] = {}, scripts?: FakePlatform['scripts']) {
  scheduler.maxFrames = END_MS
  const platform = new FakePlatform()
  if (scripts) platform.scripts = scripts
  const client = createLiveClient({
    url: 'ws://fake/ws',
    platform,
    token: 'tok',
    scheduler,
    random: () => 1,
    backoff: { minMs: 100, maxMs: 800 },
    heartbeatMs: 5000,
    pongTimeoutMs: 1000,
    outbox: { storageKey: false },
  })
  const room = createLiveRoom(client, 'r1', { scheduler, ...roomOptions })
  scheduler.schedule(() => {
    room.dispose()
    client.close()
  }, END_MS - 1)
  return { platform, client, room }
}

const newScheduler = (): TestScheduler => new TestScheduler((a, e) => expect(a).toEqual(e))

let seqCounter = 0
function message(seq: number, uid: string, content: string, msgId?: string): RoomEvent {
  return { msg_type: 'message', room_id: 'r1', seq, ts: seq, msg_id: msgId ?? `other-${seq}-${++seqCounter}`, from_uid: uid, from_name: `n-${uid}`, content }
}

function snapshot(seq: number, extra: Record<string, unknown> = {}) {
  return {
    msg_type: 'snapshot',
    room_id: 'r1',
    epoch: 'e1',
    seq,
    room: { title: 'Spring sale', status: 'live', anchor: { uid: 'boss', name: 'Boss' }, online_num: 3, like_num: 40, subscribe_num: 2 },
    message_list: seq > 0 ? [message(seq, 'x', 'from the snapshot')] : [],
    shelf: [{ goods_id: 'g1', goods_name: 'Tea', goods_price: 1999, default_image: 'https://i/t.png', status: 'on' }],
    ...extra,
  }
}

/** Answers joins with an ack and a snapshot at `head`, as a real server would. */
function joinWithSnapshot(head: number) {
  return (frame: { msg_type: string; msg_id?: string }, task: FakeTask): boolean => {
    if (frame.msg_type !== 'join') return false
    task.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: true, room_id: 'r1', epoch: 'e1', seq: head, recovered: false })
    task.deliver(snapshot(head))
    return true
  }
}

describe('createLiveRoom', () => {
  it('applies a snapshot as a replacement, then events on top, counts absolute', () => {
    const scheduler = newScheduler()
    scheduler.run(() => {
      const { platform, room } = setup(scheduler, {}, [{ reply: joinWithSnapshot(10) }])
      scheduler.schedule(() => {
        const t = platform.last
        t.deliver({ msg_type: 'like', room_id: 'r1', seq: 11, ts: 1, like_num: 55, delta: 15 })
        t.deliver({ msg_type: 'join', room_id: 'r1', seq: 12, ts: 1, user: { uid: 'v', name: 'V' }, online_num: 4 })
        t.deliver(message(13, 'v', 'hello'))
        t.deliver({ msg_type: 'like', room_id: 'r1', seq: 14, ts: 1, like_num: 52, delta: 0 })
        t.deliver({ msg_type: 'on_off_shelf', room_id: 'r1', seq: 15, ts: 1, goods_id: 'g2', goods_name: 'Cup', goods_price: 500, default_image: 'https://i/c.png', status: 'on' })
        t.deliver({ msg_type: 'room_state', room_id: 'r1', seq: 16, ts: 1, status: 'ended', title: 'Over' })
      }, 100)
      scheduler.schedule(() => {
        const { roomStore, commentStore, shelfStore } = room
        expect(roomStore).toMatchObject({ title: 'Over', status: 'ended', onlineNum: 4, likeNum: 52, subscribeNum: 2, seq: 16, epoch: 'e1', joined: true })
        expect(roomStore.anchor).toEqual({ uid: 'boss', name: 'Boss' })
        expect(commentStore.comments.map((c) => c.content)).toEqual(['from the snapshot', 'hello'])
        expect(shelfStore.goods.map((g) => g.goods_id)).toEqual(['g1', 'g2'])
        expect(shelfStore.current?.goods_id).toBe('g2')
        expect(shelfStore.byId('g1')?.goods_price).toBe(1999)
      }, 200)
    })
  })

  it('applies a burst of 500 frames in one MobX action', () => {
    const scheduler = newScheduler()
    scheduler.run(() => {
      const { platform, room } = setup(scheduler)
      let reactions = 0
      reaction(
        () => [room.roomStore.likeNum, room.commentStore.comments, room.roomStore.onlineNum],
        () => reactions++,
      )
      scheduler.schedule(() => {
        const t = platform.last
        for (let i = 1; i <= 500; i++) {
          t.deliver(i % 2 ? { msg_type: 'like', room_id: 'r1', seq: i, ts: i, like_num: i, delta: 1 } : message(i, 'x', `m${i}`))
        }
      }, 100)
      scheduler.schedule(() => {
        // One flush for the join and snapshot at t=1, one for the burst.
        expect(room.flushes).toBe(2)
        expect(reactions).toBe(2)
        expect(room.roomStore.likeNum).toBe(499)
        expect(room.roomStore.seq).toBe(500)
      }, 200)
    })
  })

  it('never drops purchases, shelf changes, room state or own comments; thins other comments to 20 a second, keeping the newest', () => {
    const scheduler = newScheduler()
    let lateHead = 0
    scheduler.run(() => {
      const { platform, room } = setup(scheduler)
      scheduler.schedule(() => {
        const t = platform.last
        let seq = 0
        for (let i = 0; i < 500; i++) {
          t.deliver(message(++seq, `x${i % 7}`, `busy ${i}`))
          if (i % 100 === 50) {
            t.deliver({ msg_type: 'buy', room_id: 'r1', seq: ++seq, ts: 1, user: { uid: `b${i}`, name: 'B' }, goods_id: 'g1', goods_name: 'Tea' })
            t.deliver({ msg_type: 'join', room_id: 'r1', seq: ++seq, ts: 1, user: { uid: `j${i}`, name: 'J' }, online_num: 100 + i })
          }
          // The user's own comment (token user u1), sent from another device.
          if (i === 250) t.deliver(message(++seq, 'u1', 'my own'))
        }
        t.deliver({ msg_type: 'on_off_shelf', room_id: 'r1', seq: ++seq, ts: 1, goods_id: 'g9', goods_name: 'Hat', goods_price: 900, default_image: 'https://i/h.png', status: 'on' })
        t.deliver({ msg_type: 'room_state', room_id: 'r1', seq: seq + 1, ts: 1, status: 'live', title: 'Hot' })
      }, 100)
      scheduler.schedule(() => {
        const { commentStore, roomStore, shelfStore } = room
        const shownOthers = commentStore.comments.filter((c) => !c.own)
        expect(shownOthers).toHaveLength(20)
        // The newest of the burst, not its first twenty: the last comment said is on screen.
        expect(shownOthers.map((c) => c.content)).toEqual(Array.from({ length: 20 }, (_, i) => `busy ${480 + i}`))
        expect(commentStore.comments.filter((c) => c.own).map((c) => c.content)).toEqual(['my own'])
        expect(commentStore.stats).toEqual({ received: 501, shown: 21, dropped: 480, deleted: 0 })
        expect(roomStore.notices.filter((n) => n.kind === 'buy')).toHaveLength(5)
        // Joins fold into the count: one notice for the five joins of this flush.
        expect(roomStore.notices.filter((n) => n.kind === 'join')).toHaveLength(1)
        expect(roomStore.onlineNum).toBe(550)
        expect(shelfStore.byId('g9')).toBeDefined()
        expect(roomStore.title).toBe('Hot')
      }, 200)
      // A second later the bucket has refilled: 20 more get through.
      scheduler.schedule(() => {
        const t = platform.last
        const head = room.roomStore.seq
        lateHead = head
        for (let i = 1; i <= 100; i++) t.deliver(message(head + i, 'late', `later ${i}`))
      }, 1300)
      scheduler.schedule(() => {
        const late = room.commentStore.comments.filter((c) => c.uid === 'late')
        expect(late).toHaveLength(20)
        expect(late[late.length - 1].content).toBe('later 100')
        // The 80 let go before the flush are counted, and the room's seq is the burst's last.
        expect(room.commentStore.stats).toEqual({ received: 601, shown: 41, dropped: 560, deleted: 0 })
        expect(room.roomStore.seq).toBe(lateHead + 100)
      }, 1400)
    })
  })

  it('shows an own comment at once as pending and confirms it exactly once from the broadcast', () => {
    const scheduler = newScheduler()
    scheduler.run(() => {
      const { room, client } = setup(scheduler, {}, [
        {
          reply: (frame, task) => {
            if (frame.msg_type !== 'message') return false
            // Broadcast first (with the sender's msg_id), then the ack, as the server does.
            task.deliver(message(1, 'u1', frame.content, frame.msg_id))
            task.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: true, room_id: 'r1', seq: 1 })
            return true
          },
        },
      ])
      let sent: ReturnType<typeof room.commentStore.send> | undefined
      scheduler.schedule(() => {
        expect(client.user?.uid).toBe('u1')
        sent = room.commentStore.send('  hello\u0000 ')
        expect(sent).toEqual({ ok: true, id: expect.any(String) })
        expect(room.commentStore.comments).toEqual([expect.objectContaining({ content: 'hello', status: 'pending', own: true })])
      }, 60)
      scheduler.schedule(() => {
        expect(room.commentStore.comments).toEqual([expect.objectContaining({ id: sent && sent.ok ? sent.id : '', status: 'sent', seq: 1, own: true })])
        expect(room.commentStore.send('   ')).toEqual({ ok: false, reason: 'content is empty' })
        expect(room.commentStore.send('x'.repeat(201))).toEqual({ ok: false, reason: expect.stringMatching(/longer than 200/) })
        expect(room.commentStore.comments).toHaveLength(1)
      }, 200)
    })
  })

  it('marks an own comment failed, with the reason, when the server refuses it', () => {
    const scheduler = newScheduler()
    scheduler.run(() => {
      const { room } = setup(scheduler, {}, [
        {
          reply: (frame, task) => {
            if (frame.msg_type !== 'message') return false
            task.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: false, code: 4029, reason: 'too many messages' })
            return true
          },
        },
      ])
      scheduler.schedule(() => room.commentStore.send('spam'), 60)
      scheduler.schedule(() => {
        expect(room.commentStore.comments).toEqual([expect.objectContaining({ status: 'failed', reason: 'too many messages' })])
      }, 200)
    })
  })

  it('reconciles an own comment once when the link died before the ack: resent after reconnect, broadcast recovered', () => {
    const scheduler = newScheduler()
    scheduler.run(() => {
      const applied = new Set<string>()
      // First link: the server applies and broadcasts the comment, but the link dies before the client sees it.
      const { platform, room, client } = setup(scheduler, {}, [
        {
          reply: (frame, task) => {
            if (frame.msg_type !== 'message') return false
            applied.add(frame.msg_id)
            scheduler.schedule(() => task.serverClose(1006, 'lost'), 0)
            return true
          },
        },
        {
          reply: (frame, task) => {
            if (frame.msg_type === 'join') {
              // Recovery: the comment the client missed, with its msg_id.
              task.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: true, room_id: 'r1', epoch: 'e1', seq: 1, recovered: true })
              const [id] = [...applied]
              task.deliver(message(1, 'u1', 'hello', id))
              return true
            }
            if (frame.msg_type === 'message') {
              // The resend: already applied, so a dup ack and no second broadcast.
              task.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: true, dup: true, room_id: 'r1', seq: 1 })
              return true
            }
            return false
          },
        },
      ])
      scheduler.schedule(() => room.commentStore.send('hello'), 60)
      scheduler.schedule(() => {
        expect(platform.tasks).toHaveLength(2)
        const resent = platform.tasks[1].sent.filter((f) => f.msg_type === 'message')
        expect(resent).toHaveLength(1)
        expect(applied.has((resent[0] as { msg_id: string }).msg_id)).toBe(true)
        expect(room.commentStore.comments).toEqual([expect.objectContaining({ content: 'hello', status: 'sent', seq: 1, own: true })])
        expect(client.stats.reconnects).toBe(1)
      }, 400)
    })
  })

  it('merges like taps into at most one like command per second, showing them at once', () => {
    const scheduler = newScheduler()
    scheduler.run(() => {
      const { platform, room } = setup(scheduler)
      const likesSent: Array<[number, number]> = []
      platform.sent$.subscribe((f) => f.msg_type === 'like' && likesSent.push([scheduler.now(), f.count]))
      scheduler.schedule(() => {
        for (let i = 0; i < 5; i++) room.roomStore.like()
        expect(room.roomStore.likeNum).toBe(5)
      }, 100)
      scheduler.schedule(() => room.roomStore.like(3), 400)
      scheduler.schedule(() => room.roomStore.like(), 900)
      scheduler.schedule(() => room.roomStore.like(), 2500)
      scheduler.schedule(
        () =>
          expect(likesSent).toEqual([
            [100, 5],
            [1100, 4],
            [2500, 1],
          ]),
        3000,
      )
    })
  })

  it('keeps its invariants under any sequence of room updates (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('message' as const), uid: fc.constantFrom('u1', 'a', 'b'), dup: fc.boolean() }),
            fc.record({ kind: fc.constant('like' as const), n: fc.nat(1000) }),
            fc.record({ kind: fc.constant('join' as const), n: fc.nat(500) }),
            fc.record({ kind: fc.constant('shelf' as const), id: fc.constantFrom('g1', 'g2', 'g3'), on: fc.boolean() }),
            fc.record({ kind: fc.constant('snapshot' as const) }),
            fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 200 }) }),
          ),
          { maxLength: 80 },
        ),
        (steps) => {
          const scheduler = newScheduler()
          scheduler.run(() => {
            const { platform, room } = setup(scheduler, { commentLimit: 10, flushMs: 20 }, [{ reply: joinWithSnapshot(0) }])
            let seq = 0
            let t = 10
            const lastOnline: number[] = []
            const lastLikes: number[] = []
            const shelf = new Map<string, boolean>([['g1', true]])
            for (const step of steps) {
              const at = t
              if (step.kind === 'wait') {
                t += step.ms
                continue
              }
              scheduler.schedule(() => {
                const task = platform.last
                switch (step.kind) {
                  case 'message': {
                    const s = ++seq
                    task.deliver(message(s, step.uid, `c${s}`))
                    if (step.dup) task.deliver(message(s, step.uid, `c${s}`))
                    break
                  }
                  case 'like':
                    task.deliver({ msg_type: 'like', room_id: 'r1', seq: ++seq, ts: 1, like_num: step.n })
                    lastLikes.push(step.n)
                    break
                  case 'join':
                    task.deliver({ msg_type: 'join', room_id: 'r1', seq: ++seq, ts: 1, user: { uid: 'j', name: 'J' }, online_num: step.n })
                    lastOnline.push(step.n)
                    break
                  case 'shelf':
                    task.deliver({
                      msg_type: 'on_off_shelf',
                      room_id: 'r1',
                      seq: ++seq,
                      ts: 1,
                      goods_id: step.id,
                      goods_name: step.id,
                      goods_price: 1,
                      default_image: 'https://i/x',
                      status: step.on ? 'on' : 'off',
                    })
                    shelf.set(step.id, step.on)
                    break
                  case 'snapshot':
                    // A rejoin after a gap would bring one; here the server just sends it.
                    task.deliver(snapshot(seq))
                    shelf.clear()
                    shelf.set('g1', true)
                    lastOnline.push(3)
                    lastLikes.push(40)
                    break
                }
              }, at)
              t += 1
            }
            scheduler.schedule(() => {
              const { roomStore, commentStore, shelfStore } = room
              expect(commentStore.comments.length).toBeLessThanOrEqual(10)
              const ids = commentStore.comments.map((c) => c.id)
              expect(new Set(ids).size).toBe(ids.length)
              const seqs = commentStore.comments.map((c) => c.seq ?? 0)
              expect([...seqs].sort((a, b) => a - b)).toEqual(seqs)
              expect(roomStore.onlineNum).toBe(lastOnline.length ? lastOnline[lastOnline.length - 1] : 3)
              expect(roomStore.likeNum).toBe(lastLikes.length ? lastLikes[lastLikes.length - 1] : 40)
              expect(roomStore.seq).toBe(seq)
              expect(shelfStore.goods.map((g) => g.goods_id).sort()).toEqual(
                [...shelf.entries()]
                  .filter(([, on]) => on)
                  .map(([id]) => id)
                  .sort(),
              )
              const { received, shown, dropped } = commentStore.stats
              expect(received).toBeGreaterThanOrEqual(shown + dropped)
            }, t + 100)
          })
        },
      ),
      { numRuns: 150 },
    )
  })
})
