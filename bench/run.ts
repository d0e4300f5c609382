/**
 * `npm run bench [-- --quick]`: our code and its baselines on the same input, in the same
 * run. Prints tables with absolute figures and ratios; writes bench/results/latest.json
 * and bench/results/setdata-bytes.svg (a `--quick` run writes them to the system's temp
 * directory instead, leaving the committed full-run results alone). Benchmarks print; they assert nothing.
 */
import '../demo/env'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { fanoutBareWs, fanoutReference, formatFanout, type FanoutResult } from './fanout'
import { handWritten, heapOverComments, ours, plainBindings, type PageCostResult } from './pageCost'
import { fanoutSocketIo, ingest, reconnectStorm, wireBytes } from './others'
import { commandsPerEventByViewers, formatScale, redisCostAlone, scaleOut } from './scale'
import { blockedWordsCost, formatBlockedWords } from './moderation'
import { FANOUT_MODES, FANOUT_RATES, fanoutRow, type FanoutRow, formatFanoutRows, REFERENCE_RATE } from './fanoutRates'

const quick = process.argv.includes('--quick')
const size = quick ? { pageSeconds: 3, ingestSeconds: 10, viewers: 300, events: 100, storm: 300 } : { pageSeconds: 10, ingestSeconds: 60, viewers: 1000, events: 200, storm: 1000 }
const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

function chart(results: PageCostResult[]): string {
  const width = 640
  const height = 320
  const pad = 50
  const seconds = results[0].bytesPerSecond.length
  const max = Math.max(...results.flatMap((r) => r.bytesPerSecond), 1)
  const colors = ['#d0245a', '#f0a020', '#2a7de1']
  const x = (i: number): number => pad + (i / Math.max(1, seconds - 1)) * (width - 2 * pad)
  // Log scale: the three versions differ by orders of magnitude.
  const y = (v: number): number => height - pad - (Math.log10(Math.max(v, 1)) / Math.log10(max)) * (height - 2 * pad)
  const lines = results.map(
    (r, k) =>
      `<polyline fill="none" stroke="${colors[k]}" stroke-width="2" points="${r.bytesPerSecond.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>` +
      `<text x="${pad + 10}" y="${20 + 16 * k}" fill="${colors[k]}" font-size="12">${r.name}</text>`,
  )
  const ticks = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7].filter((v) => v <= max).map((v) => `<text x="4" y="${y(v) + 4}" font-size="10">${v >= 1e6 ? `${v / 1e6}M` : v >= 1e3 ? `${v / 1e3}K` : v}</text>`)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="${width / 2}" y="${height - 10}" font-size="12" text-anchor="middle">second of the run (1,000 comments/s); setData bytes per second, log scale</text>${ticks.join('')}${lines.join('')}</svg>\n`
}

async function main(): Promise<void> {
  const started = Date.now()
  console.log(`# miniprogram-live-store benchmarks${quick ? ' (--quick)' : ''}: ${new Date().toISOString()}, Node ${process.version}\n`)

  // Ingest first, in a fresh process: the page section leaves tens of MB of jsdom and pages in
  // the heap, and every collection of the ingest rounds would pay for them.
  const ing = await ingest(size.ingestSeconds)
  const page: PageCostResult[] = [await handWritten(size.pageSeconds, 1000), await plainBindings(size.pageSeconds, 1000), await ours(size.pageSeconds, 1000)]
  const base = page[0]
  console.log(`## 1. Page update cost: ${fmt(base.events)} events in ${size.pageSeconds} s (1,000 comments/s + joins, likes, shelf)\n`)
  console.log('| version | setData calls | most in any sliding second | total bytes | largest call | CPU us/event | p99 event-to-setData ms | bytes vs (a) |')
  console.log('|---|---|---|---|---|---|---|---|')
  for (const r of page)
    console.log(
      `| ${r.name} | ${fmt(r.calls)} | ${r.maxCallsPerSlidingSecond} | ${fmt(r.bytes)} | ${fmt(r.largest)} | ${fmt(r.cpuUsPerEvent, 1)} | ${r.p99LatencyMs} | ${(r.bytes / base.bytes).toFixed(4)} |`,
    )
  const heap = await heapOverComments(quick ? 100_000 : 1_000_000)
  console.log(
    `\nHeap over ${fmt(heap.comments)} comments through the room page (200-comment cap, forced GC): ${fmt(heap.baselineBytes / 2 ** 20, 1)} MiB after the first 10%, ` +
      `${fmt(heap.endBytes / 2 ** 20, 1)} MiB at the end: growth ${fmt(heap.growthBytes / 2 ** 20, 2)} MiB (target: at most 5 MiB)`,
  )

  console.log(`\n## 2. Ingest: ${fmt(ing.frames)} frames, 7 rounds each, alternating, each from a collected heap; the ratio is the median of the rounds' ratios\n`)
  console.log('| path | frames/s | ratio to JSON.parse |\n|---|---|---|')
  console.log(`| parse + validate + reduce into stores | ${fmt(ing.oursPerSecond)} | ${ing.ratio.toFixed(3)} (target: at least 0.5) |`)
  console.log(`| bare JSON.parse loop | ${fmt(ing.jsonParsePerSecond)} | 1.000 |`)

  const fan: FanoutResult[] = [await fanoutReference(size.viewers, size.events), await fanoutSocketIo(size.viewers, size.events), await fanoutBareWs(size.viewers, size.events)]
  console.log(`\n## 3. Server fan-out: 1 room, ${size.viewers} viewers on 127.0.0.1, ${size.events} events (clients in the same process)\n`)
  console.log(formatFanout(fan))

  // Five times the events: two processes and Redis need a longer run for a steady figure.
  const scale = await scaleOut(size.viewers, size.events * 5)
  console.log(`\n## 3b. Scaling out: 1 room, ${size.viewers} viewers, ${size.events * 5} events; servers are processes of their own (the CLI)\n`)
  console.log(formatScale(scale))
  console.log('\n(The viewers are ws clients in the bench process; on a 2-core machine the servers, Redis and the viewers share the same two cores.)')
  const perViewers = await commandsPerEventByViewers([Math.max(10, Math.floor(size.viewers / 10)), size.viewers], size.events)
  console.log("\nRedis commands per event (masters), by viewers: the store's cost of an event does not grow with the room.\n")
  console.log('| viewers | Redis Cluster (3 masters) | one Redis |\n|---|---|---|')
  for (const row of perViewers) console.log(`| ${row.viewers} | ${row.cluster.toFixed(2)} | ${row.single.toFixed(2)} |`)
  const cost = await redisCostAlone(quick ? 5000 : 20000)
  console.log("\nThe store's cost of one comment, the engine alone (no sockets, 50 in flight): what the capacity table in README.md is reckoned from.\n")
  console.log('| store | commands per comment (masters) | master CPU us per comment | comments/s from one process |\n|---|---|---|---|')
  for (const row of cost) console.log(`| ${row.name} | ${row.commandsPerEvent.toFixed(2)} | ${row.cpuUsPerEvent.toFixed(1)} | ${Math.round(row.eventsPerSecond).toLocaleString('en-US')} |`)

  // The issue-13 table: the server a process of its own, events generated in it at fixed rates.
  const rates: FanoutRow[] = []
  for (const mode of FANOUT_MODES) rates.push(await fanoutRow(mode, size.viewers, FANOUT_RATES, quick ? 2 : 3, REFERENCE_RATE))
  console.log(`\n## 3c. Fan-out past the per-message limit: 1 room, ${size.viewers} viewers, events generated in the server process (its own) at fixed rates\n`)
  console.log(formatFanoutRows(rates, REFERENCE_RATE))

  const storms = [await reconnectStorm(size.storm, true), await reconnectStorm(size.storm, false)]
  console.log(`\n## 4. Reconnect storm: ${size.storm} clients dropped at once\n`)
  console.log('| backoff | attempts per 100 ms bucket | peak | mean | peak / mean |\n|---|---|---|---|---|')
  for (const s of storms)
    console.log(`| ${s.jitter ? 'full jitter (ours)' : 'no jitter (same delay for all)'} | ${s.buckets.join(' ')} | ${s.peak} | ${s.mean.toFixed(1)} | ${s.peakOverMean.toFixed(2)} |`)

  const wire = await wireBytes(quick ? 5 : 10)
  console.log(`\n## 5. Bytes on the wire, typical mix (${fmt(wire.frames)} frames)\n`)
  console.log('| encoding | bytes | ratio to JSON |\n|---|---|---|')
  console.log(`| JSON | ${fmt(wire.json)} | 1.000 |`)
  console.log(`| JSON + permessage-deflate (context takeover) | ${fmt(wire.deflate)} | ${(wire.deflate / wire.json).toFixed(3)} |`)
  console.log(`| JSON + permessage-deflate (no context takeover) | ${fmt(wire.deflateNoContext)} | ${(wire.deflateNoContext / wire.json).toFixed(3)} |`)

  const blocked = blockedWordsCost([100, 10_000, 100_000], quick ? 1000 : 5000)
  console.log(`\n## 6. The content check: a blocked-words list, one automaton against a loop over the list (same comments, one in ten with a word)\n`)
  console.log(formatBlockedWords(blocked))

  // Only a full run replaces the committed results the README quotes; a quick one writes beside the system's temp files.
  const dir = quick ? path.join(os.tmpdir(), 'live-store-bench') : path.join(__dirname, 'results')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(
    path.join(dir, 'latest.json'),
    JSON.stringify({ quick, at: new Date().toISOString(), node: process.version, page, heap, ingest: ing, fanout: fan, scale, perViewers, cost, fanoutRates: rates, storms, wire, blocked }, null, 2),
  )
  fs.writeFileSync(path.join(dir, 'setdata-bytes.svg'), chart(page))
  console.log(
    `\nwrote ${path.relative(process.cwd(), path.join(dir, 'latest.json'))} and ${path.relative(process.cwd(), path.join(dir, 'setdata-bytes.svg'))} in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  )
  process.exit(0)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
