/** The most events in any window of `windowMs` (sliding, not whole-second buckets); `times` ascending. */
export function maxInWindow(times: number[], windowMs: number): number {
  let best = 0
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i] - times[j] >= windowMs) j++
    best = Math.max(best, i - j + 1)
  }
  return best
}
