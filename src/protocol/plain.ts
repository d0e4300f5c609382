/**
 * The plain frames many live-room backends already speak (the seed articles' protocol): `init`
 * with `client_id`, then `join`, `leave`, `message`, `subscribe`, `buy`, `like` and
 * `on_off_shelf` with flat `from_uid` / `from_name`, `online_num`, and `message_list` on the
 * reply to a join; no `seq`, `ack` or `epoch`. `PlainDecoder` maps them onto `live.v1` frames so
 * the client and the stores work unchanged (docs/protocol.md, "Plain peers").
 *
 * What such a backend cannot give, and so a plain link does not have: recovery (events sent
 * while the link was down are gone; a rejoin shows what the backend's join reply carries),
 * acks (a command counts as delivered once the socket took it: a server-side refusal is not
 * seen), and duplicate or gap detection (no `seq`; events apply in arrival order).
 */
import { ErrorCode } from './codes'
import type { MessageEvent, ServerFrame, ShelfItem } from './frames'
import { checkServerFrame, decodeFrame, type FrameError, type ParseOptions } from './parse'

export type PlainResult = { ok: true; frames: ServerFrame[] } | { ok: false; error: FrameError }

/** Counts a room's frames gave last: filled in where a plain frame leaves one out. */
interface RoomCounts {
  online: number
  likes: number
  subscribes: number
  shelf: Map<string, ShelfItem>
}

const str = (v: unknown, fallback = ''): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : fallback)
const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined)

/**
 * Maps plain frames onto `live.v1` frames, one link after another (it keeps each room's last
 * counts and shelf, which plain frames do not always repeat).
 *
 * @example
 * const decoder = new PlainDecoder()
 * const result = decoder.decode('{"msg_type":"join","room_id":"r","from_uid":"u1","from_name":"Ann","online_num":3}')
 * // { ok: true, frames: [{ msg_type: 'join', room_id: 'r', user: { uid: 'u1', name: 'Ann' }, online_num: 3 }] }
 */
export class PlainDecoder {
  private readonly rooms = new Map<string, RoomCounts>()

  /** Most rooms whose counts are kept (the client joins a few). */
  static readonly MAX_ROOMS = 64

  decode(data: unknown, options?: ParseOptions): PlainResult {
    const decoded = decodeFrame(data, options)
    if (!decoded.ok) return decoded
    const raw = decoded.frame
    const type = raw.msg_type
    if (typeof type !== 'string') return { ok: false, error: { code: ErrorCode.badRequest, reason: 'msg_type must be a string' } }
    const mapped = this.map(type, raw)
    if (mapped === undefined) return { ok: false, error: { code: ErrorCode.badRequest, reason: `unknown msg_type "${type.slice(0, 64)}"`, msg_type: type.slice(0, 64), unknownType: true } }
    const frames: ServerFrame[] = []
    for (const frame of mapped) {
      const checked = checkServerFrame(frame)
      if (!checked.ok) return checked
      frames.push(checked.frame)
    }
    return { ok: true, frames }
  }

  private counts(roomId: string): RoomCounts {
    let counts = this.rooms.get(roomId)
    if (counts === undefined) {
      if (this.rooms.size >= PlainDecoder.MAX_ROOMS) this.rooms.delete(this.rooms.keys().next().value as string)
      counts = { online: 0, likes: 0, subscribes: 0, shelf: new Map() }
      this.rooms.set(roomId, counts)
    }
    return counts
  }

  private map(type: string, raw: Record<string, unknown>): Array<Record<string, unknown>> | undefined {
    const roomId = str(raw.room_id)
    const user = (): { uid: string; name: string } => {
      const nested = raw.user as { uid?: unknown; name?: unknown } | undefined
      return typeof nested === 'object' && nested !== null ? { uid: str(nested.uid), name: str(nested.name) } : { uid: str(raw.from_uid), name: str(raw.from_name) }
    }
    const note = typeof raw.msg_content === 'string' ? { msg_content: raw.msg_content } : {}
    switch (type) {
      case 'init':
        // No epoch: the client takes the link as plain.
        return [{ msg_type: 'init', client_id: str(raw.client_id), ...(count(raw.heartbeat_ms) ? { heartbeat_ms: raw.heartbeat_ms } : {}) }]
      case 'pong':
      case 'error':
        return [raw]
      case 'join':
      case 'leave': {
        const counts = this.counts(roomId)
        counts.online = count(raw.online_num) ?? Math.max(0, counts.online + (type === 'join' ? 1 : -1))
        const event = { msg_type: type, room_id: roomId, user: user(), online_num: counts.online, ...note }
        if (type === 'leave' || !Array.isArray(raw.message_list)) return [event]
        // The reply to a join: the room's recent comments, as a snapshot (a rejoin replaces, it does not add twice).
        const messages: MessageEvent[] = raw.message_list
          .filter((m): m is Record<string, unknown> => typeof m === 'object' && m !== null)
          .map((m) => ({
            msg_type: 'message',
            room_id: roomId,
            from_uid: str(m.from_uid),
            from_name: str(m.from_name),
            content: str(m.content),
            ...(typeof m.msg_id === 'string' ? { msg_id: m.msg_id } : {}),
          }))
        const snapshot = {
          msg_type: 'snapshot',
          room_id: roomId,
          epoch: 'plain',
          seq: 0,
          room: { title: str(raw.title), status: 'live', anchor: { uid: '', name: '' }, online_num: counts.online, like_num: counts.likes, subscribe_num: counts.subscribes },
          message_list: messages,
          shelf: [...counts.shelf.values()].filter((item) => item.status === 'on'),
        }
        return [snapshot, event]
      }
      case 'message':
        return [
          {
            msg_type: 'message',
            room_id: roomId,
            from_uid: str(raw.from_uid),
            from_name: str(raw.from_name),
            content: str(raw.content),
            ...(typeof raw.msg_id === 'string' ? { msg_id: raw.msg_id } : {}),
          },
        ]
      case 'subscribe': {
        const counts = this.counts(roomId)
        counts.subscribes = count(raw.subscribe_num) ?? counts.subscribes + 1
        return [{ msg_type: 'subscribe', room_id: roomId, user: user(), subscribe_num: counts.subscribes, ...note }]
      }
      case 'like': {
        const counts = this.counts(roomId)
        counts.likes = count(raw.like_num) ?? counts.likes + (count(raw.count) ?? 1)
        return [{ msg_type: 'like', room_id: roomId, like_num: counts.likes }]
      }
      case 'buy':
        return [{ msg_type: 'buy', room_id: roomId, user: user(), goods_id: str(raw.goods_id), goods_name: str(raw.goods_name), ...note }]
      case 'on_off_shelf': {
        const item: ShelfItem = {
          goods_id: str(raw.goods_id),
          goods_name: str(raw.goods_name),
          goods_price: count(Number(raw.goods_price)) ?? 0,
          default_image: str(raw.default_image),
          status: raw.status === 'off' ? 'off' : 'on',
        }
        this.counts(roomId).shelf.set(item.goods_id, item)
        return [{ msg_type: 'on_off_shelf', room_id: roomId, ...item }]
      }
      default:
        return undefined
    }
  }
}
