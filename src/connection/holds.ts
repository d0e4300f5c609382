import { Observable, type Subscription } from 'rxjs'
import type { RoomRegistry, RoomUpdate } from './rooms'

/**
 * What keeps the shared connection up: each room in use (one channel and one hold each,
 * however many subscribers), and commands waiting for an ack (a send with no room open
 * connects). The last hold let go lets the connection linger, then close.
 */
export class ConnectionHolds {
  private readonly roomUses = new Map<string, { subscribers: number; connection: Subscription }>()
  private commandHold: Subscription | undefined

  constructor(
    private readonly connection$: Observable<unknown>,
    private readonly rooms: RoomRegistry,
    private readonly isClosed: () => boolean,
  ) {}

  /** A room's updates: the first subscriber joins it, the last one out leaves it. */
  room(roomId: string): Observable<RoomUpdate> {
    if (typeof roomId !== 'string' || roomId.length === 0) throw new TypeError('room(roomId): roomId must be a non-empty string')
    const { rooms, roomUses } = this
    return new Observable<RoomUpdate>((subscriber) => {
      // Closed is final: nothing joins, nothing connects.
      if (this.isClosed()) {
        subscriber.complete()
        return undefined
      }
      let use = roomUses.get(roomId)
      if (use === undefined) {
        rooms.add(roomId)
        use = { subscribers: 0, connection: this.connection$.subscribe() }
        roomUses.set(roomId, use)
      }
      const held = use
      held.subscribers++
      // A late subscriber starts from the room's current state, then follows it live; when
      // too much happened to replay, from a fresh snapshot (asked for once it listens).
      const replay = rooms.replay(roomId)
      for (const update of replay ?? []) subscriber.next(update)
      const live = rooms.updates(roomId)?.subscribe(subscriber)
      if (replay === undefined) rooms.refresh(roomId)
      return () => {
        live?.unsubscribe()
        held.subscribers--
        if (held.subscribers > 0 || roomUses.get(roomId) !== held) return
        roomUses.delete(roomId)
        rooms.remove(roomId)
        held.connection.unsubscribe()
      }
    })
  }

  /** Commands waiting for an ack: `pending` of them now. */
  commands(pending: number): void {
    if (pending > 0 && this.commandHold === undefined && !this.isClosed()) this.commandHold = this.connection$.subscribe()
    else if (pending === 0 && this.commandHold !== undefined) {
      const hold = this.commandHold
      this.commandHold = undefined
      hold.unsubscribe()
    }
  }

  /** `source$`, holding the connection while subscribed (its errors and completion end it too). */
  whileHeld<T>(source$: Observable<T>): Observable<T> {
    return new Observable<T>((subscriber) => {
      const values = source$.subscribe(subscriber)
      const connection = this.connection$.subscribe({ error: (error: unknown) => subscriber.error(error), complete: () => subscriber.complete() })
      return () => {
        values.unsubscribe()
        connection.unsubscribe()
      }
    })
  }

  /** The client closed: holds are gone with the connection (which ends on its own). */
  clear(): void {
    this.roomUses.clear()
    this.commandHold = undefined
  }
}
