import type { LiveClient } from '../connection/client'
import { createLiveRoom, type LiveRoom, type LiveRoomOptions } from '../stores/liveRoom'

/** The scope an app's pages use unless they say otherwise (one app, one client). */
export const DEFAULT_SCOPE = 'app'

const clients = new Map<string, LiveClient>()
const rooms = new Map<string, { scope: string; roomId: string; room: LiveRoom; refs: number }>()
const key = (scope: string, roomId: string): string => `${scope}\u0000${roomId}`

/**
 * Gives the app's one client to every page and component (call once, in `app.ts`).
 * A `scope` other than the default serves pages that set the `liveScope` property:
 * several "devices" in one process (the demo runs a viewer and an anchor side by side).
 *
 * @example
 * // app.ts
 * provideLiveClient(createLiveClient({ url: 'wss://live.example.com/ws', token: getToken }))
 * App({})
 */
export function provideLiveClient(client: LiveClient, scope: string = DEFAULT_SCOPE): void {
  const previous = clients.get(scope)
  if (previous !== undefined && previous !== client) {
    // Rooms of the old client would keep its socket: release them first.
    for (const [k, entry] of rooms) {
      if (entry.scope !== scope) continue
      entry.room.dispose()
      rooms.delete(k)
    }
  }
  clients.set(scope, client)
}

/** The client given to `provideLiveClient`. Throws when none was given (a set-up mistake). */
export function getLiveClient(scope: string = DEFAULT_SCOPE): LiveClient {
  const client = clients.get(scope)
  if (client === undefined) {
    throw new Error(`miniprogram-live-store: call provideLiveClient(client${scope === DEFAULT_SCOPE ? '' : `, '${scope}'`}) in app.ts before pages use rooms`)
  }
  return client
}

/**
 * The stores of a room, shared: every page and component showing the same room gets the
 * same stores and one join. Pair each call with `releaseLiveRoom`.
 */
export function acquireLiveRoom(roomId: string, options?: LiveRoomOptions, scope: string = DEFAULT_SCOPE): LiveRoom {
  const entry = rooms.get(key(scope, roomId))
  if (entry !== undefined) {
    entry.refs++
    return entry.room
  }
  const room = createLiveRoom(getLiveClient(scope), roomId, options)
  rooms.set(key(scope, roomId), { scope, roomId, room, refs: 1 })
  return room
}

/** Lets go of a room taken with `acquireLiveRoom`; the last one out leaves the room. */
export function releaseLiveRoom(roomId: string, scope: string = DEFAULT_SCOPE): void {
  const entry = rooms.get(key(scope, roomId))
  if (entry === undefined) return
  entry.refs--
  if (entry.refs > 0) return
  rooms.delete(key(scope, roomId))
  entry.room.dispose()
}

/** Rooms held right now, with how many users each (`scope/room` outside the default scope). */
export function heldLiveRooms(): Record<string, number> {
  return Object.fromEntries([...rooms.values()].map((e) => [e.scope === DEFAULT_SCOPE ? e.roomId : `${e.scope}/${e.roomId}`, e.refs]))
}
