import type { RedisCommands } from './clients'
import type { RedisKeys } from './keys'

/** The lease script's call: renews this process, answers whether it had to be added again and who is dead. */
type LeaseCall = (numKeys: number, processes: string, processId: string, leaseMs: number) => Promise<[number, ...string[]]>

/** What the lease does with what it learns (the engine's part). */
export interface LeaseHost {
  cmd: RedisCommands & { liveLease: LeaseCall }
  names: RedisKeys
  processId: string
  leaseMs: number
  now(): number
  /** The engine is usable (not closed, its command connection ready). */
  usable(): boolean
  /** This process was taken for dead while alive (a long pause): put its members back. */
  restoreMembers(): Promise<void>
  /** Takes a dead process's members out of one room it had: how many left. */
  sweepRoom(roomId: string, deadId: string): Promise<number>
  swept(count: number): void
  log(line: string): void
  /** After each renewal: the periodic work of a live process (like windows, lost messages, rooms' epochs). */
  afterRenewal(): Promise<void>
}

/**
 * This process's lease in the process registry: renewed every third of `leaseMs`; a process
 * that stops renewing is taken for dead by the others, who take its members out of their rooms.
 */
export class ProcessLease {
  /** When this process last renewed its lease (its own clock). */
  private renewedAt = -Infinity
  /** Since when this process has renewed without a gap: it may take others for dead only after a lease of that. */
  private renewingSince = Infinity
  private renewing = false
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly host: LeaseHost) {}

  /** Renewed within the last `leaseMs`. */
  get fresh(): boolean {
    return this.host.now() - this.renewedAt <= this.host.leaseMs
  }

  start(): void {
    this.timer = setInterval(() => void this.renew().catch(() => undefined), Math.max(50, Math.floor(this.host.leaseMs / 3)))
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
  }

  /** Gives up the lease: this process leaves the registry. */
  async release(): Promise<void> {
    await this.host.cmd.zrem(this.host.names.processes, this.host.processId)
    await this.host.cmd.del(this.host.names.processRooms(this.host.processId))
  }

  async renew(): Promise<void> {
    if (!this.host.usable() || this.renewing) return
    this.renewing = true
    try {
      await this.renewNow()
    } catch (error) {
      this.renewingSince = Infinity
      throw error
    } finally {
      this.renewing = false
    }
  }

  private async renewNow(): Promise<void> {
    const { host } = this
    const [added, ...dead] = await host.cmd.liveLease(1, host.names.processes, host.processId, host.leaseMs)
    const now = host.now()
    // A gap in our own renewals means Redis (or this process) stalled: the others could not
    // renew either. Take nobody for dead until we have renewed for a whole lease without a gap.
    if (now - this.renewedAt > host.leaseMs / 2) this.renewingSince = now
    this.renewedAt = now
    if (added === 1) await host.restoreMembers()
    if (now - this.renewingSince >= host.leaseMs) for (const id of dead) await this.sweep(id)
    await host.afterRenewal()
  }

  /**
   * Takes a dead process's members out of every room it had, once, whoever gets there first. Its
   * index of rooms is read by a command of its own (not a room's key), then each room's script runs.
   */
  private async sweep(deadId: string): Promise<void> {
    const { host } = this
    const claimed = await host.cmd.set(host.names.sweepClaim(deadId), host.processId, 'PX', host.leaseMs, 'NX')
    if (claimed === null) return
    const roomsKey = host.names.processRooms(deadId)
    const rooms = await host.cmd.smembers(roomsKey)
    let removed = 0
    for (const roomId of rooms) removed += await host.sweepRoom(roomId, deadId)
    await host.cmd.del(roomsKey)
    await host.cmd.zrem(host.names.processes, deadId)
    if (removed > 0) host.swept(removed)
    host.log(`redis: process ${deadId} stopped renewing its lease; ${removed} of its connections left ${rooms.length} rooms`)
  }
}
