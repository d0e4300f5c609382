/**
 * The client's `msg_id`s: a prefix of this client (random, then the time) and a counter, so
 * ids of two clients, or of two runs of one app, do not meet.
 */
export function msgIdSource(random: () => number, now: number): () => string {
  const prefix =
    Math.floor(random() * 36 ** 6)
      .toString(36)
      .padStart(6, '0') + now.toString(36).slice(-4)
  let counter = 0
  return () => `${prefix}-${(++counter).toString(36)}`
}
