import { ErrorCode } from './codes'
import { type ClientFrame, type HttpReply, MAX_HTTP_COMMANDS, MAX_MODERATION_SECONDS, MAX_REPORT_LOGS, ROOM_EVENT_TYPES, type ServerFrame } from './frames'
import { utf8ByteLength } from './utf8'
import { arr, bool, type Check, describe, int, isPlainObject, num, obj, oneOf, opt, shallowObj, str } from './schema'

/** Default maximum frame size (docs/protocol.md, "Limits": 64 KiB). */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024

export const MAX_MSG_ID_LENGTH = 64
export const MAX_ROOM_ID_LENGTH = 128
export const MAX_CONTENT_LENGTH = 200
/** Deepest nesting of a `report` log or `cache_fields`. */
export const MAX_REPORT_DEPTH = 8

/** Why a frame was refused. `code` comes from the protocol's error codes. */
export interface FrameError {
  code: number
  reason: string
  /** Present when the frame was an object with a usable `msg_id`, so it can be acked. */
  msg_id?: string
  /** Present when the frame named a `msg_type`, known or not. */
  msg_type?: string
  /** True when only the `msg_type` was unknown (the client counts and ignores those). */
  unknownType?: boolean
}

export type ParseResult<F> = { ok: true; frame: F } | { ok: false; error: FrameError }

export interface ParseOptions {
  /** Frames larger than this many UTF-8 bytes are refused with 4013. */
  maxBytes?: number
}

export { utf8ByteLength }

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])
/** Text that names a forbidden key, or could spell one with an escape: one scan of the frame. */
const SUSPICIOUS = /\\u|__proto__|constructor|prototype/

const userRef = obj({ uid: str(1, 128), name: str(0, 256) })
const authUser = obj({ uid: str(1, 128), name: str(0, 256), role: oneOf('viewer', 'anchor', 'admin') })
const msgId = str(1, MAX_MSG_ID_LENGTH)
/**
 * A room id: 1..128 characters, none of them white space, a control character, or one of
 * `< > " ' & \ / { }` (markup, paths, and the braces of a Redis hash tag). One rule for every
 * transport: the socket's frames and the HTTP fallback's path.
 */
// eslint-disable-next-line no-control-regex -- control characters are what it refuses
export const ROOM_ID_PATTERN = /^[^\s\u0000-\u001f\u007f-\u009f<>"'&\\/{}]{1,128}$/
/** Why `value` is not a room id, or null when it is one. */
export function roomIdProblem(value: unknown): string | null {
  if (typeof value !== 'string') return 'room_id must be a string'
  if (value.length < 1 || value.length > MAX_ROOM_ID_LENGTH) return `room_id must be 1..${MAX_ROOM_ID_LENGTH} characters`
  return ROOM_ID_PATTERN.test(value) ? null : 'room_id must have no white space, control characters or any of < > " \' & \\ / { }'
}
const roomId: Check = (v) => {
  const problem = roomIdProblem(v)
  return problem === null ? null : ` ${problem.slice('room_id '.length)}`
}
const count = int(0)
const goodsFields = {
  goods_id: str(1, 128),
  goods_name: str(0, 256),
  goods_price: int(0),
  default_image: str(0, 2048),
  status: oneOf('on', 'off'),
}

const eventBase = { room_id: roomId, seq: opt(int(1)), ts: opt(num) }
const messageEvent = obj({
  ...eventBase,
  msg_id: opt(str(0, MAX_MSG_ID_LENGTH)),
  from_uid: str(0, 128),
  from_name: str(0, 256),
  content: str(0, 4096),
})

/** Every server frame that travels alone. */
const SINGLE_SERVER_FRAMES: Readonly<Record<string, Check>> = {
  init: obj({
    client_id: str(0, 256),
    epoch: opt(str(1, 128)),
    server_time: opt(num),
    heartbeat_ms: opt(int(1)),
    max_frame_bytes: opt(int(1)),
    user: opt(authUser),
  }),
  pong: obj({ t: opt(num), server_time: opt(num) }),
  ack: obj({
    msg_id: str(0, MAX_MSG_ID_LENGTH),
    ok: bool,
    code: opt(int()),
    reason: opt(str()),
    dup: opt(bool),
    user: opt(authUser),
    room_id: opt(roomId),
    epoch: opt(str(1, 128)),
    seq: opt(int(0)),
    recovered: opt(bool),
    accepted: opt(int(0)),
    until: opt(int(0)),
  }),
  error: obj({ code: int(), reason: str() }),
  snapshot: obj({
    room_id: roomId,
    epoch: str(1, 128),
    seq: int(0),
    room: obj({
      title: str(),
      status: oneOf('live', 'ended'),
      // A room nobody anchors yet has an empty anchor.
      anchor: obj({ uid: str(0, 128), name: str(0, 256) }),
      online_num: count,
      like_num: count,
      subscribe_num: count,
    }),
    message_list: arr(messageEvent),
    shelf: arr(obj(goodsFields)),
  }),
  join: obj({ ...eventBase, user: userRef, online_num: count, msg_content: opt(str()) }),
  leave: obj({ ...eventBase, user: userRef, online_num: count, msg_content: opt(str()) }),
  message: messageEvent,
  like: obj({ ...eventBase, like_num: count, delta: opt(int(0)) }),
  subscribe: obj({ ...eventBase, user: userRef, subscribe_num: count, msg_content: opt(str()) }),
  buy: obj({ ...eventBase, user: userRef, goods_id: str(1, 128), goods_name: str(), msg_content: opt(str()) }),
  on_off_shelf: obj({ ...eventBase, ...goodsFields }),
  room_state: obj({ ...eventBase, status: oneOf('live', 'ended'), title: str() }),
  message_deleted: obj({ ...eventBase, target_msg_id: str(1, MAX_MSG_ID_LENGTH), by: userRef }),
  muted: obj({ ...eventBase, user: userRef, until: int(0), by: userRef }),
  kicked: obj({ ...eventBase, user: userRef, until: int(0), by: userRef, online_num: opt(int(0)) }),
}

const ROOM_EVENT_CHECKS: Readonly<Record<string, Check>> = Object.fromEntries(ROOM_EVENT_TYPES.map((type) => [type, SINGLE_SERVER_FRAMES[type]]))

/** A room event inside a batch: one of the room event types, checked as if it came alone. */
const roomEvent: Check = (v) => {
  if (!isPlainObject(v)) return ' must be an object'
  const type = v.msg_type
  const check = typeof type === 'string' && Object.prototype.hasOwnProperty.call(ROOM_EVENT_CHECKS, type) ? ROOM_EVENT_CHECKS[type] : undefined
  return check === undefined ? '.msg_type must be a room event type' : check(v)
}

/** Events in one batch frame at most (a tick of a very busy room; the frame limit bounds it too). */
export const MAX_BATCH_EVENTS = 1000

const SERVER_FRAMES: Readonly<Record<string, Check>> = { ...SINGLE_SERVER_FRAMES, batch: obj({ events: arr(roomEvent, 1, MAX_BATCH_EVENTS) }) }

/** The HTTP fallback's answers (never socket frames: a socket that sends one gets it counted as unknown). */
const HTTP_REPLIES: Readonly<Record<string, Check>> = {
  commands: obj({ user: authUser, epoch: str(1, 128), server_time: num, max_frame_bytes: int(1), acks: arr(SINGLE_SERVER_FRAMES.ack, 0, MAX_HTTP_COMMANDS) }),
  poll: obj({
    room_id: roomId,
    epoch: str(1, 128),
    seq: int(0),
    recovered: bool,
    events: arr(roomEvent, 0, MAX_BATCH_EVENTS),
    snapshot: opt(SINGLE_SERVER_FRAMES.snapshot),
  }),
}

const roomCommand = { msg_id: msgId, room_id: roomId }

const CLIENT_FRAMES: Readonly<Record<string, Check>> = {
  ping: obj({ t: opt(num) }),
  // Any length here: the server refuses an over-long token as a token (4001 and close), not as a bad frame.
  auth: obj({ msg_id: msgId, token: str(1, DEFAULT_MAX_FRAME_BYTES) }),
  join: obj({ ...roomCommand, since_seq: opt(int(0)), epoch: opt(str(1, 128)) }),
  leave: obj(roomCommand),
  // Length 1..200 is checked after trimming, by `normalizeContent`: here only the type and a hard bound.
  message: obj({ ...roomCommand, content: str(0, 4 * MAX_CONTENT_LENGTH) }),
  like: obj({ ...roomCommand, count: int(1, 100) }),
  subscribe: obj(roomCommand),
  buy: obj({ ...roomCommand, goods_id: str(1, 128) }),
  on_off_shelf: obj({
    ...roomCommand,
    ...goodsFields,
    default_image: (v) => (typeof v === 'string' && v.length <= 2048 && /^https:\/\/[^\s]+$/.test(v) ? null : ' must be an https URL'),
  }),
  delete_message: obj({ ...roomCommand, target_msg_id: msgId }),
  mute: obj({ ...roomCommand, uid: str(1, 128), duration_s: int(0, MAX_MODERATION_SECONDS) }),
  kick: obj({ ...roomCommand, uid: str(1, 128), duration_s: int(1, MAX_MODERATION_SECONDS) }),
  // Analytics logs are flat records: 8 levels is generous, and bounds every walk over them.
  report: obj({ msg_id: msgId, logs: arr(shallowObj(MAX_REPORT_DEPTH), 1, MAX_REPORT_LOGS), cache_fields: opt(shallowObj(MAX_REPORT_DEPTH)) }),
}

function fail(code: number, reason: string, extra?: Partial<FrameError>): { ok: false; error: FrameError } {
  return { ok: false, error: { code, reason, ...extra } }
}

type Decoded = { ok: true; value: Record<string, unknown>; forbidden: string | null } | { ok: false; error: FrameError }

function decode(data: unknown, maxBytes: number): Decoded {
  if (typeof data !== 'string') {
    return fail(ErrorCode.badRequest, 'frame must be UTF-8 JSON text')
  }
  // Cheap bound first: every UTF-16 unit is at least one UTF-8 byte, at most three.
  if (data.length > maxBytes || (data.length * 3 > maxBytes && utf8ByteLength(data) > maxBytes)) {
    return fail(ErrorCode.tooLarge, `frame larger than ${maxBytes} bytes`)
  }
  let forbidden: string | null = null
  let value: unknown
  try {
    // The reviver only runs when a forbidden name appears somewhere in the text, or could
    // (a \u escape spells "\u005f_proto__" without the plain name): the common case stays on
    // the fast path of a plain JSON.parse. The reviver sees keys decoded.
    const suspicious = SUSPICIOUS.test(data)
    value = suspicious
      ? JSON.parse(data, function (key: string, v: unknown) {
          if (FORBIDDEN_KEYS.has(key)) forbidden = key
          return v
        })
      : JSON.parse(data)
  } catch {
    return fail(ErrorCode.badRequest, 'malformed JSON')
  }
  if (!isPlainObject(value)) return fail(ErrorCode.badRequest, 'frame must be a JSON object')
  return { ok: true, value, forbidden }
}

function parseWith<F>(table: Readonly<Record<string, Check>>, data: unknown, options?: ParseOptions): ParseResult<F> {
  const decoded = decode(data, options?.maxBytes ?? DEFAULT_MAX_FRAME_BYTES)
  if (!decoded.ok) return decoded
  return checkWith<F>(table, decoded.value, decoded.forbidden)
}

/** Checks a decoded object against `table` (`forbidden`: a forbidden key seen while decoding). */
function checkWith<F>(table: Readonly<Record<string, Check>>, value: Record<string, unknown>, forbidden: string | null): ParseResult<F> {
  const type = value.msg_type
  const check = typeof type === 'string' && forbidden === null && Object.prototype.hasOwnProperty.call(table, type) ? table[type] : undefined
  // The common case, a known frame that fits, allocates nothing beyond the parsed value.
  const reason = check === undefined ? undefined : check(value)
  if (reason === null) return { ok: true, frame: value as unknown as F }
  const extra: Partial<FrameError> = {}
  if (typeof value.msg_id === 'string' && value.msg_id.length > 0 && value.msg_id.length <= MAX_MSG_ID_LENGTH) {
    extra.msg_id = value.msg_id
  }
  if (typeof type !== 'string') return fail(ErrorCode.badRequest, 'msg_type must be a string', extra)
  extra.msg_type = type.slice(0, 64)
  // Refused rather than stripped: a frame that tries to reach a prototype is hostile, not sloppy.
  if (forbidden !== null) return fail(ErrorCode.badRequest, `forbidden key "${forbidden}"`, extra)
  if (check === undefined) {
    return fail(ErrorCode.badRequest, `unknown msg_type "${extra.msg_type}"`, { ...extra, unknownType: true })
  }
  return fail(ErrorCode.badRequest, `${type}: ${describe(reason ?? '')}`, extra)
}

/**
 * Parses and validates one frame received from the server. Never throws.
 *
 * @example
 * const r = parseServerFrame(text)
 * if (r.ok) handle(r.frame)
 * else if (r.error.unknownType) stats.unknown++
 * else stats.bad++
 */
export function parseServerFrame(data: unknown, options?: ParseOptions): ParseResult<ServerFrame> {
  return parseWith<ServerFrame>(SERVER_FRAMES, data, options)
}

/**
 * Decodes one frame's text (size bound, JSON, forbidden keys) without checking its shape: for
 * codecs that map another protocol's frames onto these (see plain.ts), then `checkServerFrame`.
 */
export function decodeFrame(data: unknown, options?: ParseOptions): ParseResult<Record<string, unknown>> {
  const decoded = decode(data, options?.maxBytes ?? DEFAULT_MAX_FRAME_BYTES)
  if (!decoded.ok) return decoded
  if (decoded.forbidden !== null) return fail(ErrorCode.badRequest, `forbidden key "${decoded.forbidden}"`)
  return { ok: true, frame: decoded.value }
}

/** Checks an object (decoded by `decodeFrame`, then mapped) as a server frame. Never throws. */
export function checkServerFrame(value: Record<string, unknown>): ParseResult<ServerFrame> {
  return checkWith<ServerFrame>(SERVER_FRAMES, value, null)
}

/** Parses and validates the body of an HTTP fallback answer (`commands` or `poll`). Never throws. */
export function parseHttpReply(data: unknown, options?: ParseOptions): ParseResult<HttpReply> {
  return parseWith<HttpReply>(HTTP_REPLIES, data, options)
}

/**
 * Parses and validates one frame received from a client (used by the server). Never throws.
 * A refusal carries the `msg_id` when there is one, so it can be answered with an `ack`.
 */
export function parseClientFrame(data: unknown, options?: ParseOptions): ParseResult<ClientFrame> {
  return parseWith<ClientFrame>(CLIENT_FRAMES, data, options)
}

// Control characters (C0, DEL, C1) and the invisible bidi overrides that make chat text lie.
// eslint-disable-next-line no-control-regex -- control characters are what it strips
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g

export type ContentResult = { ok: true; content: string } | { ok: false; reason: string }

/**
 * The comment rule shared by client and server: control characters removed,
 * trimmed, then 1..200 characters (code points).
 */
export function normalizeContent(raw: string): ContentResult {
  const content = raw.replace(CONTROL_CHARS, '').trim()
  const length = Array.from(content).length
  if (length < 1) return { ok: false, reason: 'content is empty' }
  if (length > MAX_CONTENT_LENGTH) return { ok: false, reason: `content is longer than ${MAX_CONTENT_LENGTH} characters` }
  return { ok: true, content }
}
