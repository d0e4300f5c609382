import type { LiveClient } from '../connection/client'
import { createLiveRoom, type LiveRoom, type LiveRoomOptions } from '../stores/liveRoom'

/** The scope an app's pages use unless they say otherwise (one app, one client). */
export const DEFAULT_SCOPE = 'app'

const clients = new Map<string, LiveClient>()
interface Entry {
  scope: string
  roomId: string
  room: LiveRoom
  refs: number
}

const rooms = new Map<string, Entry>()
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

/** One use of a shared room, from `acquireLiveRoom`: give it back with `releaseLiveRoom`. */
export interface LiveRoomHandle {
  readonly roomId: string
  readonly scope: string
  /** The room's stores, shared with every other holder of the same room and scope. */
  readonly room: LiveRoom
}

const entries = new WeakMap<LiveRoomHandle, { entry: Entry; released: boolean }>()

/**
 * The stores of a room, shared: every page and component showing the same room gets the
 * same stores and one join. Returns a handle: pass it to `releaseLiveRoom` when done.
 *
 * @example
 * const handle = acquireLiveRoom('r1')
 * handle.room.roomStore.onlineNum
 * releaseLiveRoom(handle)
 */
export function acquireLiveRoom(roomId: string, options?: LiveRoomOptions, scope: string = DEFAULT_SCOPE): LiveRoomHandle {
  let entry = rooms.get(key(scope, roomId))
  if (entry !== undefined) entry.refs++
  else {
    const client = getLiveClient(scope)
    entry = { scope, roomId, room: createLiveRoom(client, roomId, { scheduler: client.scheduler, ...options }), refs: 1 }
    rooms.set(key(scope, roomId), entry)
  }
  const handle: LiveRoomHandle = Object.freeze({ roomId, scope, room: entry.room })
  entries.set(handle, { entry, released: false })
  return handle
}

/**
 * Gives back what `acquireLiveRoom` returned; the last holder out leaves the room. A handle
 * counts once, and only against the room it was taken from: after `provideLiveClient` replaced
 * the client, releasing an old page's handle leaves the new client's room alone.
 */
export function releaseLiveRoom(handle: LiveRoomHandle): void {
  const held = entries.get(handle)
  if (held === undefined || held.released) return
  held.released = true
  const { entry } = held
  if (rooms.get(key(entry.scope, entry.roomId)) !== entry) return
  entry.refs--
  if (entry.refs > 0) return
  rooms.delete(key(entry.scope, entry.roomId))
  entry.room.dispose()
}

/** Rooms held right now, with how many users each (`scope/room` outside the default scope). */
export function heldLiveRooms(): Record<string, number> {
  return Object.fromEntries([...rooms.values()].map((e) => [e.scope === DEFAULT_SCOPE ? e.roomId : `${e.scope}/${e.roomId}`, e.refs]))
}
