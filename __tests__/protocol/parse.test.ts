import fc from 'fast-check'
import { normalizeContent, parseClientFrame, parseServerFrame, utf8ByteLength } from '../../src/protocol/parse'

describe('parseServerFrame', () => {
  it('accepts every server frame type of the protocol', () => {
    const frames = [
      { msg_type: 'init', client_id: 'c', epoch: 'e', server_time: 1, heartbeat_ms: 25000, max_frame_bytes: 65536 },
      { msg_type: 'pong', t: 5, server_time: 6 },
      { msg_type: 'ack', msg_id: 'm', ok: true, dup: true },
      { msg_type: 'ack', msg_id: 'm', ok: false, code: 4029, reason: 'slow down' },
      { msg_type: 'error', code: 4000, reason: 'malformed JSON' },
      {
        msg_type: 'snapshot',
        room_id: 'r',
        epoch: 'e',
        seq: 3,
        room: { title: 't', status: 'live', anchor: { uid: 'a', name: 'A' }, online_num: 1, like_num: 2, subscribe_num: 3 },
        message_list: [{ msg_type: 'message', room_id: 'r', seq: 2, ts: 1, from_uid: 'u', from_name: 'U', content: 'hi' }],
        shelf: [{ goods_id: 'g', goods_name: 'G', goods_price: 990, default_image: 'https://x/y.png', status: 'on' }],
      },
      { msg_type: 'join', room_id: 'r', seq: 1, ts: 1, user: { uid: 'u', name: 'U' }, online_num: 1, msg_content: 'U joined' },
      { msg_type: 'leave', room_id: 'r', seq: 2, ts: 1, user: { uid: 'u', name: 'U' }, online_num: 0 },
      { msg_type: 'message', room_id: 'r', seq: 3, ts: 1, msg_id: 'm', from_uid: 'u', from_name: 'U', content: 'hi' },
      { msg_type: 'like', room_id: 'r', seq: 4, ts: 1, like_num: 10, delta: 3 },
      { msg_type: 'subscribe', room_id: 'r', seq: 5, ts: 1, user: { uid: 'u', name: 'U' }, subscribe_num: 1 },
      { msg_type: 'buy', room_id: 'r', seq: 6, ts: 1, user: { uid: 'u', name: 'U' }, goods_id: 'g', goods_name: 'G' },
      { msg_type: 'on_off_shelf', room_id: 'r', seq: 7, ts: 1, goods_id: 'g', goods_name: 'G', goods_price: 1, default_image: 'https://i', status: 'off' },
      { msg_type: 'room_state', room_id: 'r', seq: 8, ts: 1, status: 'ended', title: 't' },
    ]
    for (const frame of frames) {
      const r = parseServerFrame(JSON.stringify(frame))
      expect(r).toEqual({ ok: true, frame })
    }
  })

  it('accepts plain-protocol frames without seq, ts or epoch', () => {
    expect(parseServerFrame('{"msg_type":"init","client_id":"7f"}').ok).toBe(true)
    expect(parseServerFrame('{"msg_type":"message","room_id":"r","from_uid":"u","from_name":"U","content":"x"}').ok).toBe(true)
  })

  it.each([
    ['not JSON', '{oops', /malformed JSON/],
    ['an array', '[1,2]', /must be a JSON object/],
    ['null', 'null', /must be a JSON object/],
    ['a number', '42', /must be a JSON object/],
    ['no msg_type', '{"a":1}', /msg_type must be a string/],
    ['a wrong field type', '{"msg_type":"like","room_id":"r","like_num":"10"}', /like_num must be an integer/],
    ['a negative count', '{"msg_type":"like","room_id":"r","like_num":-1}', /like_num must be in/],
    ['a null where an optional field goes', '{"msg_type":"like","room_id":"r","like_num":1,"seq":null}', /seq must be an integer/],
    ['a bad nested field', '{"msg_type":"join","room_id":"r","online_num":1,"user":{"uid":5,"name":"x"}}', /user.uid must be a string/],
  ])('refuses %s with 4000 and a reason', (_name, data, reason) => {
    const r = parseServerFrame(data)
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.error.code).toBe(4000)
      expect(r.error.reason).toMatch(reason)
    }
  })

  it('accepts a batch of room events (live.v1.batch) and refuses one with a bad, foreign or missing event, or too many', () => {
    const like = (seq: number) => ({ msg_type: 'like', room_id: 'r', seq, like_num: seq })
    expect(parseServerFrame(JSON.stringify({ msg_type: 'batch', events: [like(1), like(2)] }))).toMatchObject({ ok: true })
    const refused = (frame: unknown): string => {
      const r = parseServerFrame(JSON.stringify(frame))
      return r.ok ? 'accepted' : r.error.reason
    }
    expect(refused({ msg_type: 'batch', events: [like(1), { ...like(2), like_num: -1 }] })).toBe('batch: events[1].like_num must be in 0..9007199254740991')
    expect(refused({ msg_type: 'batch', events: [{ msg_type: 'ack', msg_id: 'm', ok: true }] })).toBe('batch: events[0].msg_type must be a room event type')
    expect(refused({ msg_type: 'batch', events: [{ msg_type: 'batch', events: [like(1)] }] })).toBe('batch: events[0].msg_type must be a room event type')
    expect(refused({ msg_type: 'batch', events: [] })).toBe('batch: events must hold 1..1000 items')
    expect(refused({ msg_type: 'batch', events: Array.from({ length: 1001 }, (_, i) => like(i + 1)) })).toBe('batch: events must hold 1..1000 items')
  })

  it('marks an unknown msg_type so that it can be counted and ignored', () => {
    const r = parseServerFrame('{"msg_type":"gift","room_id":"r"}')
    expect(r).toEqual({ ok: false, error: expect.objectContaining({ code: 4000, unknownType: true, msg_type: 'gift' }) })
  })

  it('does not take inherited names such as toString or __proto__ as a msg_type', () => {
    for (const type of ['toString', 'hasOwnProperty', '__proto__', 'constructor']) {
      const r = parseServerFrame(JSON.stringify({ msg_type: type }))
      expect(r.ok).toBe(false)
    }
  })

  it('refuses frames over the byte limit with 4013, counting UTF-8 bytes', () => {
    const ascii = JSON.stringify({ msg_type: 'error', code: 1, reason: 'x'.repeat(100) })
    expect(parseServerFrame(ascii, { maxBytes: ascii.length }).ok).toBe(true)
    expect(parseServerFrame(ascii, { maxBytes: ascii.length - 1 })).toEqual({ ok: false, error: expect.objectContaining({ code: 4013 }) })
    // 40 characters, 120 bytes
    const cjk = JSON.stringify({ msg_type: 'error', code: 1, reason: '字'.repeat(40) })
    expect(parseServerFrame(cjk, { maxBytes: cjk.length + 10 })).toEqual({ ok: false, error: expect.objectContaining({ code: 4013 }) })
  })

  it('refuses frames holding __proto__, constructor or prototype keys, at any depth', () => {
    for (const data of [
      '{"msg_type":"error","code":1,"reason":"x","__proto__":{"polluted":true}}',
      '{"msg_type":"join","room_id":"r","online_num":1,"user":{"uid":"u","name":"n","constructor":{"prototype":{"polluted":true}}}}',
      '{"msg_type":"ack","msg_id":"m","ok":true,"user":{"__proto__":{"polluted":true},"uid":"u","name":"n","role":"viewer"}}',
    ]) {
      const r = parseServerFrame(data)
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.error.reason).toMatch(/forbidden key/)
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    // The words inside a value are fine.
    expect(parseServerFrame('{"msg_type":"error","code":1,"reason":"__proto__ constructor prototype"}').ok).toBe(true)
  })

  it('refuses the forbidden keys spelt with JSON escapes too (issue 10, problem 9)', () => {
    for (const data of [
      '{"msg_type":"error","code":1,"reason":"x","\\u005f_proto__":{"polluted":true}}',
      '{"msg_type":"error","code":1,"reason":"x","constructo\\u0072":{"prototype":1}}',
      '{"msg_type":"ack","msg_id":"m","ok":true,"user":{"uid":"u","name":"n","role":"viewer","\\u0070rototype":1}}',
      '{"msg_type":"error","code":1,"reason":"x","\\u005F\\u005Fproto\\u005F\\u005F":{}}',
    ]) {
      const r = parseServerFrame(data)
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.error.reason).toMatch(/forbidden key/)
      expect(parseClientFrame(data).ok).toBe(false)
    }
    // An escape in a value is ordinary text.
    expect(parseServerFrame('{"msg_type":"error","code":1,"reason":"caf\\u00e9"}')).toMatchObject({ ok: true, frame: { reason: 'café' } })
  })

  it('never throws and never pollutes Object.prototype, whatever the input (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.anything(),
        ),
        (input) => {
          const r = parseServerFrame(input)
          expect(typeof r.ok).toBe('boolean')
          const c = parseClientFrame(input)
          expect(typeof c.ok).toBe('boolean')
        },
      ),
      { numRuns: 2000 },
    )
    expect(Object.prototype).toEqual({})
  })
})

describe('parseClientFrame', () => {
  it('accepts every command of the protocol', () => {
    const frames = [
      { msg_type: 'ping', t: 1 },
      { msg_type: 'ping' },
      { msg_type: 'auth', msg_id: 'a', token: 'x.y' },
      { msg_type: 'join', msg_id: 'j', room_id: 'r', since_seq: 10, epoch: 'e' },
      { msg_type: 'leave', msg_id: 'l', room_id: 'r' },
      { msg_type: 'message', msg_id: 'm', room_id: 'r', content: 'hello' },
      { msg_type: 'like', msg_id: 'k', room_id: 'r', count: 100 },
      { msg_type: 'subscribe', msg_id: 's', room_id: 'r' },
      { msg_type: 'buy', msg_id: 'b', room_id: 'r', goods_id: 'g' },
      { msg_type: 'on_off_shelf', msg_id: 'o', room_id: 'r', goods_id: 'g', goods_name: 'G', goods_price: 100, default_image: 'https://img/x.png', status: 'on' },
      { msg_type: 'report', msg_id: 'p', logs: [{ e: 'view' }], cache_fields: { app: '1.0' } },
    ]
    for (const frame of frames) expect(parseClientFrame(JSON.stringify(frame))).toEqual({ ok: true, frame })
  })

  it('keeps the msg_id of a refused command so it can be acked', () => {
    const r = parseClientFrame('{"msg_type":"like","msg_id":"k1","room_id":"r","count":101}')
    expect(r).toEqual({ ok: false, error: expect.objectContaining({ code: 4000, msg_id: 'k1', msg_type: 'like' }) })
  })

  it.each([
    ['a msg_id over 64 characters', { msg_type: 'subscribe', msg_id: 'x'.repeat(65), room_id: 'r' }],
    ['like count 0', { msg_type: 'like', msg_id: 'k', room_id: 'r', count: 0 }],
    ['a non-integer like count', { msg_type: 'like', msg_id: 'k', room_id: 'r', count: 1.5 }],
    ['an http image', { msg_type: 'on_off_shelf', msg_id: 'o', room_id: 'r', goods_id: 'g', goods_name: 'G', goods_price: 1, default_image: 'http://x', status: 'on' }],
    ['a fractional price', { msg_type: 'on_off_shelf', msg_id: 'o', room_id: 'r', goods_id: 'g', goods_name: 'G', goods_price: 9.99, default_image: 'https://x', status: 'on' }],
    ['an empty report', { msg_type: 'report', msg_id: 'p', logs: [] }],
    ['101 logs', { msg_type: 'report', msg_id: 'p', logs: Array.from({ length: 101 }, () => ({})) }],
    ['a log that is not an object', { msg_type: 'report', msg_id: 'p', logs: ['x'] }],
    ['an unknown command', { msg_type: 'gift', msg_id: 'g' }],
  ])('refuses %s', (_name, frame) => {
    expect(parseClientFrame(JSON.stringify(frame)).ok).toBe(false)
  })
})

describe('normalizeContent', () => {
  it('removes control characters, trims, then allows 1..200 characters', () => {
    expect(normalizeContent('  hi\u0000 there\u0007 ')).toEqual({ ok: true, content: 'hi there' })
    expect(normalizeContent('\u202eevil')).toEqual({ ok: true, content: 'evil' })
    expect(normalizeContent(' \n\t ').ok).toBe(false)
    expect(normalizeContent('a'.repeat(200)).ok).toBe(true)
    expect(normalizeContent('a'.repeat(201)).ok).toBe(false)
    // 200 emoji are 400 UTF-16 units but 200 characters
    expect(normalizeContent('😀'.repeat(200)).ok).toBe(true)
  })
})

describe('utf8ByteLength', () => {
  it('matches Buffer.byteLength for any string (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(utf8ByteLength(s)).toBe(Buffer.byteLength(s, 'utf8'))
      }),
      { numRuns: 1000 },
    )
  })
})
