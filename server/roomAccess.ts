/**
 * A room's door, for both transports: who may open or enter a room (the join gate and its
 * wording), and the presence notices of entering and leaving it.
 */
import { ErrorCode } from 'miniprogram-live-store/protocol'
import { type Refusal, STORE_UNREACHABLE, tooManyRooms } from './acks'
import type { ServerContext } from './context'
import type { ApplyResult } from './engine/types'
import { type TokenPayload, userRef } from './token'

/**
 * The join gate, for both transports (and a shelf change): why this user may not open (or find)
 * the room, or undefined when they may. Opening a room that is not open yet costs the server
 * memory: a user may open `roomCreationRate` rooms (4029 past it), and the process holds
 * `maxRooms` at most (4500: try again later).
 */
export async function mayOpen(ctx: ServerContext, roomId: string, user: TokenPayload): Promise<Refusal | undefined> {
  const { engine } = ctx
  if (!(await engine.hasRoom(roomId))) return { code: ErrorCode.notFound, reason: `no room ${roomId}` }
  if (await engine.isOpen(roomId)) return undefined
  if (ctx.roomCreation === 'fixed' || (ctx.roomCreation === 'anchors' && !isAnchorOf(ctx, roomId, user))) {
    return { code: ErrorCode.notFound, reason: `room ${roomId} is not open: ${ctx.roomCreation === 'anchors' ? 'its anchor opens it' : 'not on the room list'}` }
  }
  if (engine.roomCount >= ctx.maxRooms) {
    ctx.metrics.roomsRefused.inc({ reason: 'server_full' })
    return { code: ErrorCode.internal, reason: `this server holds its maximum of ${ctx.maxRooms} rooms, try again later` }
  }
  if (!ctx.budgets.take('roomOpens', user.uid)) {
    ctx.metrics.roomsRefused.inc({ reason: 'user_rate' })
    const rate = ctx.budgets.limits.roomOpens
    return { code: ErrorCode.rateLimited, reason: `too many new rooms: a user may open ${rate.burst}, then ${Math.round(rate.perSecond * 60)} a minute` }
  }
  return undefined
}

/** May moderate the room (delete messages, mute, kick): its anchor, or a token with `role: "admin"`. */
export function mayModerate(ctx: ServerContext, roomId: string, user: TokenPayload): boolean {
  return user.role === 'admin' || isAnchorOf(ctx, roomId, user)
}

export function isAnchorOf(ctx: ServerContext, roomId: string, user: TokenPayload): boolean {
  if (user.role !== 'anchor') return false
  if (user.rooms?.includes(roomId)) return true
  return ctx.engine.roomConfig(roomId)?.anchor?.uid === user.uid
}

/**
 * The join gate: why this user may not enter the room now (a socket's join, an HTTP poll's lease),
 * or undefined. `alreadyIn`: the user is in the room on another connection (it counts once).
 */
export async function joinGate(ctx: ServerContext, roomId: string, user: TokenPayload, alreadyIn: boolean): Promise<Refusal | undefined> {
  // Rooms joined already keep being served; a new join would read a store that is not there.
  if (!ctx.engine.healthy) return STORE_UNREACHABLE
  const refused = await mayOpen(ctx, roomId, user)
  if (refused !== undefined) return refused
  if (!alreadyIn && !ctx.userRooms.mayEnter(user.uid, roomId)) return tooManyRooms(ctx.userRooms.maxPerUser)
  const { kickedUntil } = await ctx.engine.restriction(roomId, user.uid)
  if (kickedUntil > 0) return { code: ErrorCode.kicked, reason: 'you were put out of this room', until: kickedUntil }
  return undefined
}

/** Tells the room a user entered it on a connection (`connId`: a socket's id, or the user's HTTP presence). */
export function announceEnter(ctx: ServerContext, roomId: string, connId: string, user: TokenPayload): Promise<ApplyResult> {
  return ctx.presence.change(roomId, { type: 'join', connId, user: userRef(user), anchor: isAnchorOf(ctx, roomId, user) })
}

/** Tells the room a user's connection left it. */
export function announceLeave(ctx: ServerContext, roomId: string, connId: string, user: TokenPayload): Promise<ApplyResult> {
  return ctx.presence.change(roomId, { type: 'leave', connId, user: userRef(user) })
}
