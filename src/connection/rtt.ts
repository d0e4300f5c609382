/** Round-trip estimates from ping/pong, RFC 6298 style. */
export interface RttEstimate {
  /** The latest sample. */
  lastMs: number
  /** Smoothed RTT. */
  srttMs: number
  /** RTT variation. */
  rttvarMs: number
  /** Retransmission timeout: SRTT + max(G, 4 x RTTVAR). */
  rtoMs: number
}

/** Clock granularity G of RFC 6298, in milliseconds: the scheduler's clock ticks in ms. */
export const CLOCK_GRANULARITY_MS = 1

/**
 * Folds one RTT sample into the estimate (RFC 6298, section 2):
 * first sample: SRTT = R, RTTVAR = R/2; then RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|
 * (with the old SRTT), SRTT = 7/8 SRTT + 1/8 R; RTO = SRTT + max(G, 4 RTTVAR).
 *
 * @example
 * const first = nextRttEstimate(undefined, 100) // { srttMs: 100, rttvarMs: 50, rtoMs: 300 }
 * nextRttEstimate(first, 200)                   // { srttMs: 112.5, rttvarMs: 62.5, rtoMs: 362.5 }
 */
export function nextRttEstimate(previous: RttEstimate | undefined, sampleMs: number): RttEstimate {
  const r = Math.max(0, sampleMs)
  const rttvarMs = previous === undefined ? r / 2 : 0.75 * previous.rttvarMs + 0.25 * Math.abs(previous.srttMs - r)
  const srttMs = previous === undefined ? r : 0.875 * previous.srttMs + 0.125 * r
  return { lastMs: r, srttMs, rttvarMs, rtoMs: srttMs + Math.max(CLOCK_GRANULARITY_MS, 4 * rttvarMs) }
}

/** Bounds of the derived pong timeout. */
export const PONG_TIMEOUT_FLOOR_MS = 3000
export const PONG_TIMEOUT_CEILING_MS = 10000

/**
 * How long to wait for a pong: max(4 x RTO, 3000), at most 10000. Before the first
 * sample there is no RTO: wait the ceiling rather than call a slow first link dead.
 */
export function pongTimeoutMs(estimate: RttEstimate | undefined): number {
  if (estimate === undefined) return PONG_TIMEOUT_CEILING_MS
  return Math.min(PONG_TIMEOUT_CEILING_MS, Math.max(4 * estimate.rtoMs, PONG_TIMEOUT_FLOOR_MS))
}
