import { TokenBucket } from './rateLimit'
import { SERVER_DEFAULTS } from './defaults'

/** A sustained rate and the burst a full bucket allows. */
export interface Rate {
  perSecond: number
  burst: number
}

/**
 * What one account may cost this process, whatever the transport and however many
 * connections it holds: each is a token bucket per user.
 */
export interface AccountLimits {
  /** Commands (everything but `ping` and `auth`), on every socket and over HTTP together. Default: the per-connection `rateLimit` (20/s, bursts of 40). */
  commands: Rate
  /** `message` and `buy` (each goes to the whole room). Default 5/s, bursts of 5. */
  messages: Rate
  /** Rooms opened (a join of a room nobody holds). Default 10, then 10 a minute. */
  roomOpens: Rate
  /** Bytes of `report` logs written to `reports.jsonl`. Default 1 MiB a minute, bursts of 1 MiB. */
  reportBytes: Rate
  /**
   * Bytes of a room's history sent to the user again: snapshots, and events a join recovered or
   * a poll read a second time (live events are free). Spent after the send (it may go into debt);
   * while in debt, joins get 4029 and polls 429. Default 1 MiB a minute, bursts of 1 MiB.
   */
  historyBytes: Rate
}

export type AccountCost = keyof AccountLimits

export const DEFAULT_ACCOUNT_LIMITS: AccountLimits = {
  commands: SERVER_DEFAULTS.rateLimit,
  messages: SERVER_DEFAULTS.messageRateLimit,
  roomOpens: { perSecond: 10 / 60, burst: 10 },
  reportBytes: { perSecond: (1024 * 1024) / 60, burst: 1024 * 1024 },
  historyBytes: { perSecond: (1024 * 1024) / 60, burst: 1024 * 1024 },
}

/**
 * The cost model per account: one bucket per user and kind of cost, shared by the user's
 * sockets and HTTP requests in this process. Buckets that are full again are dropped by
 * `sweep()`: memory grows with the users active lately, not every user ever seen.
 */
export class AccountBudgets {
  private readonly buckets = new Map<AccountCost, Map<string, TokenBucket>>()

  constructor(
    readonly limits: AccountLimits,
    private readonly now: () => number,
  ) {
    for (const [kind, rate] of Object.entries(limits) as Array<[AccountCost, Rate]>) {
      if (!(rate.perSecond > 0) || !(rate.burst >= 1)) throw new TypeError(`account limits: ${kind} needs perSecond > 0 and burst >= 1`)
      this.buckets.set(kind, new Map())
    }
  }

  /** Takes `count` units of `kind` from `uid`'s budget; false (taking nothing) when it has fewer. */
  take(kind: AccountCost, uid: string, count = 1): boolean {
    return this.bucket(kind, uid).take(count)
  }

  /** Spends `count` units of `kind` whatever is left (a cost known only once paid): the budget may go into debt. */
  spend(kind: AccountCost, uid: string, count: number): void {
    this.bucket(kind, uid).spend(count)
  }

  /** Nothing left of `uid`'s budget of `kind` (it is in debt, or empty). */
  exhausted(kind: AccountCost, uid: string): boolean {
    return this.bucket(kind, uid).secondsUntil(1) > 0
  }

  /** Whole seconds until `uid` could take `count` units of `kind` (for a refusal's reason). */
  retryAfter(kind: AccountCost, uid: string, count = 1): number {
    if (count > this.limits[kind].burst) return Infinity
    return Math.ceil(this.bucket(kind, uid).secondsUntil(count))
  }

  /** Users with a bucket now, over every kind. */
  get size(): number {
    let n = 0
    for (const users of this.buckets.values()) n += users.size
    return n
  }

  /** Drops the buckets that are full again: a fresh one would behave the same. */
  sweep(): void {
    for (const users of this.buckets.values()) for (const [uid, bucket] of users) if (bucket.full) users.delete(uid)
  }

  private bucket(kind: AccountCost, uid: string): TokenBucket {
    const users = this.buckets.get(kind)
    if (users === undefined) throw new TypeError(`no account limit ${kind}`)
    let bucket = users.get(uid)
    if (bucket === undefined) {
      const rate = this.limits[kind]
      bucket = new TokenBucket(rate.perSecond, rate.burst, this.now)
      users.set(uid, bucket)
    }
    return bucket
  }
}
