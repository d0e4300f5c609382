/** A token bucket: `ratePerSecond` sustained, bursts of `burst`. */
export class TokenBucket {
  private tokens: number
  private updatedAt: number

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst
    this.updatedAt = now()
  }

  /** Full again: a fresh bucket would behave the same, so this one can be dropped. */
  get full(): boolean {
    return this.tokens + ((this.now() - this.updatedAt) / 1000) * this.ratePerSecond >= this.burst
  }

  /** Takes `count` tokens (one by default); false, taking none, when fewer are left. */
  take(count = 1): boolean {
    const now = this.now()
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSecond)
    this.updatedAt = now
    if (this.tokens < count) return false
    this.tokens -= count
    return true
  }

  /** Spends `count` tokens whatever is left: the bucket may go into debt, paid back by the refill. */
  spend(count: number): void {
    const now = this.now()
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSecond) - count
    this.updatedAt = now
  }

  /** Seconds until `count` tokens are there (0: now). */
  secondsUntil(count: number): number {
    const now = this.now()
    const tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSecond)
    return tokens >= count ? 0 : (count - tokens) / this.ratePerSecond
  }
}

/**
 * Takes a token from `key`'s bucket in `buckets` (made on first use). The owner drops full
 * buckets now and then (`bucket.full`): memory grows with active keys, not every key ever seen.
 */
export function takeFrom(buckets: Map<string, TokenBucket>, key: string, rate: { perSecond: number; burst: number }, now: () => number): boolean {
  let bucket = buckets.get(key)
  if (bucket === undefined) {
    bucket = new TokenBucket(rate.perSecond, rate.burst, now)
    buckets.set(key, bucket)
  }
  return bucket.take()
}

/** Counts events in a sliding window of `windowMs`; `hit()` says whether `limit` is exceeded. */
export class WindowCounter {
  private hits: number[] = []

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number,
  ) {}

  hit(): boolean {
    const now = this.now()
    this.hits.push(now)
    while (this.hits.length > 0 && this.hits[0] <= now - this.windowMs) this.hits.shift()
    return this.hits.length > this.limit
  }
}
