import type { RedisCommands } from './clients'
import type { MessageEvent, RoomEvent, ShelfItem, SnapshotFrame, UserRef } from 'miniprogram-live-store/protocol'
import { type RoomConfig, SNAPSHOT_MESSAGES } from '../../room'
import { EngineUnavailableError, type Recovery } from '../types'
import type { RoomKeys } from './keys'

/** Runs a Redis call, turning connection failures into `EngineUnavailableError` (the engine's guard). */
type Guard = <T>(call: Promise<T>) => Promise<T>

/** What a recovery read found: the events (null when they cannot all be given), and the room's head as read. */
export interface RecoveryRead {
  recovery: Recovery | null
  /** The room's epoch and seq in Redis (epoch null: no such room). */
  roomEpoch: string | null
  head: number
}

/**
 * The events after `sinceSeq` from the room's history, in one MULTI (one slot: the room's), or
 * null when they cannot all be given: another epoch, a seq past the head, or a gap longer
 * than the history holds.
 */
export async function readRecovery(cmd: RedisCommands, keys: RoomKeys, ask: { sinceSeq: number; epoch: string; historySize: number }, guard: Guard): Promise<RecoveryRead> {
  const { sinceSeq, epoch } = ask
  const results = await guard(
    cmd
      .multi()
      .hmget(keys.meta, 'epoch', 'seq')
      .xrange(keys.hist, `${sinceSeq + 1}-0`, '+')
      .exec(),
  )
  if (results === null) throw new EngineUnavailableError('recovery read was aborted')
  const [[, meta], [, entries]] = results as [[unknown, [string | null, string | null]], [unknown, Array<[string, string[]]>]]
  const [roomEpoch, seqText] = meta
  const head = Number(seqText ?? 0)
  const read = (recovery: Recovery | null): RecoveryRead => ({ recovery, roomEpoch, head })
  if (roomEpoch !== epoch) return read(null)
  if (sinceSeq > head) return read(null)
  if (head - sinceSeq > ask.historySize) return read(null)
  const events = entries.map(([, fields]) => JSON.parse(fields[1]) as RoomEvent)
  if (events.length !== head - sinceSeq) return read(null)
  if (events.length > 0 && events[0].seq !== sinceSeq + 1) return read(null)
  return read({ epoch, head, events })
}

/** A room's state as one MULTI read it: whether the room exists, its epoch and seq, and the snapshot it makes. */
export interface SnapshotRead {
  exists: boolean
  epoch: string
  seq: number
  frame(roomId: string, config: RoomConfig | undefined): SnapshotFrame
}

export async function readSnapshot(cmd: RedisCommands, keys: RoomKeys, guard: Guard): Promise<SnapshotRead> {
  const results = await guard(cmd.multi().hgetall(keys.meta).get(keys.online).scard(keys.subs).lrange(keys.msgs, -SNAPSHOT_MESSAGES, -1).zrange(keys.shelfOrder, '0', '-1').hgetall(keys.shelf).exec())
  if (results === null) throw new EngineUnavailableError('snapshot read was aborted')
  const [meta, online, subs, msgs, order, shelf] = results.map(([, value]) => value) as [Record<string, string>, string | null, number, string[], string[], Record<string, string>]
  return {
    exists: meta.seq !== undefined,
    epoch: meta.epoch ?? '',
    seq: Number(meta.seq ?? 0),
    frame: (roomId, config) => {
      const anchor = meta.anchor !== undefined ? (JSON.parse(meta.anchor) as UserRef) : (config?.anchor ?? { uid: '', name: '' })
      return {
        msg_type: 'snapshot',
        room_id: roomId,
        epoch: meta.epoch ?? '',
        seq: Number(meta.seq ?? 0),
        room: {
          title: meta.title ?? config?.title ?? roomId,
          status: meta.status === 'ended' ? 'ended' : 'live',
          anchor: { uid: anchor.uid, name: anchor.name },
          online_num: Math.max(0, Number(online ?? 0)),
          like_num: Number(meta.like_num ?? 0),
          subscribe_num: subs,
        },
        message_list: msgs.map((text) => JSON.parse(text) as MessageEvent),
        shelf: order.filter((id) => shelf[id] !== undefined).map((id) => JSON.parse(shelf[id]) as ShelfItem),
      }
    },
  }
}

/** Until when a user is muted and kicked in a room (0: not), in one MULTI (the room's slot). */
export async function readRestriction(cmd: RedisCommands, keys: RoomKeys, uid: string, now: number, guard: Guard): Promise<{ mutedUntil: number; kickedUntil: number }> {
  const results = await guard(cmd.multi().hget(keys.mutes, uid).hget(keys.kicks, uid).exec())
  if (results === null) throw new EngineUnavailableError('restriction read was aborted')
  const live = (entry: [Error | null, unknown] | undefined): number => {
    const until = Number(entry?.[1] ?? 0)
    return until > now ? until : 0
  }
  return { mutedUntil: live(results[0]), kickedUntil: live(results[1]) }
}
