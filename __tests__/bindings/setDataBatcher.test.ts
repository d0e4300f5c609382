import { TestScheduler } from 'rxjs/testing'
import { SetDataBatcher } from '../../src/bindings/setDataBatcher'

const run = (body: (scheduler: TestScheduler, sent: Array<Record<string, unknown>>, batcher: SetDataBatcher) => void): Array<Record<string, unknown>> => {
  const sent: Array<Record<string, unknown>> = []
  const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
  scheduler.run(() => {
    const batcher = new SetDataBatcher({ setData: (d) => sent.push(d) }, scheduler)
    body(scheduler, sent, batcher)
    scheduler.flush()
  })
  return sent
}

describe('SetDataBatcher', () => {
  it('merges everything of one turn into one setData, and counts calls and bytes', () => {
    let stats = { calls: 0, bytes: 0, largest: 0 }
    const sent = run((s, _sent, b) => {
      b.merge({ a: 1 })
      b.merge({ b: 2 })
      b.merge({ a: 3 })
      s.schedule(() => (stats = { ...b.stats }), 5)
    })
    expect(sent).toEqual([{ a: 3, b: 2 }])
    expect(stats).toEqual({ calls: 1, bytes: JSON.stringify({ a: 3, b: 2 }).length, largest: JSON.stringify({ a: 3, b: 2 }).length })
  })

  it('folds paths into a pending whole value, and a whole value replaces pending paths under it', () => {
    const sent = run((_s, _sent, b) => {
      b.merge({ 'list[1].status': 'sent' })
      b.merge({ list: [{ status: 'a' }, { status: 'b' }] })
      b.merge({ 'list[1].status': 'c', 'ui.open': true })
    })
    expect(sent).toEqual([{ list: [{ status: 'a' }, { status: 'c' }], 'ui.open': true }])
  })

  it('sends nothing while paused and one catch-up on resume; a disposed batcher sends nothing', () => {
    const sent = run((s, _sent, b) => {
      b.pause()
      b.merge({ a: 1 })
      s.schedule(() => b.merge({ b: 2 }), 10)
      s.schedule(() => b.resume(), 20)
      s.schedule(() => {
        b.merge({ c: 3 })
        b.dispose()
      }, 30)
    })
    expect(sent).toEqual([{ a: 1, b: 2 }])
  })

  it('runs beforeFlush first, and what it merges goes out in the same call', () => {
    const sent = run((_s, _sent, b) => {
      b.beforeFlush = () => b.merge({ late: true })
      b.merge({ a: 1 })
    })
    expect(sent).toEqual([{ a: 1, late: true }])
  })
})
