import type { AckFrame, RoomEvent, SnapshotFrame } from '../../src/protocol/frames'
import type { RoomAction, RoomConfig } from '../room'

/** Missed events, when the history still holds all of them. */
export interface Recovery {
  epoch: string
  /** The room's head seq: the last event in `events`, or `since_seq` when nothing was missed. */
  head: number
  events: RoomEvent[]
}

export type ApplyResult = { ok: true; event?: RoomEvent } | { ok: false; code: number; reason: string }

/** Called with each event of a room and its JSON text, serialised once for every recipient. */
export type RoomListener = (event: RoomEvent, data: string) => void

/**
 * Room state behind the socket layer. The in-memory engine is the default; a Redis
 * engine lets several processes share rooms. Every method may be async: the socket
 * layer buffers a room's live events while a join reads its snapshot or history.
 */
export interface Engine {
  /** Names the history this engine serves; a new epoch means history was lost. */
  readonly epoch: string
  /** The room exists or may be created (false: unknown room of a fixed room list). */
  hasRoom(roomId: string): Promise<boolean>
  /** The room's configuration (anchor, catalogue), if it has one. */
  roomConfig(roomId: string): RoomConfig | undefined
  /** Checks and applies an action: the resulting event gets the room's next seq and goes to every subscriber. */
  apply(roomId: string, action: RoomAction): Promise<ApplyResult>
  /** Adds likes to the room's merge window: one `like` event per window carries the absolute total. */
  like(roomId: string, count: number): Promise<void>
  /** Events after `sinceSeq` if `epoch` is current and the history holds them all; otherwise null. */
  recover(roomId: string, sinceSeq: number, epoch: string): Promise<Recovery | null>
  /** The room at its current seq. */
  snapshot(roomId: string): Promise<SnapshotFrame>
  /** Live events of a room, from now on. */
  subscribe(roomId: string, listener: RoomListener): () => void
  /** The ack given earlier to this user's `msg_id`, within the dedup window. */
  recallAck(uid: string, msgId: string): Promise<AckFrame | undefined>
  rememberAck(uid: string, msgId: string, ack: AckFrame): Promise<void>
  /** Rooms with state right now. */
  readonly roomCount: number
  /** Ready to serve (false while a backing store is unreachable). */
  readonly healthy: boolean
  close(): Promise<void>
}
