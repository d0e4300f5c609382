/**
 * What a user's actions cost against their account's budgets (server/budgets.ts), whatever the
 * transport: commands, and room history sent again.
 */
import { ErrorCode } from 'miniprogram-live-store/protocol'
import type { Refusal } from './acks'
import type { ServerContext } from './context'
import type { TokenPayload } from './token'

/**
 * Charges one command to the user's budget, shared by every socket and HTTP request of the user:
 * the refusal (4029) when it is spent, else undefined. Socket frames and HTTP commands alike.
 */
export function overCommandBudget(ctx: ServerContext, user: TokenPayload): Refusal | undefined {
  if (ctx.budgets.take('commands', user.uid)) return undefined
  ctx.metrics.framesIn.inc({ type: 'user_rate_limited' })
  const rate = ctx.budgets.limits.commands
  return { code: ErrorCode.rateLimited, reason: `too many commands: a user may send ${rate.perSecond}/s (bursts of ${rate.burst}) over all its connections and HTTP together` }
}

/**
 * A join (or poll) while the user's history budget is in debt: the refusal (4029), else
 * undefined. A room's history sent again (snapshots, recovered events) is paid by its bytes,
 * after the send (`chargeHistory`), so re-joining a room full of long comments is not a way
 * to make the server send megabytes for a few bytes.
 */
export function overHistoryBudget(ctx: ServerContext, user: TokenPayload): Refusal | undefined {
  if (!ctx.budgets.exhausted('historyBytes', user.uid)) return undefined
  ctx.metrics.historyRefused.inc()
  const rate = ctx.budgets.limits.historyBytes
  return {
    code: ErrorCode.rateLimited,
    reason: `too many snapshots: a user may be sent ${Math.round(rate.perSecond * 60)} bytes of room history a minute (bursts of ${rate.burst}); try again in ${ctx.budgets.retryAfter('historyBytes', user.uid)} s`,
  }
}

/** Pays for history sent to the user (a snapshot's or recovered events' bytes). */
export function chargeHistory(ctx: ServerContext, user: TokenPayload, bytes: number): void {
  if (bytes <= 0) return
  ctx.budgets.spend('historyBytes', user.uid, bytes)
  ctx.metrics.historyBytes.inc(bytes)
}
