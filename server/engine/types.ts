import type { AckFrame, RoomEvent, SnapshotFrame } from 'miniprogram-live-store/protocol'
import type { RoomAction, RoomConfig } from '../room'

/** Missed events, when the history still holds all of them. */
export interface Recovery {
  epoch: string
  /** The room's head seq: the last event in `events`, or `since_seq` when nothing was missed. */
  head: number
  events: RoomEvent[]
}

/**
 * What `apply` did. `repeat`: this user's `msg_id` was applied before (perhaps by another
 * process); nothing changed and `repeat` is the ack it got then.
 */
export type ApplyResult =
  /**
   * `quiet`: a membership change applied without a notice (a crowded room): a later `presence` tells the count.
   * `recorded`: the engine wrote the command's ack with the change (its dedup record): nobody need remember it again.
   */
  { ok: true; event?: RoomEvent; quiet?: true; recorded?: true } | { ok: false; code: number; reason: string; until?: number } | { ok?: undefined; repeat: AckFrame }

/** A client command's identity: an engine that shares state applies it at most once. */
export interface CommandKey {
  uid: string
  msgId: string
}

/** The backing store cannot be reached: the command was not applied; the client may retry. */
export class EngineUnavailableError extends Error {
  override readonly name = 'EngineUnavailableError'
}

/** Counters an engine reports into the server's metrics. */
export interface EngineMetrics {
  /** Calls to the backing store that failed. */
  storeErrors(): void
  /** Live events fetched from history because the fan-out channel skipped them. */
  gapFills(count: number): void
  /** Connections of dead processes taken out of rooms. */
  swept(count: number): void
}

/** Called with each event of a room and its JSON text, serialised once for every recipient. */
export type RoomListener = (event: RoomEvent, data: string) => void

/**
 * Room state behind the socket layer. The in-memory engine is the default; a Redis
 * engine lets several processes share rooms. Every method may be async: the socket
 * layer buffers a room's live events while a join reads its snapshot or history.
 */
export interface Engine {
  /**
   * Names the history this engine serves (the `init` frame's epoch). Recovery compares each
   * room's epoch (its snapshot's and join ack's); an engine with one history for all rooms uses this one.
   */
  readonly epoch: string
  /** The room exists or may be created (false: unknown room of a fixed room list). */
  hasRoom(roomId: string): Promise<boolean>
  /** The room is open now: configured, or created by someone and not freed since. */
  isOpen(roomId: string): Promise<boolean>
  /** The room's configuration (anchor, catalogue), if it has one. */
  roomConfig(roomId: string): RoomConfig | undefined
  /**
   * Checks and applies an action: the resulting event gets the room's next seq and goes to
   * every subscriber. With `command`, an engine shared by several processes records the
   * outcome atomically with the change, so a resend to any process is a `repeat`.
   */
  apply(roomId: string, action: RoomAction, command?: CommandKey): Promise<ApplyResult>
  /**
   * Adds likes to the room's merge window: one `like` event per window carries the absolute
   * total. Resolves to the earlier ack when `command` was already counted.
   */
  like(roomId: string, count: number, command?: CommandKey): Promise<AckFrame | undefined>
  /** Events after `sinceSeq` if `epoch` is current and the history holds them all; otherwise null. */
  recover(roomId: string, sinceSeq: number, epoch: string): Promise<Recovery | null>
  /** The room at its current seq. */
  snapshot(roomId: string): Promise<SnapshotFrame>
  /** Live events of a room, from now on. */
  subscribe(roomId: string, listener: RoomListener): () => void
  /**
   * The ack given earlier to this user's `msg_id`, within the dedup window. `roomId`: the
   * command's room (a shared store keeps a room's records beside the room).
   */
  recallAck(uid: string, msgId: string, roomId?: string): Promise<AckFrame | undefined>
  rememberAck(uid: string, msgId: string, ack: AckFrame, roomId?: string): Promise<void>
  /**
   * Claims a command that has no room state of its own (`report`) for this process, atomically
   * across processes: false when another process holds it (its ack follows). An engine that
   * serves one process need not implement it.
   */
  claimCommand?(uid: string, msgId: string): Promise<boolean>
  /** Until when a user is muted and kicked in a room (server ms; 0: not). */
  restriction(roomId: string, uid: string): Promise<{ mutedUntil: number; kickedUntil: number }>
  /** Rooms with state right now. */
  readonly roomCount: number
  /** Ready to serve (false while a backing store is unreachable). */
  readonly healthy: boolean
  /** What the engine sees of its backing store, for `/healthz` (a shared store's topology and connections). */
  storeStatus?(): Record<string, string | number | boolean>
  /**
   * Called when a room's history changed under running connections (a shared store lost the
   * room, or a failover took its seq back): the room has a new epoch, and its clients must
   * rejoin and take snapshots.
   */
  onRoomReset?(listener: (roomId: string, epoch: string) => void): void
  /** The server's counters, for engines that have their own to report. */
  attachMetrics?(metrics: EngineMetrics): void
  close(): Promise<void>
}
