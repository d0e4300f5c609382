import type Redis from 'ioredis'
import type { MessageEvent, RoomEvent, ShelfItem, SnapshotFrame, UserRef } from 'miniprogram-live-store/protocol'
import { type RoomConfig, SNAPSHOT_MESSAGES } from '../../room'
import { EngineUnavailableError, type Recovery } from '../types'
import type { RoomKeys } from './keys'

/** Runs a Redis call, turning connection failures into `EngineUnavailableError` (the engine's guard). */
type Guard = <T>(call: Promise<T>) => Promise<T>

/**
 * The events after `sinceSeq` from the room's history, in one MULTI, or null when they cannot
 * all be given: another epoch (the store's or the room's), a seq past the head, or a gap
 * longer than the history holds.
 */
export async function readRecovery(cmd: Redis, keys: RoomKeys, ask: { sinceSeq: number; epoch: string; storeEpoch: string; historySize: number }, guard: Guard): Promise<Recovery | null> {
  const { sinceSeq, epoch } = ask
  const results = await guard(
    cmd
      .multi()
      .get(keys.epoch)
      .hget(keys.meta, 'seq')
      .xrange(keys.hist, `${sinceSeq + 1}-0`, '+')
      .hget(keys.meta, 'epoch')
      .exec(),
  )
  if (results === null) throw new EngineUnavailableError('recovery read was aborted')
  const [[, storedEpoch], [, seqText], [, entries], [, roomEpoch]] = results as [[unknown, string | null], [unknown, string | null], [unknown, Array<[string, string[]]>], [unknown, string | null]]
  if (storedEpoch !== ask.storeEpoch || (roomEpoch ?? storedEpoch) !== epoch) return null
  const head = Number(seqText ?? 0)
  if (sinceSeq > head) return null
  if (head - sinceSeq > ask.historySize) return null
  const events = entries.map(([, fields]) => JSON.parse(fields[1]) as RoomEvent)
  if (events.length !== head - sinceSeq) return null
  if (events.length > 0 && events[0].seq !== sinceSeq + 1) return null
  return { epoch, head, events }
}

/** A room's state as one MULTI read it: whether the room exists, the store's epoch, and the snapshot it makes. */
export interface SnapshotRead {
  exists: boolean
  storeEpoch: string | null
  frame(roomId: string, config: RoomConfig | undefined, currentEpoch: string): SnapshotFrame
}

export async function readSnapshot(cmd: Redis, keys: RoomKeys, guard: Guard): Promise<SnapshotRead> {
  const results = await guard(
    cmd.multi().get(keys.epoch).hgetall(keys.meta).get(keys.online).scard(keys.subs).lrange(keys.msgs, -SNAPSHOT_MESSAGES, -1).zrange(keys.shelfOrder, '0', '-1').hgetall(keys.shelf).exec(),
  )
  if (results === null) throw new EngineUnavailableError('snapshot read was aborted')
  const [storeEpoch, meta, online, subs, msgs, order, shelf] = results.map(([, value]) => value) as [
    string | null,
    Record<string, string>,
    string | null,
    number,
    string[],
    string[],
    Record<string, string>,
  ]
  return {
    exists: meta.seq !== undefined,
    storeEpoch,
    frame: (roomId, config, currentEpoch) => {
      const anchor = meta.anchor !== undefined ? (JSON.parse(meta.anchor) as UserRef) : (config?.anchor ?? { uid: '', name: '' })
      return {
        msg_type: 'snapshot',
        room_id: roomId,
        // The room's own epoch (a room created again after its keys expired has one), else the store's.
        epoch: meta.epoch ?? currentEpoch,
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
