import { type SchedulerLike, type Subscription, timer } from 'rxjs'
import type { AckFrame, ClientCommand } from '../protocol/frames'
import type { Platform } from '../platform/types'
import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/parse'
import { utf8ByteLength } from '../protocol/utf8'
import { AckTimeoutError, ClientClosedError, CommandRejectedError, CommandTooLargeError, OutboxFullError } from './errors'
import type { Link } from './session'

export interface OutboxOptions {
  /** Most commands waiting for an ack at once. Default 500. */
  max: number
  /**
   * Where the outbox is persisted: a key of the app's choosing (a scope: one per account or
   * role), or false for memory only. Default: one key per server and user,
   * `live-outbox:<host>:<uid>`. The user is read from the token when it names one (the
   * project's tokens, a JWT's `sub`; not verified: the server still decides), at once for a
   * token given as a string, at the first connection attempt for a token function; an opaque
   * token's user is known once the server has authenticated it, and commands sent before that
   * are kept in memory until then. So two clients of different users in one app never touch
   * each other's commands, and after a restart each resends only its own.
   */
  storageKey?: string | false
  /**
   * Persisted commands older than this are not resent after an app restart: the server
   * only promises to remember `msg_id`s for 10 minutes, so an older resend could apply twice.
   */
  maxAgeMs: number
}

export const DEFAULT_OUTBOX: OutboxOptions = { max: 500, maxAgeMs: 10 * 60 * 1000 }

/** The default storage key of a user's outbox on a server. */
export function outboxKeyFor(url: string, uid: string): string {
  const host = /^wss?:\/\/([^/?#]+)/.exec(url)?.[1] ?? url
  return `live-outbox:${host}:${uid}`
}

/** Ack timeouts one command may meet (each followed by a resend) before its promise is rejected. */
export const MAX_ACK_TIMEOUTS = 3

interface Entry {
  command: ClientCommand
  createdAt: number
  /** Link the command was last sent on; resent when the current link differs. */
  sentOn: number | undefined
  timeouts: number
  timer: Subscription | undefined
  resolve?: (ack: AckFrame) => void
  reject?: (error: Error) => void
}

interface PersistedEntry {
  command: ClientCommand
  createdAt: number
}

/** How one command ended: its ack (ok or not), or the error that ended the wait. */
export interface CommandResult {
  msgId: string
  ack?: AckFrame
  error?: Error
}

export interface OutboxHooks {
  scheduler: SchedulerLike
  platform: Platform
  ackTimeoutMs: number
  /** A room command may only go once its room is joined on this link. */
  canSend(command: ClientCommand, link: Link): boolean
  onAckTimeout(): void
  onStorageError(error: unknown): void
  /** Every settled command, synchronously, before its promise settles. */
  onResult(result: CommandResult): void
  /** The number of waiting commands changed (they hold the connection while there are any). */
  onPendingChange(pending: number): void
  /** Commands of this identity restored from storage after the outbox was bound to it. */
  onRestored(commands: ClientCommand[]): void
  /** The command as it goes on `link` (a report gains the connection's `cache_fields`). */
  prepare?(command: ClientCommand, link: Link): ClientCommand
}

/**
 * Commands waiting for their ack, in the order they were sent. Survives reconnects
 * (unacked commands are resent with the same `msg_id`; the server dedups) and app
 * restarts (persisted in storage). Bounded: over the bound a command is refused, never
 * silently dropped.
 */
export class Outbox {
  private entries: Entry[] = []
  private link: Link | undefined
  /** The storage key in use: the app's, or the identity's once known. */
  private key: string | false | undefined
  /** The command sent last: the one a 1009 close is about. */
  private lastSent: { entry: Entry; link: Link } | undefined
  /** The last server's frame limit (before any server spoke, the protocol's default). */
  maxFrameBytes = DEFAULT_MAX_FRAME_BYTES
  /** Commands restored from storage that were too old to resend. */
  expired = 0

  constructor(
    private readonly options: OutboxOptions,
    private readonly hooks: OutboxHooks,
  ) {
    this.key = options.storageKey
    if (this.key !== undefined) this.restore()
  }

  /**
   * The user is known (from the token, or the server authenticated them; default keys only):
   * commands queued before now are persisted under `key`, and what an earlier run left there is
   * restored and announced.
   */
  bindIdentity(key: string): void {
    if (this.options.storageKey !== undefined || this.key === key) return
    const before = this.key
    this.key = key
    const restored = this.restore()
    this.persist()
    // Moved, not copied: bound early from the token, then told another key by the server (another
    // host of a URL list), the commands live under the new key only, or a restart would resend them twice.
    if (typeof before === 'string') {
      try {
        this.hooks.platform.removeStorageSync(before)
      } catch (error) {
        this.hooks.onStorageError(error)
      }
    }
    if (restored.length > 0) {
      this.hooks.onRestored(restored)
      this.hooks.onPendingChange(this.entries.length)
    }
  }

  /** The storage key in use (undefined: the user is not known yet; false: memory only). */
  get storageKey(): string | false | undefined {
    return this.key
  }

  /** The commands waiting for an ack, oldest first. */
  commands(): ClientCommand[] {
    return this.entries.map((e) => e.command)
  }

  get size(): number {
    return this.entries.length
  }

  /** Msg ids waiting for an ack, oldest first. */
  pendingIds(): string[] {
    return this.entries.map((e) => e.command.msg_id)
  }

  enqueue(command: ClientCommand): Promise<AckFrame> {
    if (this.entries.length >= this.options.max) return Promise.reject(new OutboxFullError(this.options.max))
    const bytes = frameBytes(command)
    if (bytes > this.maxFrameBytes) {
      const error = new CommandTooLargeError(command.msg_id, bytes, this.maxFrameBytes)
      this.hooks.onResult({ msgId: command.msg_id, error })
      return Promise.reject(error)
    }
    return new Promise<AckFrame>((resolve, reject) => {
      this.entries.push({
        command,
        createdAt: this.hooks.platform.now(),
        sentOn: undefined,
        timeouts: 0,
        timer: undefined,
        resolve,
        reject,
      })
      this.persist()
      this.hooks.onPendingChange(this.entries.length)
      this.pump()
    })
  }

  /** A link is open (or gone, with `undefined`): commands not sent on it go out in order. */
  setLink(link: Link | undefined): void {
    this.link = link
    if (link !== undefined) this.maxFrameBytes = link.maxFrameBytes
    if (link === undefined) for (const entry of this.entries) this.stopTimer(entry)
    this.pump()
  }

  /** Sends, in order, every command that has not gone out on the current link and may go now. */
  pump(): void {
    const link = this.link
    if (link === undefined) return
    for (const entry of this.entries.slice()) {
      if (entry.sentOn === link.id) continue
      if (!this.hooks.canSend(entry.command, link)) {
        // Waiting for its room on an open link counts against its deadline, as a sent command's
        // wait for the ack does: a command for a room nobody joins settles (AckTimeoutError).
        if (entry.timer === undefined && !link.plain) this.startTimer(entry, link)
        continue
      }
      // This server takes less than the one the command was queued for (or than the default
      // it was restored under): drop it, or the 1009 close and the resend after it repeat forever.
      const wire = this.hooks.prepare?.(entry.command, link) ?? entry.command
      const bytes = frameBytes(wire)
      if (bytes > link.maxFrameBytes) {
        this.remove(entry)
        this.rejectWith(entry, new CommandTooLargeError(entry.command.msg_id, bytes, link.maxFrameBytes))
        continue
      }
      entry.sentOn = link.id
      this.lastSent = { entry, link }
      // The deadline starts before the send: a peer may ack within it.
      if (!link.plain) this.startTimer(entry, link)
      link.send(wire, (accepted) => {
        if (!accepted) {
          if (entry.sentOn === link.id) entry.sentOn = undefined
          return
        }
        // A plain-protocol peer never acks: the socket taking the frame is delivery.
        if (link.plain) this.settle(entry, { msg_type: 'ack', msg_id: entry.command.msg_id, ok: true })
      })
    }
  }

  /** Settles the command an ack answers. Returns false when no command waits for it. */
  handleAck(ack: AckFrame): boolean {
    const entry = this.entries.find((e) => e.command.msg_id === ack.msg_id)
    if (entry === undefined) return false
    this.settle(entry, ack)
    return true
  }

  /**
   * The server closed with 1009 (a frame over its limit): the command sent last caused it.
   * It is dropped and rejected, not resent, or every reconnect would end the same way.
   */
  dropLastSent(): void {
    const last = this.lastSent
    this.lastSent = undefined
    if (last === undefined || !this.entries.includes(last.entry)) return
    this.remove(last.entry)
    this.rejectWith(last.entry, new CommandTooLargeError(last.entry.command.msg_id, frameBytes(last.entry.command), last.link.maxFrameBytes))
  }

  /** The client failed: every waiting command is rejected with `error()` and dropped. */
  fail(error: () => Error): void {
    const entries = this.entries
    this.entries = []
    this.persist()
    for (const entry of entries) {
      this.stopTimer(entry)
      this.rejectWith(entry, error())
    }
    if (entries.length > 0) this.hooks.onPendingChange(0)
  }

  /** Rejects every waiting promise; the commands stay persisted for the next start. */
  close(): void {
    for (const entry of this.entries) {
      this.stopTimer(entry)
      this.rejectWith(entry, new ClientClosedError(entry.command.msg_id))
    }
    this.link = undefined
  }

  /** Ends a command's wait with `error`: reported on `onResult`, its promise rejected, once. */
  private rejectWith(entry: Entry, error: Error): void {
    this.hooks.onResult({ msgId: entry.command.msg_id, error })
    entry.reject?.(error)
    entry.resolve = undefined
    entry.reject = undefined
  }

  private remove(entry: Entry): void {
    const index = this.entries.indexOf(entry)
    if (index === -1) return
    this.entries.splice(index, 1)
    this.stopTimer(entry)
    if (this.lastSent?.entry === entry) this.lastSent = undefined
    this.persist()
    this.hooks.onPendingChange(this.entries.length)
  }

  private settle(entry: Entry, ack: AckFrame): void {
    if (!this.entries.includes(entry)) return
    this.remove(entry)
    this.hooks.onResult({ msgId: ack.msg_id, ack })
    if (ack.ok) entry.resolve?.(ack)
    else entry.reject?.(new CommandRejectedError(ack.msg_id, ack.code ?? 0, ack.reason ?? '', ack))
  }

  private startTimer(entry: Entry, link: Link): void {
    this.stopTimer(entry)
    entry.timer = timer(this.hooks.ackTimeoutMs, this.hooks.scheduler).subscribe(() => {
      entry.timer = undefined
      this.hooks.onAckTimeout()
      entry.timeouts++
      if (entry.timeouts >= MAX_ACK_TIMEOUTS) {
        this.remove(entry)
        this.rejectWith(entry, new AckTimeoutError(entry.command.msg_id, entry.timeouts))
        return
      }
      // Same msg_id again: the server dedups if the first one did arrive.
      if (entry.sentOn === link.id) entry.sentOn = undefined
      this.pump()
    })
  }

  private stopTimer(entry: Entry): void {
    entry.timer?.unsubscribe()
    entry.timer = undefined
  }

  private persist(): void {
    const key = this.key
    if (key === false || key === undefined) return
    try {
      if (this.entries.length === 0) this.hooks.platform.removeStorageSync(key)
      else {
        const persisted: PersistedEntry[] = this.entries.map((e) => ({ command: e.command, createdAt: e.createdAt }))
        this.hooks.platform.setStorageSync(key, persisted)
      }
    } catch (error) {
      // Over WeChat's storage limits: the commands are still held in memory.
      this.hooks.onStorageError(error)
    }
  }

  /** Adds what storage holds under the current key (oldest first, before newer commands). */
  private restore(): ClientCommand[] {
    const key = this.key
    if (key === false || key === undefined) return []
    let stored: unknown
    try {
      stored = this.hooks.platform.getStorageSync(key)
    } catch (error) {
      this.hooks.onStorageError(error)
      return []
    }
    if (!Array.isArray(stored)) return []
    const now = this.hooks.platform.now()
    const known = new Set(this.entries.map((e) => e.command.msg_id))
    const restored: Entry[] = []
    let expired = 0
    for (const item of stored.slice(0, this.options.max)) {
      if (!isPersistedEntry(item) || known.has(item.command.msg_id)) continue
      if (now - item.createdAt > this.options.maxAgeMs) {
        expired++
        continue
      }
      restored.push({ command: item.command, createdAt: item.createdAt, sentOn: undefined, timeouts: 0, timer: undefined })
    }
    this.entries = [...restored, ...this.entries].slice(0, this.options.max)
    this.expired += expired
    if (expired > 0) this.persist()
    return restored.map((e) => e.command)
  }
}

/** What the command costs on the wire, as the server counts it (UTF-8 bytes of the JSON text). */
function frameBytes(command: ClientCommand): number {
  return utf8ByteLength(JSON.stringify(command))
}

function isPersistedEntry(value: unknown): value is PersistedEntry {
  if (typeof value !== 'object' || value === null) return false
  const v = value as { command?: unknown; createdAt?: unknown }
  const command = v.command as { msg_type?: unknown; msg_id?: unknown } | undefined
  return typeof v.createdAt === 'number' && typeof command === 'object' && command !== null && typeof command.msg_type === 'string' && typeof command.msg_id === 'string'
}
