/**
 * The commands that change something (`message`, `like`, `subscribe`, `buy`, `on_off_shelf`,
 * `report`): checked, deduplicated by `msg_id` and applied the same way whichever transport
 * brought them (a WebSocket connection, or `POST /api/commands` of the HTTP fallback).
 */
import {
  type AckFrame,
  type ClientCommand,
  ErrorCode,
  MAX_CACHE_FIELDS_BYTES,
  MAX_CACHE_FIELDS_KEYS,
  MAX_CONTENT_LENGTH,
  normalizeContent,
  REPORT_WRITE_FACTOR,
  type ReportCommand,
  type ReportLog,
} from 'miniprogram-live-store/protocol'
import { isFinal, refusal } from './acks'
import type { ServerContext } from './context'
import { runContentCheck } from './contentCheck'
import type { ApplyResult } from './engine/types'
import { isAnchorOf, mayModerate, mayOpen } from './roomAccess'
import type { RoomAction } from './room'
import { type TokenPayload, userRef } from './token'

/** Commands that change something: deduplicated per user by `msg_id`. */
export const APPLYING: ReadonlySet<string> = new Set(['message', 'like', 'subscribe', 'buy', 'on_off_shelf', 'report', 'delete_message', 'mute', 'kick'])

/** The connection a command came on, as the command path needs to know it. */
export interface CommandActor {
  /** In the room now (joined on a socket, or polling it over HTTP). */
  isMember(roomId: string): boolean
  /** The `cache_fields` this connection's reports carried so far (per connection: docs/protocol.md, "Commands"). */
  cacheFields: ReportLog | undefined
  /** Bytes of `report` frames this connection sent, and bytes its reports wrote: written <= REPORT_WRITE_FACTOR x received. */
  reportBytes: { received: number; written: number }
}

/** Acks the engine recorded with the change itself (a shared store's dedup record): not written twice. */
const RECORDED = new WeakSet<AckFrame>()

/** The ack of an engine's answer: a repeat's earlier ack, the applied change's (marked when the engine recorded it), or the refusal. */
function answerOf(result: ApplyResult, msgId: string, roomId: string): AckFrame {
  if (result.ok === undefined) return { ...result.repeat, dup: true }
  if (!result.ok) return refusal(msgId, result.code, result.reason, result.until)
  const ack: AckFrame = { msg_type: 'ack', msg_id: msgId, ok: true, room_id: roomId, ...(result.event ? { seq: result.event.seq } : {}) }
  if (result.recorded === true) RECORDED.add(ack)
  return ack
}

/** Runs a command once per user and `msg_id`: a resend gets the first one's ack, marked `dup`. */
export async function runCommand(ctx: ServerContext, actor: CommandActor, user: TokenPayload, frame: ClientCommand, frameBytes: number): Promise<AckFrame> {
  if (!APPLYING.has(frame.msg_type)) return refusal(frame.msg_id, ErrorCode.badRequest, 'unknown command')
  // A key no uid can forge: "x:y" + "z" must not meet "x" + "y:z".
  const key = JSON.stringify([user.uid, frame.msg_id])
  // A command on a room keeps its dedup record beside the room (one slot of a Redis Cluster).
  const roomId = 'room_id' in frame ? frame.room_id : undefined
  const earlier = (await ctx.engine.recallAck(user.uid, frame.msg_id, roomId)) ?? (await ctx.inflight.get(key))
  if (earlier !== undefined) return { ...earlier, dup: true }
  // A report changes no room state an engine could make atomic with its dedup: claim it
  // across processes first, or two processes given the same msg_id at once both write it.
  if (frame.msg_type === 'report' && ctx.engine.claimCommand !== undefined && !(await ctx.engine.claimCommand(user.uid, frame.msg_id))) {
    const ack = await waitForAck(ctx, user.uid, frame.msg_id)
    return ack !== undefined ? { ...ack, dup: true } : refusal(frame.msg_id, ErrorCode.internal, 'the same report is being written by another server, try again')
  }
  const applying = apply(ctx, actor, user, frame, frameBytes)
  ctx.inflight.set(key, applying)
  try {
    const ack = await applying
    // Only final answers are remembered: what was applied, and a command malformed in itself.
    // A refusal that depends on state (not joined, rate limited, not on the shelf, the store
    // unreachable) is judged anew on a resend: remembering it would lose the comment for good.
    // A repeat found by the engine is remembered there already.
    if (ack.dup !== true && isFinal(ack) && !RECORDED.has(ack)) await ctx.engine.rememberAck(user.uid, frame.msg_id, ack, roomId)
    return ack
  } finally {
    ctx.inflight.delete(key)
  }
}

async function apply(ctx: ServerContext, actor: CommandActor, user: TokenPayload, frame: ClientCommand, frameBytes: number): Promise<AckFrame> {
  const msgId = frame.msg_id
  const command = { uid: user.uid, msgId }
  const ok: AckFrame = { msg_type: 'ack', msg_id: msgId, ok: true }
  const no = (code: number, reason: string): AckFrame => refusal(msgId, code, reason)
  if (frame.msg_type === 'report') return report(ctx, actor, user, frame, frameBytes)
  if (!('room_id' in frame)) return no(ErrorCode.badRequest, 'unknown command')
  const roomId = frame.room_id
  const { engine } = ctx
  if (frame.msg_type === 'on_off_shelf') {
    if (!isAnchorOf(ctx, roomId, user)) return no(ErrorCode.forbidden, 'only the anchor of this room may change its shelf')
    // A shelf change must not open a room a join could not (an unlisted room of a fixed list).
    const refused = await mayOpen(ctx, roomId, user)
    if (refused !== undefined) return no(refused.code, refused.reason)
    const result = await engine.apply(
      roomId,
      {
        type: 'shelf',
        item: {
          goods_id: frame.goods_id,
          goods_name: frame.goods_name,
          goods_price: frame.goods_price,
          default_image: frame.default_image,
          status: frame.status,
        },
      },
      command,
    )
    return answerOf(result, msgId, roomId)
  }
  if (frame.msg_type === 'delete_message' || frame.msg_type === 'mute' || frame.msg_type === 'kick') {
    // Authorized from the token only: the room's anchor, or an admin (who need not have joined).
    if (!mayModerate(ctx, roomId, user)) return no(ErrorCode.forbidden, `only the anchor of this room or an admin may ${frame.msg_type.replace('_', ' ')}`)
    if (!ctx.budgets.take('messages', user.uid)) return no(ErrorCode.rateLimited, 'too many moderation commands')
    if (!(await engine.isOpen(roomId))) return no(ErrorCode.notFound, `room ${roomId} is not open`)
    const by = userRef(user)
    const moderation: RoomAction =
      frame.msg_type === 'delete_message' ? { type: 'delete_message', targetMsgId: frame.target_msg_id, by } : { type: frame.msg_type, uid: frame.uid, durationMs: frame.duration_s * 1000, by }
    return answerOf(await engine.apply(roomId, moderation, command), msgId, roomId)
  }
  if (!actor.isMember(roomId)) return no(ErrorCode.forbidden, 'join the room first')
  let action: RoomAction
  switch (frame.msg_type) {
    case 'message': {
      const content = normalizeContent(frame.content)
      if (!content.ok) return no(ErrorCode.badRequest, content.reason)
      if (!ctx.budgets.take('messages', user.uid)) return no(ErrorCode.rateLimited, 'too many messages')
      let text = content.content
      if (ctx.contentCheck !== undefined) {
        const verdict = await runContentCheck(ctx.contentCheck, text, { user: userRef(user), roomId }, (label) => ctx.metrics.contentChecks.inc({ verdict: label }), ctx.clock)
        if (verdict.verdict === 'refuse') return no(ErrorCode.contentRefused, verdict.reason)
        // The masked text is what everyone sees, the sender too (its echo is the truth).
        if (verdict.verdict === 'mask') text = [...verdict.content].slice(0, MAX_CONTENT_LENGTH).join('') || text
      }
      action = { type: 'message', msgId, user: userRef(user), content: text }
      break
    }
    case 'like': {
      const earlier = await engine.like(roomId, frame.count, command)
      return earlier !== undefined ? { ...earlier, dup: true } : { ...ok, room_id: roomId }
    }
    case 'subscribe':
      action = { type: 'subscribe', user: userRef(user) }
      break
    case 'buy':
      // Each purchase is a notice to the whole room: the same per-user budget as comments.
      if (!ctx.budgets.take('messages', user.uid)) return no(ErrorCode.rateLimited, 'too many purchases')
      action = { type: 'buy', user: userRef(user), goodsId: frame.goods_id }
      break
    default:
      return no(ErrorCode.badRequest, 'unknown command')
  }
  return answerOf(await engine.apply(roomId, action, command), msgId, roomId)
}

async function report(ctx: ServerContext, actor: CommandActor, user: TokenPayload, frame: ReportCommand, frameBytes: number): Promise<AckFrame> {
  const no = (code: number, reason: string): AckFrame => refusal(frame.msg_id, code, reason)
  let cache = actor.cacheFields
  if (frame.cache_fields) {
    cache = { ...(cache ?? {}), ...frame.cache_fields }
    const keys = Object.keys(cache).length
    const bytes = Buffer.byteLength(JSON.stringify(cache))
    if (keys > MAX_CACHE_FIELDS_KEYS || bytes > MAX_CACHE_FIELDS_BYTES) {
      return no(ErrorCode.tooLarge, `cache_fields would hold ${keys} keys, ${bytes} bytes; at most ${MAX_CACHE_FIELDS_KEYS} keys, ${MAX_CACHE_FIELDS_BYTES} bytes per connection`)
    }
  }
  // A log's own field wins over a cached one.
  const lines = frame.logs.map((log) => JSON.stringify(cache === undefined ? log : { ...cache, ...log }))
  const written = lines.reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0)
  // What a connection's reports write is bounded by what it sent, over the connection's life:
  // cached fields travel once, yet each log written with them is paid for by bytes received.
  const bytes = actor.reportBytes
  bytes.received += frameBytes
  ctx.metrics.reportBytes.inc({ direction: 'in' }, frameBytes)
  const allowed = REPORT_WRITE_FACTOR * bytes.received - bytes.written
  if (written > allowed) {
    ctx.metrics.reportsRefused.inc({ reason: 'amplification' })
    return no(
      ErrorCode.tooLarge,
      `this report would write ${written} bytes; this connection may write ${allowed} more (${REPORT_WRITE_FACTOR}x the bytes its reports sent): send more logs per report, or send cache_fields again`,
    )
  }
  // And per user, whatever the transport: report bytes on disk a minute.
  if (!ctx.budgets.take('reportBytes', user.uid, written)) {
    ctx.metrics.reportsRefused.inc({ reason: 'user_budget' })
    const rate = ctx.budgets.limits.reportBytes
    return no(
      ErrorCode.rateLimited,
      `too many report bytes: a user may write ${Math.round(rate.perSecond * 60)} bytes a minute (bursts of ${rate.burst}); try again in ${ctx.budgets.retryAfter('reportBytes', user.uid, written)} s`,
    )
  }
  actor.cacheFields = cache
  bytes.written += written
  await ctx.reports.appendLines(lines)
  ctx.metrics.reportBytes.inc({ direction: 'written' }, written)
  return { msg_type: 'ack', msg_id: frame.msg_id, ok: true, accepted: lines.length }
}

/** The ack another process is about to record for a claimed command (polls for up to 5 s). */
async function waitForAck(ctx: ServerContext, uid: string, msgId: string): Promise<AckFrame | undefined> {
  for (let i = 0; i < 50; i++) {
    const ack = await ctx.engine.recallAck(uid, msgId)
    if (ack !== undefined) return ack
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return undefined
}
