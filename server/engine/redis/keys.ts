/**
 * Every Redis key and channel name the engine uses, under one prefix (several deployments may
 * share one Redis). A room's keys share the hash tag `{<room id>}`.
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  /** `<prefix>:<name>`. */
  key(name: string): string {
    return `${this.prefix}:${name}`
  }

  /** The store's epoch: gone with Redis's data, which tells clients to take snapshots. */
  get epoch(): string {
    return this.key('epoch')
  }

  /** The process registry: each live process's lease (a sorted set by expiry). */
  get processes(): string {
    return this.key('procs')
  }

  /** The rooms a process has members in (what its sweep walks when it dies). */
  processRooms(processId: string): string {
    return this.key(`proc:${processId}:rooms`)
  }

  /** Who sweeps a dead process: the first to set it. */
  sweepClaim(deadId: string): string {
    return this.key(`sweep:${deadId}`)
  }

  /** A command's dedup record (its ack, or a claim while a report is being written). */
  dedup(uid: string, msgId: string): string {
    return this.key(`ack:${uid.length}:${uid}:${msgId}`)
  }

  /** A room's members on one process. */
  members(roomId: string, processId: string): string {
    return this.key(`room:{${roomId}}:members:${processId}`)
  }

  /** A room's keys and channel. */
  room(roomId: string) {
    // One hash tag per room: a room's keys would share a slot on a cluster.
    const base = this.key(`room:{${roomId}}`)
    return {
      epoch: this.epoch,
      meta: `${base}:meta`,
      hist: `${base}:hist`,
      online: `${base}:online`,
      users: `${base}:users`,
      subs: `${base}:subs`,
      shelf: `${base}:shelf`,
      shelfOrder: `${base}:shelforder`,
      generation: `${base}:gen`,
      msgs: `${base}:msgs`,
      likes: `${base}:likes`,
      likeWindow: `${base}:likewin`,
      noDedup: `${base}:nodedup`,
      channel: `${base}:events`,
    }
  }
}

/** A room's keys and channel (see `RedisKeys.room`). */
export type RoomKeys = ReturnType<RedisKeys['room']>
