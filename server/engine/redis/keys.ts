/**
 * Every Redis key and channel name the engine uses, under one prefix (several deployments may
 * share one Redis). Everything a room's script touches (its state, its members on each process,
 * the dedup records of commands for the room) and the room's channel share the hash tag
 * `{<room id>}`, so on a Redis Cluster a room lives in one slot. The other keys (the process
 * registry, a process's index of rooms, sweep claims, the dedup of commands without a room) are
 * touched by commands of their own, never inside a room's script. There is no store-wide key:
 * each room keeps its own epoch (docs/protocol.md, "Epochs and recovery").
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  /** `<prefix>:<name>`. */
  key(name: string): string {
    return `${this.prefix}:${name}`
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

  /**
   * A command's dedup record (its ack, or a claim while a report is being written): in the
   * room's slot for a command on a room, so the room's script can write it.
   */
  dedup(uid: string, msgId: string, roomId?: string): string {
    return roomId === undefined ? this.key(`ack:${uid.length}:${uid}:${msgId}`) : this.key(`room:{${roomId}}:ack:${uid.length}:${uid}:${msgId}`)
  }

  /** A room's members on one process. */
  members(roomId: string, processId: string): string {
    return this.key(`room:{${roomId}}:members:${processId}`)
  }

  /** A room's keys and channel. */
  room(roomId: string) {
    // One hash tag per room: a room's keys and channel share a slot on a cluster.
    const base = this.key(`room:{${roomId}}`)
    return {
      meta: `${base}:meta`,
      hist: `${base}:hist`,
      online: `${base}:online`,
      users: `${base}:users`,
      names: `${base}:names`,
      mutes: `${base}:mutes`,
      kicks: `${base}:kicks`,
      subs: `${base}:subs`,
      shelf: `${base}:shelf`,
      shelfOrder: `${base}:shelforder`,
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
