import { CloseCode, type RoomEvent } from 'miniprogram-live-store/protocol'
import type { ServerContext } from './context'
import type { TokenPayload } from './token'
import type { FanoutMember, PreparedFrame } from './fanout'

/** What a membership needs of its connection (connection.ts's `LiveConnection`). */
export interface MemberConnection {
  readonly ctx: ServerContext
  readonly batch: boolean
  sendPrepared(frame: PreparedFrame): void
  sendData(data: string, type: string): void
  readonly user: TokenPayload | undefined
  close(code: number, reason: string): void
  leave(roomId: string, user: TokenPayload): Promise<void>
}

/** A connection's place in one room: its member of the room's fan-out. */
export class Membership implements FanoutMember {
  /** Live events that arrived while the join was reading its snapshot or history. */
  buffer: Array<[RoomEvent, string]> | undefined = []
  /** The last seq this connection has (its snapshot's, then the last event sent to it). */
  head = 0

  constructor(
    readonly roomId: string,
    private readonly connection: MemberConnection,
  ) {}

  /** Takes this member out of its room's fan-out (again is harmless). */
  unsubscribe(): void {
    this.connection.ctx.fanouts.leave(this.roomId, this)
  }

  get batch(): boolean {
    return this.connection.batch
  }
  get joining(): boolean {
    return this.buffer !== undefined
  }
  hold(event: RoomEvent, data: string): void {
    this.buffer?.push([event, data])
  }
  sendPrepared(frame: PreparedFrame): void {
    this.connection.sendPrepared(frame)
  }
  sendText(text: string, type: string): void {
    this.connection.sendData(text, type)
  }
  /** docs/protocol.md, "Close codes": 1012, the room's history was lost; the client rejoins to a snapshot. */
  historyLost(): void {
    this.connection.close(CloseCode.serviceRestart, 'room history lost, rejoin')
  }
  /** A `kicked` event: when it names this connection's user, they are told and leave the room at once. */
  kickedOut(uid: string, data: string): void {
    const user = this.connection.user
    if (user?.uid !== uid) return
    this.connection.sendData(data, 'kicked')
    this.connection.leave(this.roomId, user).catch(() => undefined)
  }
}

/**
 * The rooms a connection is in: most viewers are in one, held as is; a Map only from the
 * second (a Map and its table cost ~300 B, a tenth of a connection).
 */
export type Rooms = Membership | Map<string, Membership> | undefined

export function roomOf(rooms: Rooms, roomId: string): Membership | undefined {
  return rooms instanceof Map ? rooms.get(roomId) : rooms?.roomId === roomId ? rooms : undefined
}

/** `rooms` with `membership` in it (replacing the room's earlier one). */
export function withRoom(rooms: Rooms, membership: Membership): Rooms {
  if (rooms === undefined || (!(rooms instanceof Map) && rooms.roomId === membership.roomId)) return membership
  if (rooms instanceof Map) return rooms.set(membership.roomId, membership)
  return new Map([
    [rooms.roomId, rooms],
    [membership.roomId, membership],
  ])
}

export function withoutRoom(rooms: Rooms, roomId: string): Rooms {
  if (rooms instanceof Map) {
    rooms.delete(roomId)
    return rooms
  }
  return rooms?.roomId === roomId ? undefined : rooms
}

export function allRooms(rooms: Rooms): Membership[] {
  return rooms instanceof Map ? [...rooms.values()] : rooms !== undefined ? [rooms] : []
}
