import fc from 'fast-check'
import { MemoryEngine } from '../../server/engine/memory'
import type { RoomAction } from '../../server/room'
import type { RoomEvent } from '../../src/protocol/frames'

const users = ['u1', 'u2', 'u3'].map((uid) => ({ uid, name: `n${uid}` }))
const goodsIds = ['g1', 'g2', 'g3']

const action: fc.Arbitrary<RoomAction> = fc.oneof(
  fc.record({ type: fc.constant('join' as const), connId: fc.constantFrom('c1', 'c2', 'c3', 'c4'), user: fc.constantFrom(...users) }),
  fc.record({ type: fc.constant('leave' as const), connId: fc.constantFrom('c1', 'c2', 'c3', 'c4'), user: fc.constantFrom(...users) }),
  fc.record({ type: fc.constant('message' as const), msgId: fc.string({ minLength: 1, maxLength: 8 }), user: fc.constantFrom(...users), content: fc.string({ minLength: 1, maxLength: 20 }) }),
  fc.record({ type: fc.constant('like' as const), delta: fc.integer({ min: 1, max: 100 }) }),
  fc.record({ type: fc.constant('subscribe' as const), user: fc.constantFrom(...users) }),
  fc.record({ type: fc.constant('buy' as const), user: fc.constantFrom(...users), goodsId: fc.constantFrom(...goodsIds) }),
  fc.record({
    type: fc.constant('shelf' as const),
    item: fc.record({
      goods_id: fc.constantFrom(...goodsIds),
      goods_name: fc.constantFrom('Tea', 'Cup'),
      goods_price: fc.integer({ min: 0, max: 100000 }),
      default_image: fc.constant('https://img/x.png'),
      status: fc.constantFrom('on' as const, 'off' as const),
    }),
  }),
  fc.record({ type: fc.constant('room_state' as const), status: fc.constantFrom('live' as const, 'ended' as const), title: fc.string({ maxLength: 10 }) }),
)

describe('room state under any sequence of actions (property)', () => {
  it("keeps seq contiguous, every count exactly the model's, and the shelf consistent with buys", async () => {
    let longest = 0
    await fc.assert(
      fc.asyncProperty(fc.array(action, { maxLength: 150, size: 'max' }), async (actions) => {
        const engine = new MemoryEngine({ history: 50 })
        const seen: RoomEvent[] = []
        engine.subscribe('r', (e, data) => {
          seen.push(e)
          expect(JSON.parse(data)).toEqual(e)
        })
        // Connections in the room, and the user on each: online_num counts users.
        const members = new Map<string, string>()
        const online = (): number => new Set(members.values()).size
        const followers = new Set<string>()
        const shelf = new Map<string, string>()
        let likes = 0
        for (const a of actions) {
          const before = seen.length
          const result = await engine.apply('r', a)
          // A model of the rules, kept by the test, says what must happen.
          switch (a.type) {
            case 'join':
              if (!members.has(a.connId)) members.set(a.connId, a.user.uid)
              break
            case 'leave':
              members.delete(a.connId)
              break
            case 'like':
              likes += a.delta
              break
            case 'subscribe':
              followers.add(a.user.uid)
              break
            case 'buy':
              expect(result.ok).toBe(shelf.has(a.goodsId))
              if (result.ok === false) expect(result.code).toBe(4004)
              break
            case 'shelf':
              if (a.item.status === 'on') shelf.set(a.item.goods_id, a.item.goods_name)
              else {
                expect(result.ok).toBe(shelf.has(a.item.goods_id))
                shelf.delete(a.item.goods_id)
              }
              break
          }
          // Every count an event carries is the model's count after the action, exactly.
          for (const e of seen.slice(before)) {
            if ('online_num' in e) expect(e.online_num).toBe(online())
            if ('like_num' in e) expect(e.like_num).toBe(likes)
            if ('subscribe_num' in e) expect(e.subscribe_num).toBe(followers.size)
          }
        }
        longest = Math.max(longest, seen.length)
        expect(seen.map((e) => e.seq)).toEqual(seen.map((_, i) => i + 1))
        const snapshot = await engine.snapshot('r')
        expect(snapshot.seq).toBe(seen.length)
        expect(snapshot.room.online_num).toBe(online())
        expect(snapshot.room.like_num).toBe(likes)
        expect(snapshot.room.subscribe_num).toBe(followers.size)
        expect(snapshot.shelf.map((g) => g.goods_id).sort()).toEqual([...shelf.keys()].sort())
        expect(snapshot.message_list.length).toBeLessThanOrEqual(50)
        // Recovery from any point still in the history gives exactly the events after it.
        const from = Math.max(0, seen.length - 50)
        const recovery = await engine.recover('r', from, engine.epoch)
        expect(recovery?.events.map((e) => e.seq)).toEqual(seen.slice(from).map((e) => e.seq))
        // One event further back than the history holds: no recovery, a snapshot instead.
        if (seen.length > 50) expect(await engine.recover('r', seen.length - 51, engine.epoch)).toBeNull()
        await engine.close()
      }),
      { numRuns: 300 },
    )
    // The runs went past the history window, so the recovery bounds were exercised.
    expect(longest).toBeGreaterThan(50)
  })
})
