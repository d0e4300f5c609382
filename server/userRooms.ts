/**
 * The rooms each user is in right now in this process, over every socket and HTTP lease: a user
 * counts in a room's `online_num` and takes a share of its fan-out, so the rooms one user may
 * be in at once are capped (a user on two sockets in the same room is in one room).
 */
export class UserRooms {
  private readonly byUser = new Map<string, Map<string, number>>()

  constructor(readonly maxPerUser: number) {
    if (!Number.isInteger(maxPerUser) || maxPerUser < 1) throw new TypeError('maxRoomsPerUser must be a whole number >= 1')
  }

  /** The user may enter this room: already in it, or in fewer than `maxPerUser` rooms. */
  mayEnter(uid: string, roomId: string): boolean {
    const rooms = this.byUser.get(uid)
    return rooms === undefined || rooms.has(roomId) || rooms.size < this.maxPerUser
  }

  /** One more connection (socket or lease) of the user in the room. */
  enter(uid: string, roomId: string): void {
    let rooms = this.byUser.get(uid)
    if (rooms === undefined) this.byUser.set(uid, (rooms = new Map()))
    rooms.set(roomId, (rooms.get(roomId) ?? 0) + 1)
  }

  /** One connection of the user left the room; the user and room are forgotten at zero. */
  leave(uid: string, roomId: string): void {
    const rooms = this.byUser.get(uid)
    const n = rooms?.get(roomId)
    if (rooms === undefined || n === undefined) return
    if (n > 1) rooms.set(roomId, n - 1)
    else {
      rooms.delete(roomId)
      if (rooms.size === 0) this.byUser.delete(uid)
    }
  }

  /** Rooms the user is in now. */
  count(uid: string): number {
    return this.byUser.get(uid)?.size ?? 0
  }

  /** Users in at least one room. */
  get users(): number {
    return this.byUser.size
  }
}
