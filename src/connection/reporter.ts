import { type SchedulerLike, type Subscription, timer } from 'rxjs'
import { type AckFrame, type ClientCommand, MAX_CACHE_FIELDS_BYTES, MAX_CACHE_FIELDS_KEYS, MAX_REPORT_LOGS, REPORT_WRITE_FACTOR, type ReportCommand, type ReportLog } from '../protocol/frames'
import { utf8ByteLength } from '../protocol/utf8'
import type { Link } from './session'

export interface ReportOptions {
  /** Buffered logs go out at least this often, ms. Default 10000. */
  flushMs: number
  /** ... or as soon as this many are buffered. Default 20. */
  maxLogs: number
  /** Logs buffered at most; past it the oldest are dropped (counted). Default 500. */
  maxBuffered: number
}

export const DEFAULT_REPORTS: ReportOptions = { flushMs: 10000, maxLogs: 20, maxBuffered: 500 }

export interface ReporterHooks {
  scheduler: SchedulerLike
  /** The server's frame limit as last known. */
  maxFrameBytes(): number
  nextMsgId(): string
  /** Hands a report to the outbox (acked, persisted, resent without duplicates). */
  send(command: ReportCommand): Promise<AckFrame>
  /** A log could not be sent (too large, or dropped from a full buffer). */
  onDropped(count: number, reason: string): void
}

/** Bytes of JSON a frame holds around its logs: `{"msg_type":"report","msg_id":"...","logs":[]}`. */
const FRAME_OVERHEAD = 128

/**
 * Analytics logs, sent as `report` commands in batches (every `flushMs`, every `maxLogs`, an
 * important one at once). Fields set once (`setFields`) travel as `cache_fields` in the first
 * report of each connection (the server keeps them per connection) and are merged into every
 * log there; over HTTP every request is a connection of its own, so they go with each report.
 * A batch never exceeds the server's frame limit, nor the write bound the server puts on
 * reports (each log is written with the cached fields merged in).
 */
export class Reporter {
  private buffer: ReportLog[] = []
  private fields: ReportLog | undefined
  private fieldsBytes = 0
  /** The link whose server holds the current fields (their first report went out on it). */
  private fieldsOn: number | undefined
  /**
   * What this link's reports sent and will make the server write, by msg_id (a report prepared
   * again on the same link replaces its first count): the server writes at most
   * REPORT_WRITE_FACTOR times what a connection's reports sent, over the connection's life.
   */
  private ledger: { link: number; byMsgId: Map<string, { sent: number; written: number }>; sent: number; written: number } | undefined
  private flushTimer: Subscription | undefined

  constructor(
    private readonly options: ReportOptions,
    private readonly hooks: ReporterHooks,
  ) {}

  /** Buffers a log; `important` sends it (and what waits with it) now. */
  add(log: ReportLog, important: boolean): void {
    this.buffer.push(log)
    if (this.buffer.length > this.options.maxBuffered) {
      const dropped = this.buffer.splice(0, this.buffer.length - this.options.maxBuffered)
      this.hooks.onDropped(dropped.length, `more than ${this.options.maxBuffered} logs waiting to be sent: the oldest were dropped`)
    }
    if (important || this.buffer.length >= this.options.maxLogs) this.flush()
    else this.flushTimer ??= timer(this.options.flushMs, this.hooks.scheduler).subscribe(() => this.flush())
  }

  /** Fields of every later log, sent once per connection. Throws over the server's bounds. */
  setFields(fields: ReportLog): void {
    const bytes = utf8ByteLength(JSON.stringify(fields))
    const keys = Object.keys(fields).length
    if (bytes > MAX_CACHE_FIELDS_BYTES || keys > MAX_CACHE_FIELDS_KEYS) {
      throw new RangeError(`setReportFields: ${keys} keys, ${bytes} bytes; the server keeps at most ${MAX_CACHE_FIELDS_KEYS} keys, ${MAX_CACHE_FIELDS_BYTES} bytes`)
    }
    this.fields = { ...fields }
    this.fieldsBytes = bytes
    // New fields: every connection needs them again.
    this.fieldsOn = undefined
  }

  get buffered(): number {
    return this.buffer.length
  }

  /** Sends what is buffered now, in as many reports as the bounds need. */
  flush(): void {
    this.flushTimer?.unsubscribe()
    this.flushTimer = undefined
    while (this.buffer.length > 0) {
      const logs = this.takeBatch()
      if (logs.length === 0) continue
      this.hooks.send({ msg_type: 'report', msg_id: this.hooks.nextMsgId(), logs }).catch(() => undefined)
    }
  }

  /**
   * The command as it goes on `link`: with `cache_fields` when this connection has not had them
   * (the outbox calls this at each send, so a resend after a reconnect carries them again).
   */
  prepare(command: ClientCommand, link: Link): ClientCommand {
    if (command.msg_type !== 'report' || this.fields === undefined) return command
    const withFields = (): ClientCommand => ({ ...command, cache_fields: { ...this.fields, ...command.cache_fields } })
    if (link.stateless) return withFields()
    if (this.ledger?.link !== link.id) this.ledger = { link: link.id, byMsgId: new Map(), sent: 0, written: 0 }
    const ledger = this.ledger
    const earlier = ledger.byMsgId.get(command.msg_id)
    if (earlier !== undefined) {
      ledger.sent -= earlier.sent
      ledger.written -= earlier.written
    }
    // An upper bound of what the server writes: each log with the cached fields merged in.
    const written = command.logs.reduce((sum, log) => sum + utf8ByteLength(JSON.stringify(log)) + 1 + this.fieldsBytes, 0)
    let wire: ClientCommand = command
    // The fields go again when this connection's server lacks them, or when what its reports
    // sent so far would not pay for this one's writing (a lone small log after many).
    if (this.fieldsOn !== link.id || ledger.written + written > REPORT_WRITE_FACTOR * (ledger.sent + utf8ByteLength(JSON.stringify(command)))) {
      this.fieldsOn = link.id
      wire = withFields()
    }
    const sent = utf8ByteLength(JSON.stringify(wire))
    ledger.byMsgId.set(command.msg_id, { sent, written })
    // Only a recent report is prepared again (its send was not taken): older entries go.
    if (ledger.byMsgId.size > 64) ledger.byMsgId.delete(ledger.byMsgId.keys().next().value as string)
    ledger.sent += sent
    ledger.written += written
    return wire
  }

  stop(): void {
    this.flushTimer?.unsubscribe()
    this.flushTimer = undefined
  }

  /** The oldest logs that fit one report; a log that cannot fit any report is dropped. */
  private takeBatch(): ReportLog[] {
    // Room for the cached fields, which any report may carry.
    const limit = this.hooks.maxFrameBytes() - FRAME_OVERHEAD - this.fieldsBytes
    const perLogWrite = this.fields === undefined ? 0 : this.fieldsBytes
    const logs: ReportLog[] = []
    let frame = FRAME_OVERHEAD
    let written = 0
    while (this.buffer.length > 0 && logs.length < MAX_REPORT_LOGS) {
      const log = this.buffer[0]
      const bytes = utf8ByteLength(JSON.stringify(log)) + 1
      if (bytes > limit) {
        this.buffer.shift()
        this.hooks.onDropped(1, `a log of ${bytes} bytes cannot fit a report under the server's frame limit of ${this.hooks.maxFrameBytes()} bytes`)
        continue
      }
      // The server writes each log with the cached fields merged in, at most 8x the frame's bytes.
      const nextWritten = written + bytes + perLogWrite
      if (logs.length > 0 && (frame + bytes > limit || nextWritten > REPORT_WRITE_FACTOR * (frame + bytes))) break
      this.buffer.shift()
      logs.push(log)
      frame += bytes
      written = nextWritten
    }
    return logs
  }
}
