/**
 * The HTTP fallback's session against a scripted server: every way a request can fail, and what
 * the session makes of it (the close code the lifecycle then acts on, a refused join, a bad reply).
 */
import { TestScheduler } from 'rxjs/testing'
import { SessionEnd } from '../../src/connection/errors'
import { createHttpSession, type HttpSessionConfig } from '../../src/connection/httpSession'
import type { SessionEvent } from '../../src/connection/session'
import type { FakePlatform } from '../../src/testing'
import type { RequestOptions, RequestTask } from '../../src/platform/types'
import type { ServerFrame } from '../../src/protocol/frames'

type Reply = { statusCode: number; data: string } | { fail: string }

const commandsOk = (acks: unknown[] = []): Reply => ({
  statusCode: 200,
  data: JSON.stringify({ msg_type: 'commands', user: { uid: 'u', name: 'U', role: 'viewer' }, epoch: 'e1', server_time: 1, max_frame_bytes: 65536, acks }),
})
const pollOk = (seq: number, events: unknown[] = [], recovered = true): Reply => ({
  statusCode: 200,
  data: JSON.stringify({
    msg_type: 'poll',
    room_id: 'r1',
    epoch: 'e1',
    seq,
    recovered,
    events,
    ...(recovered
      ? {}
      : {
          snapshot: {
            msg_type: 'snapshot',
            room_id: 'r1',
            epoch: 'e1',
            seq,
            room: { title: 't', status: 'live', anchor: { uid: 'a', name: 'A' }, online_num: 1, like_num: 0, subscribe_num: 0 },
            message_list: [],
            shelf: [],
          },
        }),
  }),
})
const refused = (statusCode: number, code: number, reason: string): Reply => ({ statusCode, data: JSON.stringify({ code, reason }) })

/** A session whose requests are answered, in order, by `replies` (synchronously); a request past them stays open. */
function scripted(replies: Reply[]): {
  session: ReturnType<typeof createHttpSession>
  requests: Array<{ method: string; url: string }>
  frames: ServerFrame[]
  badFrames: string[]
  scheduler: TestScheduler
} {
  const requests: Array<{ method: string; url: string }> = []
  const frames: ServerFrame[] = []
  const badFrames: string[] = []
  const queue = [...replies]
  const request = (options: RequestOptions): RequestTask => {
    requests.push({ method: options.method ?? 'GET', url: options.url })
    const reply = queue.shift()
    if (reply !== undefined) {
      if ('fail' in reply) options.fail?.({ errMsg: reply.fail })
      else options.success?.({ statusCode: reply.statusCode, data: reply.data, header: {} })
    }
    return { abort: () => undefined }
  }
  const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
  const platform = { request, connectSocket: () => ({ onOpen: () => undefined, onClose: () => undefined }) } as unknown as FakePlatform
  const config: HttpSessionConfig = {
    id: 1,
    platform,
    baseUrl: 'http://fake',
    socketUrl: 'ws://fake/ws',
    protocols: ['live.v1'],
    token: 't',
    scheduler,
    waitMs: 25000,
    maxRequests: 6,
    maxFrameBytes: 65536,
    // No probe within these tests' virtual time.
    probeDelayMs: () => 60000,
    onFrame: (f) => frames.push(f),
    onBadFrame: (e) => badFrames.push(e.reason),
    onFrameIn: () => undefined,
    onFrameOut: () => undefined,
  }
  return { session: createHttpSession(config), requests, frames, badFrames, scheduler }
}

/** The session's requests settle as promises: let every answered one run its course. */
const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** Subscribes, returns what the session emitted and how it ended. */
async function run(session: ReturnType<typeof createHttpSession>, act: (events: SessionEvent[]) => void = () => undefined): Promise<{ events: SessionEvent[]; end: SessionEnd | undefined }> {
  const events: SessionEvent[] = []
  let end: SessionEnd | undefined
  const sub = session.subscribe({ next: (e) => events.push(e), error: (e: SessionEnd) => (end = e) })
  await settled()
  if (end === undefined) act(events)
  await settled()
  sub.unsubscribe()
  return { events, end }
}

const joinOn = (events: SessionEvent[]): void => {
  const open = events.find((e) => e.type === 'open')
  if (open?.type !== 'open') throw new Error('not open')
  open.link.send({ msg_type: 'join', msg_id: 'j1', room_id: 'r1' })
}

describe('HTTP session: how each failure ends it', () => {
  it.each([
    [401, 4001, 'a token the server refuses: the lifecycle refreshes it'],
    [403, 4003, 'forbidden: the lifecycle fails'],
    [429, 1013, 'too many requests: try again later'],
    [503, 1013, 'the room service is unavailable: try again later'],
    [500, 1006, 'any other status: abnormal'],
  ])('the opening request answered %i ends the session with %i (%s)', async (status, code) => {
    const { session, requests } = scripted([refused(status, status === 401 ? 4001 : 4500, 'no')])
    const { events, end } = await run(session)
    expect(events).toEqual([])
    expect(end).toBeInstanceOf(SessionEnd)
    expect(end).toMatchObject({ code, reason: `HTTP ${status}: no`, cause: 'closed' })
    expect(requests).toEqual([{ method: 'POST', url: 'http://fake/api/commands' }])
  })

  it('a request that never reached the server (wx.request fail) ends it as abnormal', async () => {
    const { session } = scripted([{ fail: 'request:fail timeout' }])
    expect((await run(session)).end).toMatchObject({ code: 1006, reason: 'request:fail timeout' })
  })

  it('a reply that is not JSON, or not the reply asked for, is a bad frame and ends the session as a broken link would (1006)', async () => {
    for (const data of ['<html>502 Bad Gateway</html>', JSON.stringify({ msg_type: 'poll', room_id: 'r1' })]) {
      const { session, badFrames } = scripted([{ statusCode: 200, data }])
      const { events, end } = await run(session)
      expect(events).toEqual([])
      expect(end).toMatchObject({ code: 1006 })
      expect(badFrames).toHaveLength(1)
      expect(end?.reason).toBe(badFrames[0])
    }
  })

  it.each([
    [404, 4004, 'no room r1'],
    [403, 4003, 'room r1 is not open'],
  ])("a join's first poll answered %i refuses the join (ack code %i) and keeps the session", async (status, code, reason) => {
    const { session, frames, requests } = scripted([commandsOk(), refused(status, code, reason), commandsOk()])
    const { end } = await run(session, (events) => {
      joinOn(events)
      // The session is still usable: a command goes out and is acked.
      const open = events[0]
      if (open.type === 'open') open.link.send({ msg_type: 'report', msg_id: 'rep1', logs: [{ e: 1 }] })
    })
    expect(end).toBeUndefined()
    expect(frames).toEqual([{ msg_type: 'ack', msg_id: 'j1', ok: false, code, reason: `HTTP ${status}: ${reason}` }])
    expect(requests.map((r) => r.method)).toEqual(['POST', 'GET', 'POST'])
  })

  it('a later poll answered 403 ends the session (4003); one answered 401 ends it with 4001', async () => {
    for (const [status, code] of [
      [403, 4003],
      [401, 4001],
    ]) {
      const { session, frames } = scripted([commandsOk(), pollOk(5, [], false), refused(status, code, 'gone')])
      const { end } = await run(session, joinOn)
      expect(frames.map((f) => f.msg_type)).toEqual(['ack', 'snapshot'])
      expect(end).toMatchObject({ code })
    }
  })

  it('a later poll that is no recovery (history lost) ends the session with 1012, so the client rejoins', async () => {
    const { session, frames } = scripted([commandsOk(), pollOk(5, [], false), pollOk(9, [], false)])
    const { end } = await run(session, joinOn)
    expect(frames.map((f) => f.msg_type)).toEqual(['ack', 'snapshot'])
    expect(end).toMatchObject({ code: 1012, reason: 'history lost, rejoin' })
  })

  it('a failed command batch ends the session and tells each command it was not sent', async () => {
    const { session } = scripted([commandsOk(), refused(429, 4029, 'too many requests')])
    const done: boolean[] = []
    const { end } = await run(session, (events) => {
      const open = events[0]
      if (open.type === 'open') open.link.send({ msg_type: 'report', msg_id: 'rep1', logs: [{ e: 1 }] }, (accepted) => done.push(accepted))
    })
    expect(done).toEqual([false])
    expect(end).toMatchObject({ code: 1013 })
  })
})
