/**
 * Frame types of the `live.v1` wire protocol (see README "Protocol").
 *
 * Field names are snake_case because they follow the plain JSON protocol that
 * mini-program live rooms already speak (`msg_type`, `room_id`, `online_num` ...).
 * Every union is discriminated on `msg_type`.
 */

/** WebSocket subprotocol offered by the client and selected by the server. */
export const PROTOCOL_NAME = 'live.v1'
/**
 * The subprotocol of batched delivery (docs/protocol.md, "Batches and compression"): offered before `live.v1`, a server that selects it may send a room's events
 * of one short tick as one `batch` frame.
 */
export const BATCH_PROTOCOL_NAME = 'live.v1.batch'

/** `admin`: may moderate every room (docs/protocol.md, "Tokens"). */
export type Role = 'viewer' | 'anchor' | 'admin'

export interface UserRef {
  uid: string
  name: string
}

export interface AuthUser extends UserRef {
  role: Role
}

export interface Goods {
  goods_id: string
  goods_name: string
  /** Integer, in cents. */
  goods_price: number
  default_image: string
}

export interface ShelfItem extends Goods {
  status: 'on' | 'off'
}

// ---------------------------------------------------------------- server -> client

export interface InitFrame {
  msg_type: 'init'
  client_id: string
  /** Absent on plain-protocol peers. */
  epoch?: string
  server_time?: number
  heartbeat_ms?: number
  max_frame_bytes?: number
  user?: AuthUser
}

export interface PongFrame {
  msg_type: 'pong'
  t?: number
  server_time?: number
}

export interface AckFrame {
  msg_type: 'ack'
  msg_id: string
  ok: boolean
  code?: number
  reason?: string
  dup?: boolean
  user?: AuthUser
  room_id?: string
  epoch?: string
  seq?: number
  recovered?: boolean
  accepted?: number
  /** With 4030 (muted) and 4031 (kicked): until when, server ms. */
  until?: number
}

export interface ErrorFrame {
  msg_type: 'error'
  code: number
  reason: string
}

/** Fields every room event carries. `seq`/`ts` are absent on plain-protocol peers. */
interface RoomEventBase {
  room_id: string
  seq?: number
  ts?: number
}

export interface JoinEvent extends RoomEventBase {
  msg_type: 'join'
  user: UserRef
  online_num: number
  msg_content?: string
}

export interface LeaveEvent extends RoomEventBase {
  msg_type: 'leave'
  user: UserRef
  online_num: number
  msg_content?: string
}

export interface MessageEvent extends RoomEventBase {
  msg_type: 'message'
  msg_id?: string
  from_uid: string
  from_name: string
  content: string
}

export interface LikeEvent extends RoomEventBase {
  msg_type: 'like'
  like_num: number
  delta?: number
}

export interface SubscribeEvent extends RoomEventBase {
  msg_type: 'subscribe'
  user: UserRef
  subscribe_num: number
  msg_content?: string
}

export interface BuyEvent extends RoomEventBase {
  msg_type: 'buy'
  user: UserRef
  goods_id: string
  goods_name: string
  msg_content?: string
}

export interface ShelfEvent extends RoomEventBase, ShelfItem {
  msg_type: 'on_off_shelf'
}

export interface RoomStateEvent extends RoomEventBase {
  msg_type: 'room_state'
  status: 'live' | 'ended'
  title: string
}

/** A message of the room was deleted (by its anchor or an admin): it is gone for everyone. */
export interface MessageDeletedEvent extends RoomEventBase {
  msg_type: 'message_deleted'
  target_msg_id: string
  by: UserRef
}

/** A user was muted in the room until `until` (server ms; 0: the mute was lifted). */
export interface MutedEvent extends RoomEventBase {
  msg_type: 'muted'
  user: UserRef
  until: number
  by: UserRef
}

/** A user was put out of the room until `until` (server ms): their connections have left it. */
export interface KickedEvent extends RoomEventBase {
  msg_type: 'kicked'
  user: UserRef
  until: number
  by: UserRef
  /** The room's count without the user (the reference server sends it; a kick sends no `leave`). */
  online_num?: number
}

export type RoomEvent = JoinEvent | LeaveEvent | MessageEvent | LikeEvent | SubscribeEvent | BuyEvent | ShelfEvent | RoomStateEvent | MessageDeletedEvent | MutedEvent | KickedEvent

export type RoomEventType = RoomEvent['msg_type']

export interface RoomInfo {
  title: string
  status: 'live' | 'ended'
  anchor: UserRef
  online_num: number
  like_num: number
  subscribe_num: number
}

export interface SnapshotFrame {
  msg_type: 'snapshot'
  room_id: string
  epoch: string
  seq: number
  room: RoomInfo
  message_list: MessageEvent[]
  shelf: ShelfItem[]
}

/** Room events of one tick, in order, each exactly as it would have been sent alone (`live.v1.batch` only). */
export interface BatchFrame {
  msg_type: 'batch'
  events: RoomEvent[]
}

export type ServerFrame = InitFrame | PongFrame | AckFrame | ErrorFrame | SnapshotFrame | RoomEvent | BatchFrame

// ---------------------------------------------------------------- HTTP fallback

/** Where the HTTP fallback's requests go, under the server's origin. */
export const HTTP_COMMANDS_PATH = '/api/commands'
export const HTTP_EVENTS_PATH = (roomId: string): string => `/api/rooms/${encodeURIComponent(roomId)}/events`
/** Commands in one `POST /api/commands` at most. */
export const MAX_HTTP_COMMANDS = 50
/** Longest hold of a long poll, in ms (WeChat's request API times out at 60 s). */
export const MAX_HTTP_WAIT_MS = 30000

/**
 * The answer to `POST /api/commands` (a batch of commands; an empty batch checks the token):
 * who the token says the user is, the server's epoch and limits, and an ack per command.
 */
export interface CommandsReply {
  msg_type: 'commands'
  user: AuthUser
  epoch: string
  server_time: number
  max_frame_bytes: number
  acks: AckFrame[]
}

/**
 * The answer to `GET /api/rooms/:room_id/events?since_seq=N&epoch=E&wait_ms=W`: what a socket's
 * join would have sent. `recovered`: `events` are the ones after `since_seq` (none when the
 * hold ran out); otherwise `snapshot` is the room at `seq`.
 */
export interface PollReply {
  msg_type: 'poll'
  room_id: string
  epoch: string
  seq: number
  recovered: boolean
  events: RoomEvent[]
  snapshot?: SnapshotFrame
}

export type HttpReply = CommandsReply | PollReply

// ---------------------------------------------------------------- client -> server

export interface PingCommand {
  msg_type: 'ping'
  t?: number
}

export interface AuthCommand {
  msg_type: 'auth'
  msg_id: string
  token: string
}

export interface JoinCommand {
  msg_type: 'join'
  msg_id: string
  room_id: string
  since_seq?: number
  epoch?: string
}

export interface LeaveCommand {
  msg_type: 'leave'
  msg_id: string
  room_id: string
}

export interface MessageCommand {
  msg_type: 'message'
  msg_id: string
  room_id: string
  content: string
}

export interface LikeCommand {
  msg_type: 'like'
  msg_id: string
  room_id: string
  count: number
}

export interface SubscribeCommand {
  msg_type: 'subscribe'
  msg_id: string
  room_id: string
}

export interface BuyCommand {
  msg_type: 'buy'
  msg_id: string
  room_id: string
  goods_id: string
}

export interface ShelfCommand extends ShelfItem {
  msg_type: 'on_off_shelf'
  msg_id: string
  room_id: string
}

/** A log record in a `report` command: a flat JSON object. */
export type ReportLog = Record<string, JsonValue>

/** Most bytes (serialised) and keys of `cache_fields` a server keeps per connection. */
export const MAX_CACHE_FIELDS_BYTES = 1024
export const MAX_CACHE_FIELDS_KEYS = 32
/** Logs in one `report` at most. */
export const MAX_REPORT_LOGS = 100
/**
 * Over a connection's life, its reports may make the server write at most this many times the
 * bytes of the report frames it sent (each log is written with the cached fields merged in);
 * past it a report gets 4013. A client whose small logs with large cached fields ran out of
 * that allowance sends `cache_fields` again, or more logs per report (the client does both).
 */
export const REPORT_WRITE_FACTOR = 8

export interface ReportCommand {
  msg_type: 'report'
  msg_id: string
  logs: ReportLog[]
  cache_fields?: ReportLog
}

/** Deletes a message of the room (its anchor, or an admin). */
export interface DeleteMessageCommand {
  msg_type: 'delete_message'
  msg_id: string
  room_id: string
  target_msg_id: string
}

/** Mutes a user in the room for `duration_s` seconds (0 lifts the mute; the anchor, or an admin). */
export interface MuteCommand {
  msg_type: 'mute'
  msg_id: string
  room_id: string
  uid: string
  duration_s: number
}

/** Puts a user out of the room; their joins are refused for `duration_s` seconds (the anchor, or an admin). */
export interface KickCommand {
  msg_type: 'kick'
  msg_id: string
  room_id: string
  uid: string
  duration_s: number
}

/** Most seconds a mute or a kick lasts (30 days). */
export const MAX_MODERATION_SECONDS = 2_592_000

export type ClientCommand =
  AuthCommand | JoinCommand | LeaveCommand | MessageCommand | LikeCommand | SubscribeCommand | BuyCommand | ShelfCommand | ReportCommand | DeleteMessageCommand | MuteCommand | KickCommand

export type ClientFrame = PingCommand | ClientCommand

export type CommandType = ClientCommand['msg_type']

/** A JSON value as it comes off the wire. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/** Commands that act on a room: they need the room joined on the current connection. */
export type RoomCommand = Extract<ClientCommand, { room_id: string }>

/** Commands whose messages are room events and carry `seq`. */
export const ROOM_EVENT_TYPES: readonly RoomEventType[] = ['join', 'leave', 'message', 'like', 'subscribe', 'buy', 'on_off_shelf', 'room_state', 'message_deleted', 'muted', 'kicked']

/** Room events carry `seq`; the type guard keeps `snapshot`, `ack` ... apart. */
const ROOM_EVENT_TYPE_SET: ReadonlySet<string> = new Set(ROOM_EVENT_TYPES)

export function isRoomEvent(frame: ServerFrame): frame is RoomEvent {
  return ROOM_EVENT_TYPE_SET.has(frame.msg_type)
}
