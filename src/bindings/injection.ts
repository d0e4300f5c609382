import type { LiveClient } from '../connection/client'
import { createLiveRoom, type LiveRoom, type LiveRoomOptions } from '../stores/liveRoom'

let provided: LiveClient | undefined
const rooms = new Map<string, { room: LiveRoom; refs: number }>()

/**
 * Gives the app's one client to every page and component (call once, in `app.ts`).
 *
 * @example
 * // app.ts
 * provideLiveClient(createLiveClient({ url: 'wss://live.example.com/ws', token: getToken }))
 * App({})
 */
export function provideLiveClient(client: LiveClient): void {
  if (provided !== undefined && provided !== client) {
    // Rooms of the old client would keep its socket: release them first.
    for (const { room } of rooms.values()) room.dispose()
    rooms.clear()
  }
  provided = client
}

/** The client given to `provideLiveClient`. Throws when none was given (a set-up mistake). */
export function getLiveClient(): LiveClient {
  if (provided === undefined) throw new Error('miniprogram-live-store: call provideLiveClient(client) in app.ts before pages use rooms')
  return provided
}

/**
 * The stores of a room, shared: every page and component showing the same room gets the
 * same stores and one join. Pair each call with `releaseLiveRoom`.
 */
export function acquireLiveRoom(roomId: string, options?: LiveRoomOptions): LiveRoom {
  const entry = rooms.get(roomId)
  if (entry !== undefined) {
    entry.refs++
    return entry.room
  }
  const room = createLiveRoom(getLiveClient(), roomId, options)
  rooms.set(roomId, { room, refs: 1 })
  return room
}

/** Lets go of a room taken with `acquireLiveRoom`; the last one out leaves the room. */
export function releaseLiveRoom(roomId: string): void {
  const entry = rooms.get(roomId)
  if (entry === undefined) return
  entry.refs--
  if (entry.refs > 0) return
  rooms.delete(roomId)
  entry.room.dispose()
}

/** Rooms held right now, with how many users each (for tests and diagnostics). */
export function heldLiveRooms(): Record<string, number> {
  return Object.fromEntries([...rooms.entries()].map(([id, e]) => [id, e.refs]))
}
