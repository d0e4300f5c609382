/**
 * `npm run bench:core`: the two figures a refactor of the client must not move (ingest, and a
 * page's update cost), with their baselines in the same run, printed as ratios. A shorter run
 * than `npm run bench`, for before/after comparisons.
 */
import '../demo/env'
import { ingest } from './others'
import { handWritten, ours } from './pageCost'

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 10)
  const ing = await ingest(seconds)
  console.log(`ingest: ${fmt(ing.frames)} frames; ours ${fmt(ing.oursPerSecond)} frames/s, JSON.parse ${fmt(ing.jsonParsePerSecond)} frames/s, ratio ${ing.ratio.toFixed(3)} (median of 7 rounds)`)
  const base = await handWritten(5, 1000)
  const page = await ours(5, 1000)
  console.log(
    `page (5 s at 1,000 comments/s): ours ${fmt(page.calls)} setData calls (most ${page.maxCallsPerSlidingSecond} in a second), ${fmt(page.bytes)} B, ${fmt(page.cpuUsPerEvent, 1)} us CPU/event; ` +
      `hand-written ${fmt(base.calls)} calls, ${fmt(base.bytes)} B, ${fmt(base.cpuUsPerEvent, 1)} us/event; CPU ratio ${(page.cpuUsPerEvent / base.cpuUsPerEvent).toFixed(3)}`,
  )
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  },
)
