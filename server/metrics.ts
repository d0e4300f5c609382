import { Counter, Gauge, Registry } from 'prom-client'

type CounterChild = ReturnType<Counter<'type'>['labels']>

/** The server's Prometheus metrics, on a registry of its own (several servers may share a process). */
export class ServerMetrics {
  readonly registry = new Registry()
  readonly connections = new Gauge({ name: 'live_connections', help: 'Open WebSocket connections', registers: [this.registry] })
  readonly rooms = new Gauge({ name: 'live_rooms', help: 'Rooms with state in this process', registers: [this.registry] })
  readonly framesIn = new Counter({
    name: 'live_frames_in_total',
    help: 'Frames received, by msg_type (invalid for frames that did not parse)',
    labelNames: ['type'],
    registers: [this.registry],
  })
  /** Frames written since the last scrape, by type: a plain number per write (see `frameOut`). */
  private readonly framesOutPending = new Map<string, number>()
  readonly framesOut: Counter<'type'> = new Counter({
    name: 'live_frames_out_total',
    help: 'Frames sent, by msg_type',
    labelNames: ['type'],
    registers: [this.registry],
    collect: () => this.flushFramesOut(),
  })
  readonly acks = new Counter({ name: 'live_acks_total', help: 'Acks sent, by code (0 = ok)', labelNames: ['code'], registers: [this.registry] })
  readonly closes = new Counter({ name: 'live_closes_total', help: 'Connections closed, by close code', labelNames: ['code'], registers: [this.registry] })
  readonly contentChecks = new Counter({
    name: 'live_content_checks_total',
    help: 'Comments through the content check, by verdict: allow, mask, refuse, and timeout or error (the fail-open or fail-closed default applied)',
    labelNames: ['verdict'],
    registers: [this.registry],
  })
  readonly roomsRefused = new Counter({
    name: 'live_rooms_refused_total',
    help: 'Joins that would have opened a room, refused: user_rate (4029), server_full (4500)',
    labelNames: ['reason'],
    registers: [this.registry],
  })
  readonly httpRefused = new Counter({
    name: 'live_http_refused_total',
    help: 'HTTP fallback requests refused or cut before an answer, by reason (address_in_flight, user_in_flight, client_aborted, too_slow)',
    labelNames: ['reason'],
    registers: [this.registry],
  })
  readonly upgradesRefused = new Counter({
    name: 'live_upgrades_refused_total',
    help: 'WebSocket upgrades refused before a connection existed, by reason (address_limit)',
    labelNames: ['reason'],
    registers: [this.registry],
  })
  readonly closesCutOff = new Counter({
    name: 'live_closes_cut_off_total',
    help: 'Closes the server started (counted in live_closes_total by the code sent) whose handshake the peer did not finish in time: the socket was cut, so the peer saw 1006',
    labelNames: ['code'],
    registers: [this.registry],
  })
  readonly slowReaders = new Counter({
    name: 'live_slow_readers_dropped_total',
    help: 'Connections closed with 1013 because too much waited to be sent to them',
    registers: [this.registry],
  })
  private readonly framesOutByType = new Map<string, CounterChild>()
  private readonly fanoutFramed = new Counter({
    name: 'live_fanout_frames_built_total',
    help: 'Room frames framed once for all their viewers (an event, or a tick of a batch)',
    registers: [this.registry],
  })
  private readonly fanoutDeflated = new Counter({
    name: 'live_fanout_frames_compressed_total',
    help: 'Room frames compressed once for all their viewers that negotiated permessage-deflate',
    registers: [this.registry],
  })
  /** Frames built and compressed by the rooms' fan-outs (once per event or tick, not per viewer). */
  readonly fanout = {
    framed: (): void => this.fanoutFramed.inc(),
    deflated: (): void => this.fanoutDeflated.inc(),
  }

  /**
   * Counts a sent frame. This runs once per recipient of every broadcast (a million times a
   * second in a busy room): it adds to a plain number, and the counter takes the sums when it
   * is read (a scrape, a test), instead of hashing its labels on every write.
   */
  frameOut(type: string): void {
    this.framesOutPending.set(type, (this.framesOutPending.get(type) ?? 0) + 1)
  }

  private flushFramesOut(): void {
    for (const [type, count] of this.framesOutPending) {
      let child = this.framesOutByType.get(type)
      if (child === undefined) {
        child = this.framesOut.labels(type)
        this.framesOutByType.set(type, child)
      }
      child.inc(count)
    }
    this.framesOutPending.clear()
  }

  readonly reportBytes = new Counter({
    name: 'live_report_bytes_total',
    help: 'Bytes of report frames received (in) and of log lines written (written): their ratio is the write amplification',
    labelNames: ['direction'],
    registers: [this.registry],
  })
  readonly historyBytes = new Counter({
    name: 'live_history_bytes_total',
    help: "Bytes of room history sent again to users (snapshots, recovered events, events a poll read twice): paid from each user's historyBytes budget",
    registers: [this.registry],
  })
  readonly historyRefused = new Counter({
    name: 'live_history_refused_total',
    help: "Joins (4029) and polls (429) refused because the user's historyBytes budget was spent",
    registers: [this.registry],
  })
  readonly reportsRefused = new Counter({
    name: 'live_reports_refused_total',
    help: 'Reports refused: amplification (they would write more than REPORT_WRITE_FACTOR x what the connection sent, 4013) or user_budget (the user wrote its report bytes for now, 4029)',
    labelNames: ['reason'],
    registers: [this.registry],
  })
  readonly engineHealthy = new Gauge({ name: 'live_engine_healthy', help: '1 when the room engine can serve', registers: [this.registry] })
  readonly engineErrors = new Counter({
    name: 'live_engine_store_errors_total',
    help: 'Calls from the room engine to its backing store (Redis) that failed',
    registers: [this.registry],
  })
  readonly engineGapFills = new Counter({
    name: 'live_engine_gap_fills_total',
    help: 'Live events read back from history because the fan-out channel skipped them',
    registers: [this.registry],
  })
  readonly engineSwept = new Counter({
    name: 'live_engine_swept_connections_total',
    help: 'Connections of dead server processes taken out of their rooms',
    registers: [this.registry],
  })
}
