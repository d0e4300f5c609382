import type { Subject } from 'rxjs'
import type { SchedulerLike } from 'rxjs'
import type { ClientCommand, RoomCommand } from '../protocol/frames'
import type { Platform } from '../platform/types'
import type { LiveClientError, LiveClientOptions, LiveClientStats } from './api'
import type { ConnectionLog } from './connectionLog'
import { CommandTooLargeError } from './errors'
import { type CommandResult, DEFAULT_OUTBOX, Outbox } from './outbox'
import { DEFAULT_REPORTS, Reporter } from './reporter'
import type { RoomRegistry } from './rooms'
import type { Link } from './session'

/** What the command path reports to, and reads from, its client. */
export interface CommandPathDeps {
  options: Pick<LiveClientOptions, 'outbox' | 'reports'>
  scheduler: SchedulerLike
  platform: Platform
  ackTimeoutMs: number
  rooms: RoomRegistry
  stats: LiveClientStats
  errors$: Subject<LiveClientError>
  results$: Subject<CommandResult>
  restored$: Subject<ClientCommand>
  connectionLog: ConnectionLog
  nextMsgId(): string
  /** The current link, if any. */
  link(): Link | undefined
  /** Commands waiting for an ack: `pending` of them (they hold the connection). */
  onPending(pending: number): void
}

/**
 * The client's command path: the acknowledged outbox, and the reporter whose analytics logs
 * go out through it. They call each other: reports go out as commands, and each command
 * leaving the outbox carries the report fields.
 */
export function createCommandPath(deps: CommandPathDeps): { outbox: Outbox; reporter: Reporter } {
  const { stats, errors$, scheduler } = deps
  const reporter: Reporter = new Reporter(
    { ...DEFAULT_REPORTS, ...deps.options.reports },
    {
      scheduler,
      maxFrameBytes: (): number => deps.link()?.maxFrameBytes ?? outbox.maxFrameBytes,
      nextMsgId: deps.nextMsgId,
      send: (command) => outbox.enqueue(command),
      onDropped: (dropped, reason) => {
        stats.reportsDropped += dropped
        errors$.next({ kind: 'report', dropped, reason })
      },
    },
  )
  const outbox: Outbox = new Outbox(
    { ...DEFAULT_OUTBOX, ...deps.options.outbox },
    {
      scheduler,
      platform: deps.platform,
      ackTimeoutMs: deps.ackTimeoutMs,
      canSend: (command, l) => !('room_id' in command) || deps.rooms.isJoined((command as RoomCommand).room_id, l),
      onAckTimeout: () => stats.acksTimedOut++,
      onResult: (result) => {
        if (result.error instanceof CommandTooLargeError) stats.commandsTooLarge++
        deps.results$.next(result)
      },
      onPendingChange: (pending) => deps.onPending(pending),
      onRestored: (commands) => {
        for (const command of commands) deps.restored$.next(command)
      },
      prepare: (command, l): ClientCommand => reporter.prepare(command, l),
      onStorageError: (error) => {
        stats.storageErrors++
        errors$.next({ kind: 'storage', reason: error instanceof Error ? error.message : String(error) })
      },
    },
  )
  stats.outboxExpired = outbox.expired
  if (deps.options.reports?.connectionEvents === true) {
    deps.connectionLog.events$.subscribe((event) => {
      // RTT samples are many: the summary carries them.
      if (event.type !== 'rtt') reporter.add({ kind: 'live_connection', ...event }, false)
    })
  }
  return { outbox, reporter }
}
