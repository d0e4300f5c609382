import { TestScheduler } from 'rxjs/testing'
import { SetDataBatcher } from '../../src/bindings/setDataBatcher'
import { SetDataBudget } from '../../src/bindings/setDataBudget'
import { maxInWindow } from '../helpers/slidingWindow'

describe('SetDataBudget: one budget for a page and its components', () => {
  it('keeps a page and two components that change every 10 ms to 20 calls in any sliding second, serves each, and sends their last values', () => {
    const sent: Array<{ at: number; who: string; data: Record<string, unknown> }> = []
    let total = { calls: 0, bytes: 0, largest: 0 }
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    scheduler.run(() => {
      const budget = new SetDataBudget(20, 1000, scheduler)
      const members = ['page', 'child-a', 'child-b'].map((who) => ({
        who,
        batcher: new SetDataBatcher({ setData: (data) => sent.push({ at: scheduler.now(), who, data }) }, scheduler, { budget }),
      }))
      for (let t = 0; t < 3000; t += 10) {
        scheduler.schedule(() => {
          for (const { who, batcher } of members) batcher.merge({ [who]: t })
        }, t)
      }
      scheduler.schedule(() => (total = { ...budget.stats }), 6000)
    })
    expect(
      maxInWindow(
        sent.map((s) => s.at),
        1000,
      ),
    ).toBeLessThanOrEqual(20)
    // Round robin: nobody starves while the window is full.
    for (const who of ['page', 'child-a', 'child-b']) {
      const mine = sent.filter((s) => s.who === who)
      expect(mine.length).toBeGreaterThanOrEqual(15)
      expect(mine[mine.length - 1].data[who]).toBe(2990)
    }
    expect(total.calls).toBe(sent.length)
  })

  it('sends at once while the window has room (the next macrotask, not a fixed tick)', () => {
    const sent: number[] = []
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    scheduler.run(() => {
      const budget = new SetDataBudget(20, 1000, scheduler)
      const b = new SetDataBatcher({ setData: () => sent.push(scheduler.now()) }, scheduler, { budget })
      scheduler.schedule(() => b.merge({ a: 1 }), 100)
      scheduler.schedule(() => b.merge({ a: 2 }), 300)
    })
    expect(sent).toEqual([100, 300])
  })

  it('throttled keys go at most once per interval, riding along with other data, the last value winning', () => {
    const sent: Array<{ at: number; data: Record<string, unknown> }> = []
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    scheduler.run(() => {
      const b = new SetDataBatcher({ setData: (data) => sent.push({ at: scheduler.now(), data }) }, scheduler, { throttledKeys: ['count'], throttleMs: 250 })
      for (let t = 0; t < 1000; t += 50) scheduler.schedule(() => b.merge({ count: t, [`c${t}`]: 1 }), t)
    })
    const countTimes = sent.filter((s) => 'count' in s.data).map((s) => s.at)
    expect(countTimes).toEqual([0, 250, 500, 750, 1000])
    // While other data flows the count rides along; only the last one, after the stream, has a call of its own.
    expect(sent).toHaveLength(21)
    expect(sent[19].data).toEqual({ c950: 1 })
    // The last count is not lost: it goes when its interval is up.
    expect(sent[20].data).toEqual({ count: 950 })
  })
})
